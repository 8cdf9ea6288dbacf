"""The errors gtp-remote raises on purpose.

Every expected failure is one of these: each names what failed (the server, the file, the
field) and says what to do. The CLI prints them as one line; the HTTP API maps them to a
status code in one place. Anything that is *not* a ``GtpError`` is a bug.
"""

from __future__ import annotations


class GtpError(Exception):
    """Base of all expected failures.

    ``code`` is a stable machine-readable name (used in JSON output and HTTP bodies),
    ``kind`` groups codes for fan-out summaries (``failed`` vs ``unreachable``).
    """

    code = "error"
    kind = "failed"
    #: Set by the gateway when it wrote the action's audit event before raising this, so that
    #: a client of it (the agent loop) does not write a second one.
    audited = False

    def __init__(self, message: str, *, server: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.server = server
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.server:
            out["server"] = self.server
        if self.hint:
            out["hint"] = self.hint
        return out


class InventoryError(GtpError):
    """The inventory cannot be loaded: a file, server or field is wrong."""

    code = "invalid_inventory"


class StateInUseError(InventoryError):
    """Another gateway holds the state folder (its jobs and audit log)."""

    code = "state_in_use"


class UnknownServerError(GtpError):
    """A target names no server or group of the inventory."""

    code = "unknown_server"


class HostUnreachableError(GtpError):
    """The host did not answer (refused, no route, DNS, connect timeout)."""

    code = "host_unreachable"
    kind = "unreachable"


class AuthFailedError(GtpError):
    """The SSH server refused our credentials."""

    code = "auth_failed"
    kind = "unreachable"


class HostKeyError(GtpError):
    """The host's key is unknown (strict policy) or does not match the pinned one."""

    code = "host_key_rejected"
    kind = "unreachable"


class ConnectionLostError(GtpError):
    """An established connection dropped while a command or transfer was in flight."""

    code = "connection_lost"


class ChannelError(GtpError):
    """The SSH server refused to open a session or forward (e.g. forwarding disabled)."""

    code = "channel_refused"


class ConfinementUnavailableError(ChannelError):
    """The host lacks what confined file access needs there (python3), and the server's
    settings do not accept the unconfined fallback (``files: sftp``)."""

    code = "confinement_unavailable"


class CommandTimeoutError(GtpError):
    """The command could not even start (connecting, waiting for a channel) within its timeout.

    A command that started and ran too long is not an error: its result has ``timed_out``.
    """

    code = "timeout"


class PathNotAllowedError(GtpError):
    """A file path leaves the server's ``root`` (``../`` or a symlink pointing outside)."""

    code = "path_not_allowed"


class PathChangedError(PathNotAllowedError):
    """What a path resolves to on the host is no longer the path that was checked (a link or a
    folder swapped in since): the executor refuses to use what it opened."""

    code = "path_changed"


class RemoteFileError(GtpError):
    """A file operation failed on the host (missing file, permission, not a directory...)."""

    code = "file_error"


class FileMissingError(RemoteFileError):
    code = "file_not_found"


class FileExistsConflictError(RemoteFileError):
    code = "file_exists"


class FilePermissionError(RemoteFileError):
    code = "permission_denied"


class TunnelError(GtpError):
    """A port forward could not be opened, or the service behind it is not answering."""

    code = "tunnel_failed"


# -- errors of the request itself (HTTP API) ---------------------------------------------------


class InvalidRequestError(GtpError):
    """The request body or parameters do not validate; the message names each field."""

    code = "invalid_request"


class UnauthorizedError(GtpError):
    """No bearer token, or not one we know."""

    code = "unauthorized"


class ForbiddenError(GtpError):
    """The token is valid but lacks the permission (operation or server) the request needs."""

    code = "forbidden"


class BecomeError(GtpError):
    """The host would not run the command as the become user: sudo wants a password, the login
    user may not use it, or it is not installed. The command did not start."""

    code = "become_failed"

    def __init__(self, message: str, *, server: str | None = None, hint: str | None = None, user: str = ""):
        super().__init__(message, server=server, hint=hint)
        self.user = user


class PolicyDeniedError(ForbiddenError):
    """A policy refused the action; ``decision`` says which rule of whose policy."""

    code = "policy_denied"

    def __init__(
        self,
        message: str,
        *,
        server: str | None = None,
        hint: str | None = None,
        decision: dict[str, object] | None = None,
    ):
        super().__init__(message, server=server, hint=hint)
        self.decision = decision

    def to_dict(self) -> dict[str, object]:  # type: ignore[override]
        out: dict[str, object] = dict(super().to_dict())
        if self.decision:
            out["policy"] = {
                k: v for k, v in self.decision.items() if k in ("action", "rule", "layer", "part")
            }
        return out


class ChangedWhileWaitingError(PolicyDeniedError):
    """An approved action is no longer what was approved: judged again before it runs (a link
    swapped in on the host, a path that now leads elsewhere), it gets another verdict."""


class ApprovalRejectedError(ForbiddenError):
    """An action needed approval and was rejected (or nobody could be asked)."""

    code = "rejected"


class SelfApprovalError(ForbiddenError):
    """A token decided on an action it asked for itself: the human in the loop would be the asker."""

    code = "self_approval"


class NotFoundError(GtpError):
    """A job (or route) that does not exist, or that belongs to another token."""

    code = "not_found"


class LocalWriteError(GtpError):
    """The CLI could not write a file on this machine (a fetched copy, an ``exec --tree`` file):
    that host's result is still reported, the others go on."""

    code = "local_write_failed"


class ConflictError(GtpError):
    """The request does not fit the current state (e.g. cancelling a finished job)."""

    code = "conflict"


class FileChangedError(ConflictError):
    """A conditional write found the file changed since it was read (a patch raced a writer)."""

    code = "file_changed"


class UploadOffsetError(ConflictError):
    """A chunk of an upload sent at another offset than the size staged on the host:
    ``expected_offset`` is where the upload resumes."""

    def __init__(
        self, message: str, *, expected_offset: int, server: str | None = None, hint: str | None = None
    ):
        super().__init__(message, server=server, hint=hint)
        self.expected_offset = expected_offset

    def to_dict(self) -> dict[str, object]:  # type: ignore[override]
        return {**super().to_dict(), "expected_offset": self.expected_offset}


class ChecksumMismatchError(ConflictError):
    """What a write put on the host does not have the sha256 the caller sent: nothing replaced."""

    code = "checksum_mismatch"


class ApprovalStaleError(ConflictError):
    """A decision named an action the job no longer waits on; ``pending_action`` is the one it
    waits on now, for the approver to read before deciding on it."""

    code = "approval_stale"

    def __init__(self, message: str, *, pending_action: dict[str, object], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.pending_action = pending_action

    def to_dict(self) -> dict[str, object]:  # type: ignore[override]
        return {**super().to_dict(), "pending_action": self.pending_action}


class PayloadTooLargeError(GtpError):
    code = "payload_too_large"


class RequestTimeoutError(GtpError):
    """The client did not send its request in time."""

    code = "request_timeout"


class RateLimitedError(GtpError):
    """Too many requests for this token; ``retry_after`` says when to come back."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


# -- model servers and specialists (execute-llm) ---------------------------------------------------


class UnknownSpecialistError(GtpError):
    """``provider`` names no specialist, no server with a model, and no provider on the server."""

    code = "unknown_specialist"


class ModelServerError(GtpError):
    """The model server failed or answered something we cannot use."""

    code = "model_server_error"


class ModelUnavailableError(ModelServerError):
    """Nothing answers where the model server should be (directly or through the tunnel)."""

    code = "model_server_unavailable"


class ModelNotFoundError(ModelServerError):
    """The model server runs but does not have the model asked for."""

    code = "model_not_found"


class ModelAuthError(ModelServerError):
    """The model server refused the API key (or none was set)."""

    code = "model_auth_failed"


class ModelTimeoutError(ModelServerError):
    """The model did not answer within the provider's timeout."""

    code = "model_timeout"


class AuditUnavailableError(GtpError):
    """The audit log cannot be written (a full disk, a broken log): actions are refused, since
    none may run unrecorded."""

    code = "audit_unavailable"

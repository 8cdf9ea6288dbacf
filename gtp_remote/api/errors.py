"""The one place where the core's typed errors become HTTP status codes."""

from __future__ import annotations

from gtp_remote import errors as e

#: Most specific first: the first class the error is an instance of decides.
STATUS: list[tuple[type[e.GtpError], int]] = [
    (e.InvalidRequestError, 400),
    (e.UnauthorizedError, 401),
    (e.PolicyDeniedError, 403),
    (e.ApprovalRejectedError, 403),
    (e.SelfApprovalError, 403),
    (e.ForbiddenError, 403),
    (e.BecomeError, 403),  # the host refuses the privilege; the hint says how to grant it
    (e.PathNotAllowedError, 403),
    (e.FilePermissionError, 403),
    (e.UnknownServerError, 404),
    (e.NotFoundError, 404),
    (e.UnknownSpecialistError, 404),
    (e.ModelNotFoundError, 404),
    (e.FileMissingError, 404),
    (e.ApprovalStaleError, 409),
    (e.ConflictError, 409),
    (e.FileExistsConflictError, 409),
    (e.RequestTimeoutError, 408),
    (e.PayloadTooLargeError, 413),
    (e.RateLimitedError, 429),
    (e.HostUnreachableError, 502),
    (e.AuthFailedError, 502),
    (e.HostKeyError, 502),
    (e.ConnectionLostError, 502),
    (e.ChannelError, 502),
    (e.TunnelError, 502),
    (e.ModelTimeoutError, 504),
    (e.ModelServerError, 502),
    (e.CommandTimeoutError, 504),
    (e.RemoteFileError, 400),
    (e.AuditUnavailableError, 503),  # fail closed: nothing runs that cannot be recorded
    (e.InventoryError, 502),  # the gateway's own set-up (ssh config, tokens): not the caller's doing
]


def status_of(error: e.GtpError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 400

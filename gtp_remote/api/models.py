"""Request and response bodies of the HTTP API.

These models both validate requests and generate the OpenAPI document, so the spec ChatGPT
imports can never drift from what the server accepts. Descriptions are written for the model
reading them (ChatGPT decides from them when and how to call), and kept under its limits.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gtp_remote.errors import InvalidRequestError
from gtp_remote.executors.base import FileStat
from gtp_remote.fanout import HostResult, Summary
from gtp_remote.gateway import FileContent, Language, Listing, PatchResult, Uploaded

M = TypeVar("M", bound=BaseModel)
MAX_WAIT = 40.0
SERVER_FIELD = Field(
    None,
    max_length=200,
    description="Server name from GET /server/list. Default: your current server (POST /server/set).",
)
WAIT_FIELD = Field(
    30.0,
    ge=0,
    le=MAX_WAIT,
    description="Seconds to wait for the result before answering 202 with a job_id (GET /jobs/{id} later).",
)


def validate(model: type[M], data: Any, *, hint: str) -> M:
    """``data`` as ``model``, or an InvalidRequestError naming each field that does not validate."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidRequestError(problems, hint=hint) from None


class Request(BaseModel):
    """A request body: unknown fields and values of the wrong JSON type are refused (strict:
    ``true`` or ``"1"`` is not an offset of 1, ``1`` is not a boolean), naming the field."""

    model_config = ConfigDict(extra="forbid", strict=True)


BECOME_FIELD = Field(
    False,
    description="Run as the server's become_user (root unless the inventory says otherwise) via "
    "non-interactive sudo; needs the 'become' permission. The policy judges the command as written.",
)


class ExecuteShell(Request):
    command: str = Field(..., min_length=1, max_length=20000, description="Shell command run on the server.")
    server: str | None = SERVER_FIELD
    target: str | None = Field(
        None,
        max_length=2000,
        description="Several servers at once, an Ansible host pattern: 'all', 'web*', 'group:NAME', "
        "'a,b', 'web:!web3', 'web:&prod', '~regex', 'web[0]'. Unknown names are refused. Replaces server.",
    )
    limit: str | None = Field(
        None,
        max_length=2000,
        description="With target: only its servers this pattern also selects (Ansible's --limit).",
    )
    timeout: float = Field(300, ge=1, le=86400, description="Seconds before the command is killed.")
    cwd: str | None = Field(None, max_length=4096, description="Working directory on the server.")
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)], str] = Field(
        {}, description="Extra environment variables for the command."
    )
    become: bool = BECOME_FIELD
    wait_seconds: float = WAIT_FIELD


class ExecuteCode(Request):
    code: str = Field(..., min_length=1, max_length=90000, description="Source code, run on the server.")
    language: Language = Field(..., description="Interpreter: python (python3), bash, sh or node.")
    server: str | None = SERVER_FIELD
    timeout: float = Field(300, ge=1, le=86400, description="Seconds before the program is killed.")
    become: bool = BECOME_FIELD
    wait_seconds: float = WAIT_FIELD


class FileRead(Request):
    path: str = Field(..., min_length=1, max_length=4096, description="File path on the server.")
    server: str | None = SERVER_FIELD
    offset: int = Field(0, ge=0, le=2**62, description="Byte offset to start reading at.")
    limit: int = Field(60000, ge=1, le=60000, description="Bytes to read at most (60000 max per call).")


class FileWrite(Request):
    path: str = Field(..., min_length=1, max_length=4096, description="File path on the server.")
    content: str = Field(..., max_length=90000, description="Text to write.")
    mode: Literal["create", "overwrite", "append"] = Field(
        "overwrite", description="create fails if the file exists; overwrite replaces it atomically."
    )
    server: str | None = SERVER_FIELD


class FileList(Request):
    path: str = Field(".", min_length=1, max_length=4096, description="Directory on the server.")
    recursive: bool = Field(False, description="Descend into subdirectories (500 entries at most).")
    server: str | None = SERVER_FIELD


UPLOAD_CHUNK_CHARS = 1_000_000  # base64 characters in one upload request: 750,000 bytes, under 1 MiB
DOWNLOAD_MAX = 60000  # bytes in one download answer: 80,000 characters of base64, inside the budget


class FileUpload(Request):
    path: str = Field(..., min_length=1, max_length=4096, description="File path on the server.")
    content_base64: str = Field(
        ...,
        max_length=UPLOAD_CHUNK_CHARS,
        description="The bytes, base64 (750000 bytes at most per request; send larger files in chunks).",
    )
    offset: int = Field(
        0,
        ge=0,
        le=2**62,
        description="Where this chunk goes: 0 for the first, then the bytes sent so far (staged).",
    )
    final: bool = Field(True, description="The last chunk: the file is checked and renamed into place.")
    mode: Literal["create", "overwrite"] = Field(
        "overwrite", description="create fails if the file exists; overwrite replaces it atomically."
    )
    file_mode: str | None = Field(
        None,
        pattern=r"^0?[0-7]{3}$",
        description="Permission bits in octal, e.g. 0644 (default: kept); no setuid, setgid or sticky.",
    )
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 (hex) of the whole file, checked on the server before it replaces the "
        "file; required on the final chunk of a chunked upload.",
    )
    server: str | None = SERVER_FIELD


class FileDownload(Request):
    path: str = Field(..., min_length=1, max_length=4096, description="File path on the server.")
    offset: int = Field(0, ge=0, le=2**62, description="Byte offset to start at.")
    limit: int = Field(
        DOWNLOAD_MAX, ge=1, le=DOWNLOAD_MAX, description=f"Bytes at most ({DOWNLOAD_MAX} max per call)."
    )
    sha256: bool = Field(
        False,
        description="Answer the whole file's SHA-256 (computed on the host). Given unasked only at eof of "
        "a download from offset 0: ask for it on the last piece of a chunked download.",
    )
    server: str | None = SERVER_FIELD


class FilePatch(Request):
    path: str = Field(..., min_length=1, max_length=4096, description="File path on the server.")
    diff: str = Field(..., min_length=1, max_length=90000, description="Unified diff (diff -u) of this file.")
    dry_run: bool = Field(False, description="Check that the diff applies, change nothing.")
    server: str | None = SERVER_FIELD


class ExecuteLLM(Request):
    instructions: str = Field(
        ..., min_length=1, max_length=50000, description="The task for the specialist, in plain words."
    )
    provider: str = Field(
        ...,
        min_length=1,
        max_length=200,
        description="A specialist (e.g. database-llm), a server with a model, or a provider "
        "(ollama, lmstudio, openai) on your current server. GET /server/list shows the models.",
    )
    server: str | None = Field(
        None, max_length=200, description="With a provider name: the server to work on."
    )
    model: str | None = Field(
        None, max_length=200, description="Use this model instead of the configured one."
    )
    stream: bool = Field(False, description="Answer with server-sent events (not for ChatGPT Actions).")
    dry_run: bool = Field(False, description="The specialist plans its tool calls; nothing runs.")
    max_steps: int | None = Field(None, ge=1, le=100, description="At most this many model turns.")
    wait_seconds: float = WAIT_FIELD


class JobDecision(Request):
    pending_id: str = Field(
        ...,
        min_length=1,
        max_length=100,
        description="The id of the pending_action you decide on (GET /jobs/{id}); a job that "
        "waits on another action by now answers 409 approval_stale.",
    )
    reason: str | None = Field(
        None, max_length=1000, description="Why, for the job's record and the audit log (optional)."
    )


class ServerSet(Request):
    server: str = Field(..., min_length=1, max_length=200, description="Server name from GET /server/list.")


# -- responses -----------------------------------------------------------------------------------


class ShellResult(BaseModel):
    job_id: str
    status: str = Field(description="succeeded when the command exited 0, else failed")
    ok: bool
    server: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: float
    timed_out: bool
    truncated: bool
    stdout_bytes: int
    stderr_bytes: int


class MultiShellResult(BaseModel):
    job_id: str
    status: str
    results: list[HostResult] = Field(
        description="One row per host; rows may carry output_omitted: true when hundreds of hosts "
        "would not fit the response, and the rows of hosts that succeeded may then be left out."
    )
    results_omitted: int | None = Field(None, description="Rows left out to fit; summary counts every host.")
    summary: Summary


PENDING_DESCRIPTION = (
    "With awaiting_approval: the whole action waiting for POST /jobs/{id}/approve or /reject, "
    "which name it by its id: the command or code, a write's content and mode, a patch's diff, "
    "the values of variables that can change what runs; the rule that asked and why."
)


class JobAccepted(BaseModel):
    job_id: str
    status: Literal["running", "awaiting_approval"]
    output_tail: str = Field(description="The last output so far.")
    pending_action: dict[str, Any] | None = Field(None, description=PENDING_DESCRIPTION)
    hint: str


class LLMStep(BaseModel):
    index: int
    tool: str
    arguments: dict[str, Any]
    status: str = Field(description="ok, failed, denied, rejected, invalid or planned (dry run)")
    policy: dict[str, Any]
    exit_code: int | None
    output: str
    duration_ms: float
    approved_by: str | None
    details: dict[str, Any]


class LLMUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class LLMResult(BaseModel):
    job_id: str
    status: str
    ok: bool
    specialist: str
    server: str
    provider: str
    model: str
    answer: str | None
    stop_reason: str = Field(description="answer, max_steps, timeout or error")
    dry_run: bool
    steps: list[LLMStep]
    usage: LLMUsage
    model_calls: int
    model_ms: float = Field(description="Time spent waiting for the model; the rest is tools and gateway.")
    duration_ms: float
    error: dict[str, Any] | None


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class LLMModels(BaseModel):
    server: str
    provider: str
    kind: str
    models: list[ModelInfo]


class JobView(BaseModel):
    job_id: str
    status: str
    operation: str
    server: str | None
    created_at: str
    finished_at: str | None
    output_tail: str | None
    pending_action: dict[str, Any] | None = Field(None, description=PENDING_DESCRIPTION)
    approval: dict[str, Any] | None = Field(
        None, description="The last decision: approved or rejected, by whom, when, on which pending_id."
    )
    result: dict[str, Any] | None
    error: dict[str, Any] | None


class JobList(BaseModel):
    jobs: list[JobView]


class ServerInfo(BaseModel):
    name: str
    protocol: str
    address: str
    groups: list[str]
    model: str | None
    description: str | None
    current: bool
    health: dict[str, Any] | None = Field(None, description="The last check of this server, if any.")
    model_health: dict[str, Any] | None = Field(
        None, description="Whether its model server answered at the last check (servers with a model)."
    )


class ServerList(BaseModel):
    current: str | None
    servers: list[ServerInfo]


class ServerSelected(BaseModel):
    current: str


class FileWritten(BaseModel):
    server: str
    stat: FileStat


class FileUploaded(Uploaded):
    pass


class FileDownloaded(BaseModel):
    server: str
    path: str
    offset: int
    bytes_read: int
    size: int = Field(description="The file's size now.")
    eof: bool = Field(description="This piece reaches the end: offset + bytes_read >= size.")
    sha256: str | None = Field(
        None, description="SHA-256 of the whole file, computed on the server (at eof, or when asked)."
    )
    content_base64: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    server: str | None = None
    hint: str | None = None
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    servers: int


RESPONSES = [
    ShellResult,
    MultiShellResult,
    LLMResult,
    LLMModels,
    JobAccepted,
    JobView,
    JobList,
    ServerList,
    ServerSelected,
    FileContent,
    FileWritten,
    FileUploaded,
    FileDownloaded,
    Listing,
    PatchResult,
    ErrorBody,
    Health,
]
REQUESTS = [
    ExecuteShell,
    ExecuteCode,
    ExecuteLLM,
    FileRead,
    FileWrite,
    FileList,
    FilePatch,
    FileUpload,
    FileDownload,
    ServerSet,
    JobDecision,
]

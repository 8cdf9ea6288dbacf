"""Endpoints: one table that both routes requests and describes them in the OpenAPI document.

Paths follow the product this one replaces (GPT Terminal Plus), so existing Custom GPT set-ups
carry over. The handlers live by concept: ``commands``, ``files``, ``delegation``, ``jobs`` and
``servers``; :func:`create_app` is the HTTP app's composition root.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from gtp_remote.api import models as m
from gtp_remote.api.commands import execute_code, execute_shell
from gtp_remote.api.delegation import execute_llm, llm_models
from gtp_remote.api.files import file_download, file_list, file_patch, file_read, file_upload, file_write
from gtp_remote.api.http import BODY_LIMIT, OWN_AUTH_PREFIXES
from gtp_remote.api.jobs import job_approve, job_cancel, job_get, job_reject, jobs_list
from gtp_remote.api.middlewares import auth_mw, cors_mw, errors_mw, metrics_mw, request_id_mw
from gtp_remote.api.servers import health, metrics, openapi_json, openapi_yaml, server_list, server_set
from gtp_remote.api.state import API, Api


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    operation_id: str
    summary: str
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | tuple[type[BaseModel], ...]] = field(default_factory=dict)
    public: bool = False
    consequential: bool = False
    query: tuple[tuple[str, str, str], ...] = ()  # (name, type, description)
    errors: tuple[int, ...] = (400, 401, 403, 404, 429)


RUN_RESPONSES = {200: m.ShellResult, 202: m.JobAccepted}
ROUTES: list[Route] = [
    Route(
        "POST",
        "/command/execute-shell",
        execute_shell,
        "executeShell",
        "Run a shell command on a server (or on several with target). Long commands answer 202 "
        "with a job_id: fetch the result with getJob.",
        m.ExecuteShell,
        {200: (m.ShellResult, m.MultiShellResult), 202: m.JobAccepted},
        consequential=True,
        errors=(400, 401, 403, 404, 429, 502, 504),
    ),
    Route(
        "POST",
        "/command/execute-code",
        execute_code,
        "executeCode",
        "Run a Python, bash, sh or Node program on a server; nothing is left behind on it.",
        m.ExecuteCode,
        RUN_RESPONSES,
        consequential=True,
        errors=(400, 401, 403, 404, 429, 502, 504),
    ),
    Route(
        "POST",
        "/command/execute-llm",
        execute_llm,
        "executeLlm",
        "Delegate a task to a specialist model (e.g. database-llm) that uses its tools on its own "
        "server. Returns its answer and steps; long tasks or actions needing approval answer 202 "
        "with a job_id.",
        m.ExecuteLLM,
        {200: m.LLMResult, 202: m.JobAccepted},
        consequential=True,
        errors=(400, 401, 403, 404, 429, 502, 504),
    ),
    Route(
        "GET",
        "/llm/models",
        llm_models,
        "listModels",
        "The models a server's model server has (Ollama /api/tags or OpenAI-compatible /v1/models).",
        None,
        {200: m.LLMModels},
        query=(
            ("server", "string", "Server name (default: your current server)."),
            ("provider", "string", "Provider to ask (default: the server's own)."),
        ),
        errors=(401, 403, 404, 429, 502, 504),
    ),
    Route(
        "POST",
        "/file/read",
        file_read,
        "readFile",
        "Read a text file on a server, in pieces of up to 60000 bytes (offset, limit).",
        m.FileRead,
        {200: m.FileContent, 202: m.JobAccepted},
        errors=(400, 401, 403, 404, 429, 502),
    ),
    Route(
        "POST",
        "/file/write",
        file_write,
        "writeFile",
        "Create, overwrite (atomically) or append to a file on a server.",
        m.FileWrite,
        {200: m.FileWritten, 202: m.JobAccepted},
        consequential=True,
        errors=(400, 401, 403, 404, 409, 429, 502),
    ),
    Route(
        "POST",
        "/file/list",
        file_list,
        "listFiles",
        "List a directory on a server, optionally recursively.",
        m.FileList,
        {200: m.Listing, 202: m.JobAccepted},
        errors=(400, 401, 403, 404, 429, 502),
    ),
    Route(
        "POST",
        "/file/patch",
        file_patch,
        "patchFile",
        "Apply a unified diff to a file on a server; refused whole if any hunk does not match.",
        m.FilePatch,
        {200: m.PatchResult, 202: m.JobAccepted},
        consequential=True,
        errors=(400, 401, 403, 404, 429, 502),
    ),
    Route(
        "POST",
        "/file/upload",
        file_upload,
        "uploadFile",
        "Write bytes (base64) to a file on a server, atomically. Over 750000 bytes: chunks by offset "
        "(0, then the bytes staged), final: true with the whole file's sha256 checked on the server; "
        "a wrong offset answers 409 with expected_offset.",
        m.FileUpload,
        {200: m.FileUploaded, 202: m.JobAccepted},
        consequential=True,
        errors=(400, 401, 403, 404, 409, 429, 502),
    ),
    Route(
        "POST",
        "/file/download",
        file_download,
        "downloadFile",
        "Read any file's bytes (base64), 60000 at most per call (offset, limit); at eof the answer "
        "has the whole file's sha256, computed on the server.",
        m.FileDownload,
        {200: m.FileDownloaded, 202: m.JobAccepted},
        errors=(400, 401, 403, 404, 429, 502),
    ),
    Route(
        "GET",
        "/server/list",
        server_list,
        "listServers",
        "The servers you may use, which one is current for you, their model and last health.",
        None,
        {200: m.ServerList},
        query=(("check", "boolean", "Check each server now (slower)."),),
        errors=(401, 429),
    ),
    Route(
        "POST",
        "/server/set",
        server_set,
        "setServer",
        "Choose your current server: requests without a server field act on it.",
        m.ServerSet,
        {200: m.ServerSelected},
        consequential=True,
        errors=(400, 401, 403, 404, 429),
    ),
    Route(
        "GET",
        "/jobs",
        jobs_list,
        "listJobs",
        "Your recent jobs, newest first, without their results; with approve, also those awaiting "
        "your approval.",
        None,
        {200: m.JobList},
        query=(
            ("limit", "integer", "How many jobs (1-200, default 50)."),
            ("status", "string", "Only jobs with this status, e.g. awaiting_approval or running."),
            ("server", "string", "Only jobs on this server (one of a fan-out's too)."),
            ("kind", "string", "Only jobs of this kind: execute-shell, execute-llm, file-write..."),
            ("token", "string", "Only jobs started by this token (an admin sees every token's)."),
        ),
        errors=(400, 401, 404, 429),
    ),
    Route(
        "GET",
        "/jobs/{job_id}",
        job_get,
        "getJob",
        "A job's status and, once finished, its result.",
        None,
        {200: m.JobView},
        errors=(401, 404, 429),
    ),
    Route(
        "POST",
        "/jobs/{job_id}/cancel",
        job_cancel,
        "cancelJob",
        "Cancel a running job; its process is killed on the server.",
        None,
        {200: m.JobView},
        consequential=True,
        errors=(401, 404, 409, 429),
    ),
    Route(
        "POST",
        "/jobs/{job_id}/approve",
        job_approve,
        "approveJob",
        "Approve the action a job is waiting on, named by its pending_action id (needs the approve "
        "permission; not the token that asked for it).",
        m.JobDecision,
        {200: m.JobView},
        consequential=True,
        errors=(400, 401, 403, 404, 409, 429),
    ),
    Route(
        "POST",
        "/jobs/{job_id}/reject",
        job_reject,
        "rejectJob",
        "Reject the action a job is waiting on, named by its pending_action id; it never runs (a "
        "specialist is told and goes on).",
        m.JobDecision,
        {200: m.JobView},
        consequential=True,
        errors=(400, 401, 403, 404, 409, 429),
    ),
    Route(
        "GET",
        "/health",
        health,
        "health",
        "Liveness of the gateway (no authentication).",
        None,
        {200: m.Health},
        public=True,
        errors=(),
    ),
]


def create_app(api: Api, listen_hosts: tuple[str, ...] = (), base: str | None = None) -> web.Application:
    """The HTTP app: the REST API, and MCP on the same port (``listen_hosts``: the addresses
    served, whose Host headers MCP accepts besides localhost and the public URL; ``base``: where
    clients reach the server when GTP_PUBLIC_URL is unset, for OAuth's URLs)."""
    from gtp_remote.console import views as console
    from gtp_remote.mcpapi.http import mount

    app = web.Application(
        client_max_size=BODY_LIMIT,
        middlewares=[request_id_mw, metrics_mw, errors_mw, cors_mw(api.settings.cors_origins), auth_mw],
    )
    app[API] = api
    api.base_url = (api.settings.public_url or base or "").rstrip("/") or None
    mount(app, listen_hosts, base)
    app[OWN_AUTH_PREFIXES] = console.mount(app)
    api.job_listeners.append(lambda job, event: console.announce(app, job, event))
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/openapi.yaml", openapi_yaml)
    app.router.add_get("/metrics", metrics)  # for Prometheus, not the GPT: not in the OpenAPI document

    async def shutdown(app: web.Application) -> None:
        await api.shutdown()

    app.on_shutdown.append(shutdown)
    return app

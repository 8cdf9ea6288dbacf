"""A scripted model server: Ollama's native API and OpenAI chat completions on one port.

Why it exists: the gateway's LLM adapters must be tested against the wire formats they meet in the
field (Ollama on :11434, LM Studio and llama.cpp servers speaking OpenAI on :1234), including their
awkward corners: tool calls streamed as argument fragments, usage chunks with ``choices: null``, an
error line under HTTP 200, tool calls left as text in ``content``, 429 with ``Retry-After``, a server
that closes the connection after a stream. A real model is slow and never says the same thing twice;
this server answers exactly what the test scripted, in the real formats (tests/test_modelserver.py
proves that with the official ``ollama`` and ``openai`` clients).

How tests script it (control endpoints, reachable wherever the server is):

- ``POST /_script`` ``{"models": ["test-model"], "replies": [REPLY, ...]}`` replaces the queue of
  replies and the model list, and clears the recorded requests.
- ``GET /_requests`` -> ``{"requests": [{"path", "body"}, ...]}``: every chat request received.
- ``POST /_reset``: no replies, no requests, the default model list.

Each chat request (``POST /api/chat`` or ``POST /v1/chat/completions``) for a known model pops the
next REPLY; none left -> HTTP 500 "script exhausted". A REPLY is a dict with the fields of
``REPLY_FIELDS`` below (unknown fields are refused when scripting, to catch typos).

Run it standalone (it depends on aiohttp and the standard library only; it prints one ready line and
nothing after it, so a parent may stop reading its stdout)::

    python tests/modelserver.py --host 127.0.0.1 --port 11434   # --port 0 picks a free port
    -> modelserver listening on 127.0.0.1:11434
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

VERSION = "0.9.6"  # what GET /api/version reports
DEFAULT_MODELS = ("test-model",)
CREATED = 1_735_689_600  # 2025-01-01, the "created" of every listed model

REPLY_FIELDS = {
    "content": 'assistant text (default ""), streamed in pieces of `chunk` characters (default 8)',
    "chunk": "characters per streamed content piece",
    "tool_calls": '[{"name", "arguments": dict | str, "id"?}]; a str is sent verbatim to OpenAI clients',
    "fragment": "characters per streamed OpenAI argument fragment (default 7)",
    "text_form": '"tool_call" or "tool_request": write the calls into content instead, finish "stop"',
    "error": "message: Ollama stream -> content then an error line under 200; otherwise HTTP 500",
    "status": "answer with this HTTP status (e.g. 429, 503) and an error body instead",
    "retry_after": "seconds for the Retry-After header of a `status` reply",
    "usage": '{"prompt_tokens", "completion_tokens"} (default: rough counts from lengths)',
    "usage_chunk": '"include" (when asked, default), "null_choices" (always, choices null), "omit"',
    "delay": "seconds to wait before answering",
    "chunk_delay": "seconds between streamed chunks",
    "close_after": "close the connection after the response (Connection: close)",
}
TEXT_FORMS = {"tool_call": "<tool_call>{}</tool_call>", "tool_request": "[TOOL_REQUEST]{}[END_TOOL_REQUEST]"}
CHOICES = {"text_form": TEXT_FORMS, "usage_chunk": ("include", "null_choices", "omit")}


@dataclass
class State:
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    replies: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: int = 0


STATE = web.AppKey("state", State)


# --- reply helpers, shared by both wire formats ---------------------------------------------------


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, int(size))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _args_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _args_object(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def _calls(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return [] if reply.get("text_form") else list(reply.get("tool_calls") or [])


def _content(reply: dict[str, Any]) -> str:
    """The assistant text; with ``text_form`` the calls are written into it, as LM Studio does."""
    text = reply.get("content") or ""
    form = reply.get("text_form")
    for call in (reply.get("tool_calls") or []) if form else []:
        body = f'{{"name": {json.dumps(call["name"])}, "arguments": {_args_text(call.get("arguments", {}))}}}'
        text += TEXT_FORMS[form].format(body)
    return text


def _usage(reply: dict[str, Any], body: dict[str, Any]) -> tuple[int, int]:
    usage = reply.get("usage") or {}
    produced = len(_content(reply)) + sum(len(_args_text(c.get("arguments", {}))) for c in _calls(reply))
    prompt = usage.get("prompt_tokens", len(json.dumps(body.get("messages", []))) // 4 + 1)
    return prompt, usage.get("completion_tokens", produced // 4 + 1)


def _headers(reply: dict[str, Any]) -> dict[str, str]:
    if reply.get("retry_after") is None:
        return {}
    seconds = float(reply["retry_after"])
    return {"Retry-After": str(int(seconds)) if seconds.is_integer() else str(seconds)}


async def _take(
    request: web.Request, known: Callable[[State, str], bool], refuse: Callable[..., web.Response]
) -> tuple[dict, dict] | web.Response:
    """Record the request, then pop its reply; or the error response ``refuse(status, message)``."""
    state = request.app[STATE]
    try:
        body = await request.json()
    except ValueError:
        return refuse(400, "invalid JSON in request body")
    state.requests.append({"path": request.path, "body": body})
    if not known(state, str(body.get("model", ""))):
        return refuse(404, "", model=str(body.get("model", "")))
    if not state.replies:
        return refuse(500, f"script exhausted: no scripted reply left for request {len(state.requests)}")
    reply = state.replies.pop(0)
    state.served += 1
    await asyncio.sleep(float(reply.get("delay", 0)))
    if "status" in reply:
        response = refuse(int(reply["status"]), reply.get("error") or "scripted failure")
        response.headers.update(_headers(reply))
        return response
    return body, reply


async def _stream(request: web.Request, reply: dict, kind: str, lines: list[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": kind, "Cache-Control": "no-cache"})
    if reply.get("close_after"):
        response.force_close()
    await response.prepare(request)
    for i, line in enumerate(lines):
        if i and reply.get("chunk_delay"):
            await asyncio.sleep(float(reply["chunk_delay"]))
        await response.write(line)
    await response.write_eof()
    return response


def _json(data: Any, reply: dict[str, Any]) -> web.Response:
    response = web.json_response(data)
    if reply.get("close_after"):
        response.force_close()
    return response


# --- Ollama native API ------------------------------------------------------------------------------


def _tagged(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def _ollama_error(status: int, message: str, model: str | None = None) -> web.Response:
    if model is not None:
        message = f'model "{model}" not found, try pulling it first'
    return web.json_response({"error": message}, status=status)


async def ollama_root(request: web.Request) -> web.Response:
    return web.Response(text="Ollama is running")


async def ollama_version(request: web.Request) -> web.Response:
    return web.json_response({"version": VERSION})


_DETAILS = {"parent_model": "", "format": "gguf", "family": "gemma3", "families": ["gemma3"]}
_DETAILS |= {"parameter_size": "268.10M", "quantization_level": "Q8_0"}


async def ollama_tags(request: web.Request) -> web.Response:
    models = [
        {"name": _tagged(m), "model": _tagged(m), "modified_at": "2025-01-01T00:00:00.000000000Z"}
        | {"size": 291_554_930, "digest": hashlib.sha256(m.encode()).hexdigest(), "details": _DETAILS}
        for m in request.app[STATE].models
    ]
    return web.json_response({"models": models})


async def ollama_chat(request: web.Request) -> web.StreamResponse:
    taken = await _take(request, lambda s, m: _tagged(m) in {_tagged(n) for n in s.models}, _ollama_error)
    if isinstance(taken, web.Response):
        return taken
    body, reply = taken
    started = time.monotonic_ns()

    def chunk(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        msg = {"role": "assistant", "content": "", **message}
        return {"model": body.get("model"), "created_at": stamp, "message": msg, "done": False, **extra}

    def calls() -> list[dict[str, Any]]:
        return [
            {
                **({"id": c["id"]} if "id" in c else {}),
                "function": {"name": c["name"], "arguments": _args_object(c.get("arguments", {}))},
            }
            for c in _calls(reply)
        ]

    def final(message: dict[str, Any]) -> dict[str, Any]:
        prompt, completion = _usage(reply, body)
        total = max(time.monotonic_ns() - started, 1_000_000)
        timings = {"load_duration": total // 10, "prompt_eval_duration": total // 5}
        timings["eval_duration"] = total - sum(timings.values())
        counts = {"prompt_eval_count": prompt, "eval_count": completion}
        return chunk(message, done=True, done_reason="stop", total_duration=total, **counts, **timings)

    content = _content(reply)
    if not body.get("stream", True):
        if reply.get("error"):
            return _ollama_error(500, reply["error"])
        return _json(final({"content": content, **({"tool_calls": calls()} if calls() else {})}), reply)
    objects = [chunk({"content": piece}) for piece in _pieces(content, reply.get("chunk", 8))]
    if reply.get("error"):
        objects.append({"error": reply["error"]})
    else:
        objects += [chunk({"tool_calls": [call]}) for call in calls()]  # a whole call per chunk
        objects.append(final({}))
    return await _stream(
        request, reply, "application/x-ndjson", [json.dumps(o).encode() + b"\n" for o in objects]
    )


# --- OpenAI chat completions (as LM Studio and llama.cpp servers speak it) --------------------------

_OPENAI_KINDS = {
    401: ("invalid_request_error", "invalid_api_key", None),
    404: ("invalid_request_error", "model_not_found", "model"),
    429: ("requests", "rate_limit_exceeded", None),
}


def _openai_error(status: int, message: str, model: str | None = None) -> web.Response:
    kind, code, param = _OPENAI_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, None)
    )
    if model is not None:
        message = f"The model `{model}` does not exist or you do not have access to it."
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": param, "code": code}}, status=status
    )


async def openai_models(request: web.Request) -> web.Response:
    data = [
        {"id": m, "object": "model", "created": CREATED, "owned_by": "organization_owner"}
        for m in request.app[STATE].models
    ]
    return web.json_response({"object": "list", "data": data})


async def openai_chat(request: web.Request) -> web.StreamResponse:
    taken = await _take(request, lambda s, m: m in s.models, _openai_error)
    if isinstance(taken, web.Response):
        return taken
    body, reply = taken
    if reply.get("error"):
        return _openai_error(500, reply["error"])
    seq = request.app[STATE].served
    calls = [
        (i, c.get("id") or f"call_{seq}_{i}", c["name"], _args_text(c.get("arguments", {})))
        for i, c in enumerate(_calls(reply))
    ]
    finish = "tool_calls" if calls else "stop"
    prompt, completion = _usage(reply, body)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    base = {"id": f"chatcmpl-{seq:06d}", "created": int(time.time()), "model": body["model"]}
    content = _content(reply)
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": content or (None if calls else "")}
        if calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                for _, cid, name, args in calls
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        return _json({**base, "object": "chat.completion", "choices": [choice], "usage": usage}, reply)

    asked = bool((body.get("stream_options") or {}).get("include_usage"))
    mode = reply.get("usage_chunk", "include")
    base = {**base, "object": "chat.completion.chunk"}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice], **({"usage": None} if asked else {})}

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in _pieces(content, reply.get("chunk", 8))]
    for i, cid, name, args in calls:
        head = {"index": i, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}
        events.append(chunk({"tool_calls": [head]}))
        fragments = _pieces(args, reply.get("fragment", 7))
        events += [chunk({"tool_calls": [{"index": i, "function": {"arguments": f}}]}) for f in fragments]
    events.append(chunk({}, finish))
    if mode == "null_choices" or (mode == "include" and asked):
        events.append({**base, "choices": None if mode == "null_choices" else [], "usage": usage})
    lines = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
    return await _stream(request, reply, "text/event-stream", lines)


# --- control endpoints and the app ---------------------------------------------------------------


async def control_script(request: web.Request) -> web.Response:
    doc = await request.json()
    replies = list(doc.get("replies") or [])
    wrong = sorted({k for r in replies for k in r} - set(REPLY_FIELDS))
    wrong += [f"{k}={r[k]!r}" for r in replies for k, ok in CHOICES.items() if k in r and r[k] not in ok]
    if wrong:
        return web.json_response({"error": f"bad reply field(s): {', '.join(wrong)}"}, status=400)
    state = request.app[STATE]
    state.models = list(doc.get("models") or DEFAULT_MODELS)
    state.replies = replies
    state.requests.clear()
    return web.json_response({"ok": True, "models": state.models, "replies": len(replies)})


async def control_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": request.app[STATE].requests})


async def control_reset(request: web.Request) -> web.Response:
    vars(request.app[STATE]).update(vars(State()))
    return web.json_response({"ok": True})


def make_app() -> web.Application:
    app = web.Application()
    app[STATE] = State()
    app.router.add_get("/", ollama_root)
    app.router.add_get("/api/version", ollama_version)
    app.router.add_get("/api/tags", ollama_tags)
    app.router.add_post("/api/chat", ollama_chat)
    app.router.add_get("/v1/models", openai_models)
    app.router.add_post("/v1/chat/completions", openai_chat)
    app.router.add_post("/_script", control_script)
    app.router.add_get("/_requests", control_requests)
    app.router.add_post("/_reset", control_reset)
    return app


async def serve(host: str, port: int) -> None:
    # Nothing after the ready line: the parent may never read this pipe again (a full pipe blocks us).
    logging.getLogger("aiohttp").addHandler(logging.NullHandler())
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"modelserver listening on {bound_host}:{bound_port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="Scripted Ollama / OpenAI-compatible model server for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434, help="0 picks a free port (see the ready line)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()

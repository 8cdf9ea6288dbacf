"""The scripted model server (tests/modelserver.py) is faithful to the wire formats it imitates.

Proved by talking to it with the OFFICIAL clients, ``ollama`` and ``openai``: whatever they accept
and how they surface each scripted oddity is what the gateway's adapters will meet in the field.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import ollama
import openai
import pydantic
import pytest
from aiohttp import web

from tests.modelserver import make_app

SERVER = Path(__file__).resolve().parent / "modelserver.py"
HI = [{"role": "user", "content": "hi"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    }
]


class Scripted:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def script(self, *replies: dict[str, Any], models: list[str] | None = None) -> None:
        doc = {"replies": list(replies), **({"models": models} if models else {})}
        async with self.session.post(f"{self.url}/_script", json=doc) as r:
            assert r.status == 200, await r.text()

    async def requests(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/_requests") as r:
            return (await r.json())["requests"]

    def ollama(self) -> ollama.AsyncClient:
        return ollama.AsyncClient(host=self.url)

    def openai(self, **options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key="x", **{"max_retries": 0, **options})


@pytest.fixture
async def server():
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    async with aiohttp.ClientSession() as session:
        yield Scripted(f"http://127.0.0.1:{runner.addresses[0][1]}", session)
    await runner.cleanup()


# --- Ollama ---------------------------------------------------------------------------------------


async def test_ollama_streams_text_in_pieces_then_a_final_chunk_with_counters(server: Scripted):
    await server.script({"content": "Hello from the model", "chunk": 5})
    chunks = [c async for c in await server.ollama().chat(model="test-model", messages=HI, stream=True)]
    assert [c.message.content for c in chunks[:-1]] == ["Hello", " from", " the ", "model"]
    assert not any(c.done for c in chunks[:-1])
    last = chunks[-1]
    assert last.done and last.done_reason == "stop" and last.message.content == ""
    assert last.prompt_eval_count and last.eval_count
    assert last.total_duration and last.eval_duration and last.load_duration and last.prompt_eval_duration
    assert last.total_duration >= last.eval_duration  # nanoseconds, consistent
    (request,) = await server.requests()
    assert request["path"] == "/api/chat" and request["body"]["stream"] is True
    assert request["body"]["messages"] == HI


async def test_ollama_stream_is_ndjson_and_on_by_default(server: Scripted):
    await server.script({"content": "abc", "chunk": 1})
    async with server.session.post(
        f"{server.url}/api/chat", json={"model": "test-model", "messages": HI}
    ) as r:
        assert r.status == 200 and r.content_type == "application/x-ndjson"
        lines = (await r.text()).splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["message"]["content"] for o in objects] == ["a", "b", "c", ""]
    assert objects[0]["model"] == "test-model" and objects[0]["created_at"].endswith("Z")
    assert [o["done"] for o in objects] == [False, False, False, True]


async def test_ollama_non_streaming_text_maps_usage_to_counters(server: Scripted):
    await server.script({"content": "All done.", "usage": {"prompt_tokens": 12, "completion_tokens": 34}})
    reply = await server.ollama().chat(model="test-model", messages=HI, stream=False)
    assert reply.done and reply.done_reason == "stop"
    assert reply.message.role == "assistant" and reply.message.content == "All done."
    assert (reply.prompt_eval_count, reply.eval_count) == (12, 34)


async def test_ollama_tool_call_arrives_whole_in_one_chunk_with_object_arguments(server: Scripted):
    await server.script(
        {
            "content": "Let me look.",
            "tool_calls": [
                {"name": "read_file", "arguments": {"path": "/etc/hosts"}},
                {"name": "read_file", "arguments": '{"path": "/etc/passwd"}'},  # a JSON str becomes an object
            ],
        }
    )
    stream = await server.ollama().chat(model="test-model", messages=HI, tools=TOOLS, stream=True)
    chunks = [c async for c in stream]
    with_calls = [c for c in chunks if c.message.tool_calls]
    assert len(with_calls) == 2  # one chunk per call, each call whole
    calls = [call for c in with_calls for call in c.message.tool_calls]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("read_file", {"path": "/etc/hosts"}),
        ("read_file", {"path": "/etc/passwd"}),
    ]
    assert "".join(c.message.content for c in chunks) == "Let me look."
    assert chunks[-1].done and chunks[-1].done_reason == "stop" and chunks[-1].eval_count
    (request,) = await server.requests()
    assert request["body"]["tools"][0]["function"]["name"] == "read_file"


async def test_ollama_non_streaming_tool_call(server: Scripted):
    await server.script({"tool_calls": [{"name": "read_file", "arguments": {"path": "/x"}, "id": "call_1"}]})
    reply = await server.ollama().chat(model="test-model", messages=HI, tools=TOOLS, stream=False)
    (call,) = reply.message.tool_calls
    assert call.function.name == "read_file" and call.function.arguments == {"path": "/x"}
    assert reply.message.content == ""


async def test_ollama_error_line_under_200_raises_response_error_mid_stream(server: Scripted):
    await server.script({"content": "partial answer", "chunk": 7, "error": "model runner crashed"})
    async with server.session.post(
        f"{server.url}/api/chat", json={"model": "test-model", "messages": HI}
    ) as r:
        assert r.status == 200
        assert json.loads((await r.text()).splitlines()[-1]) == {"error": "model runner crashed"}

    await server.script({"content": "partial answer", "chunk": 7, "error": "model runner crashed"})
    seen: list[str] = []
    with pytest.raises(ollama.ResponseError) as caught:
        async for chunk in await server.ollama().chat(model="test-model", messages=HI, stream=True):
            seen.append(chunk.message.content)
    assert seen == ["partial", " answer"]  # the content before the error line is delivered first
    assert caught.value.error == "model runner crashed"
    assert caught.value.status_code == -1  # the client has no status for a mid-stream error


async def test_ollama_error_without_streaming_is_a_500(server: Scripted):
    await server.script({"error": "out of memory"})
    with pytest.raises(ollama.ResponseError) as caught:
        await server.ollama().chat(model="test-model", messages=HI, stream=False)
    assert (caught.value.status_code, caught.value.error) == (500, "out of memory")


async def test_ollama_unknown_model_is_404_and_consumes_no_reply(server: Scripted):
    await server.script({"content": "for the right model"})
    stream = await server.ollama().chat(model="llama9", messages=HI, stream=True)  # no request sent yet:
    with pytest.raises(ollama.ResponseError) as caught:  # the streaming client raises at first iteration
        await anext(stream)
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "llama9" not found, try pulling it first'
    reply = await server.ollama().chat(model="test-model:latest", messages=HI)  # the implicit tag
    assert reply.message.content == "for the right model"
    assert len(await server.requests()) == 2


async def test_ollama_busy_503_and_script_exhausted(server: Scripted):
    await server.script({"status": 503, "error": "server busy, please try again."})
    with pytest.raises(ollama.ResponseError) as caught:
        await server.ollama().chat(model="test-model", messages=HI)
    assert (caught.value.status_code, caught.value.error) == (503, "server busy, please try again.")
    with pytest.raises(ollama.ResponseError) as caught:
        await server.ollama().chat(model="test-model", messages=HI)
    assert caught.value.status_code == 500 and "script exhausted" in caught.value.error


async def test_ollama_rejects_non_object_arguments_in_the_client(server: Scripted):
    """Ollama's wire says arguments are an object: the official client fails validation otherwise."""
    await server.script({"tool_calls": [{"name": "read_file", "arguments": "{not json"}]})
    with pytest.raises(pydantic.ValidationError, match="valid dictionary"):
        await server.ollama().chat(model="test-model", messages=HI, stream=False)


async def test_ollama_lists_models_and_version(server: Scripted):
    await server.script(models=["test-model", "qwen3:8b"])
    listed = await server.ollama().list()
    assert [m.model for m in listed.models] == ["test-model:latest", "qwen3:8b"]
    assert listed.models[0].details.family and listed.models[0].size and listed.models[0].modified_at
    async with server.session.get(f"{server.url}/api/tags") as r:
        raw = (await r.json())["models"][0]
    assert {"name", "model", "modified_at", "size", "digest", "details"} <= raw.keys()
    assert {"format", "family", "families", "parameter_size", "quantization_level"} <= raw["details"].keys()
    async with server.session.get(f"{server.url}/api/version") as r:
        assert (await r.json())["version"]
    async with server.session.get(server.url) as r:
        assert await r.text() == "Ollama is running"


# --- OpenAI chat completions (LM Studio, llama.cpp) --------------------------------------------------


async def test_openai_non_streaming_tool_call_keeps_string_arguments_verbatim(server: Scripted):
    broken = '{"path": "/etc/hosts"'  # invalid JSON, as small models produce
    await server.script(
        {
            "tool_calls": [{"name": "read_file", "arguments": broken, "id": "call_abc"}],
            "usage": {"prompt_tokens": 5},
        }
    )
    done = await server.openai().chat.completions.create(model="test-model", messages=HI, tools=TOOLS)
    assert done.object == "chat.completion"
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert (call.id, call.type, call.function.name, call.function.arguments) == (
        "call_abc",
        "function",
        "read_file",
        broken,
    )
    assert done.usage.prompt_tokens == 5
    assert done.usage.total_tokens == 5 + done.usage.completion_tokens
    (request,) = await server.requests()
    assert request["path"] == "/v1/chat/completions" and request["body"]["tools"] == TOOLS


async def test_openai_streamed_tool_calls_come_as_fragments_keyed_by_index(server: Scripted):
    calls = [
        {"name": "read_file", "arguments": {"path": "/etc/hosts"}},
        {"name": "list_dir", "arguments": {"path": "/var/log", "depth": 2}},
    ]
    await server.script({"content": "Checking.", "tool_calls": calls, "fragment": 4})
    stream = await server.openai().chat.completions.create(
        model="test-model", messages=HI, tools=TOOLS, stream=True
    )
    content, finish, heads = "", None, {}
    arguments: dict[int, str] = {}
    fragments = 0
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk" and chunk.usage is None
        delta = chunk.choices[0].delta
        content += delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
        for part in delta.tool_calls or []:
            if part.id is not None:  # the first delta of a call: index, id, type, name, ""
                assert part.index not in heads and part.type == "function" and part.function.arguments == ""
                heads[part.index] = (part.id, part.function.name)
            else:  # later deltas: an argument fragment keyed by index only
                assert part.function.name is None and part.type is None
                fragments += 1
            arguments[part.index] = arguments.get(part.index, "") + (part.function.arguments or "")
    assert content == "Checking." and finish == "tool_calls"
    assert [name for _, name in heads.values()] == ["read_file", "list_dir"]
    assert len({cid for cid, _ in heads.values()}) == 2
    assert [json.loads(arguments[i]) for i in sorted(arguments)] == [c["arguments"] for c in calls]
    assert fragments == sum(-(-len(json.dumps(c["arguments"])) // 4) for c in calls)


async def test_openai_usage_chunk_only_when_asked_and_omit(server: Scripted):
    await server.script(
        {"content": "hi there"}, {"content": "hi there"}, {"content": "x", "usage_chunk": "omit"}
    )
    client = server.openai()
    asked = {"stream_options": {"include_usage": True}}
    chunks = [
        c
        async for c in await client.chat.completions.create(
            model="test-model", messages=HI, stream=True, **asked
        )
    ]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1]) and chunks[-2].choices[0].finish_reason == "stop"
    plain = [
        c async for c in await client.chat.completions.create(model="test-model", messages=HI, stream=True)
    ]
    assert all(c.choices and c.usage is None for c in plain)
    omitted = [
        c
        async for c in await client.chat.completions.create(
            model="test-model", messages=HI, stream=True, **asked
        )
    ]
    assert all(c.choices for c in omitted)  # llama_cpp.server style: no usage chunk at all


async def test_openai_null_choices_usage_chunk_is_yielded_with_choices_none(server: Scripted):
    await server.script(
        {"content": "hello", "usage_chunk": "null_choices"}, {"content": "hi", "usage_chunk": "null_choices"}
    )
    client = server.openai()
    stream = await client.chat.completions.create(model="test-model", messages=HI, stream=True)
    chunks = [c async for c in stream]  # iterating does not crash...
    assert chunks[-1].choices is None and chunks[-1].usage.total_tokens > 0  # ...but choices is None, not []
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == "hello"
    with pytest.raises(TypeError):  # the SDK's accumulating .stream() helper does crash on it
        async with client.chat.completions.stream(model="test-model", messages=HI) as helper:
            async for _ in helper:
                pass


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (
            "tool_call",
            'Sure.<tool_call>{"name": "read_file", "arguments": {"path": "/etc/hosts"}}</tool_call>',
        ),
        (
            "tool_request",
            'Sure.[TOOL_REQUEST]{"name": "read_file", "arguments": {"path": "/etc/hosts"}}[END_TOOL_REQUEST]',
        ),
    ],
)
async def test_openai_text_form_tool_calls_arrive_verbatim_in_content(
    server: Scripted, form: str, expected: str
):
    reply = {
        "content": "Sure.",
        "tool_calls": [{"name": "read_file", "arguments": {"path": "/etc/hosts"}}],
        "text_form": form,
    }
    await server.script(reply, reply)
    client = server.openai()
    stream = await client.chat.completions.create(model="test-model", messages=HI, tools=TOOLS, stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected
    assert not any(c.choices[0].delta.tool_calls for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    done = await client.chat.completions.create(model="test-model", messages=HI, tools=TOOLS)
    assert done.choices[0].message.content == expected and done.choices[0].message.tool_calls is None


async def test_openai_429_with_retry_after_then_success(server: Scripted):
    await server.script({"status": 429, "retry_after": 1, "error": "Rate limit reached"})
    with pytest.raises(openai.RateLimitError) as caught:
        await server.openai().chat.completions.create(model="test-model", messages=HI)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body == {
        "message": "Rate limit reached",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }

    await server.script({"status": 429, "retry_after": 1}, {"content": "after the wait"})
    started = time.monotonic()
    done = await server.openai(max_retries=1).chat.completions.create(model="test-model", messages=HI)
    assert done.choices[0].message.content == "after the wait"
    assert time.monotonic() - started >= 0.9  # the client honoured Retry-After
    assert len(await server.requests()) == 2


async def test_openai_errors_unknown_model_server_error_exhausted(server: Scripted):
    await server.script({"error": "model crashed"})
    client = server.openai()
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-9", messages=HI)
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert caught.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.InternalServerError, match="model crashed"):
        await client.chat.completions.create(model="test-model", messages=HI, stream=True)
    with pytest.raises(openai.InternalServerError, match="script exhausted"):
        await client.chat.completions.create(model="test-model", messages=HI)


async def test_openai_delay_trips_the_client_timeout(server: Scripted):
    await server.script({"content": "too late", "delay": 2})
    with pytest.raises(openai.APITimeoutError):
        await server.openai(timeout=0.3).chat.completions.create(model="test-model", messages=HI)


async def test_openai_close_after_stream_and_the_client_survives(server: Scripted):
    reply = {"content": "bye", "close_after": True}
    await server.script(reply, reply, reply)
    body = json.dumps({"model": "test-model", "messages": HI, "stream": True}).encode()
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    raw = await asyncio.wait_for(reader.read(), 5)  # returns only because the server closes the socket
    writer.close()
    assert b"\r\nConnection: close\r\n" in raw and b"Content-Type: text/event-stream" in raw
    assert b"data: [DONE]\n\n" in raw
    client = server.openai()
    for _ in range(2):  # the pooled connection was closed by the server: the next request must still work
        stream = await client.chat.completions.create(model="test-model", messages=HI, stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "bye"


async def test_openai_lists_models(server: Scripted):
    await server.script(models=["test-model", "qwen2.5-7b-instruct"])
    models = [m async for m in server.openai().models.list()]
    assert [(m.id, m.object) for m in models] == [("test-model", "model"), ("qwen2.5-7b-instruct", "model")]
    assert all(m.owned_by and m.created for m in models)


# --- control -------------------------------------------------------------------------------------


async def test_script_refuses_unknown_reply_fields_and_reset_clears(server: Scripted):
    async with server.session.post(f"{server.url}/_script", json={"replies": [{"contnet": "typo"}]}) as r:
        assert r.status == 400 and "contnet" in (await r.json())["error"]
    await server.script({"content": "x"}, models=["other"])
    async with server.session.post(f"{server.url}/_reset") as r:
        assert r.status == 200
    with pytest.raises(openai.InternalServerError, match="script exhausted"):
        await server.openai().chat.completions.create(model="test-model", messages=HI)


# --- standalone process (how the bed runs it inside a network namespace) -------------------------


async def test_runs_as_a_subprocess_and_prints_the_ready_line(tmp_path: Path):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        cwd=tmp_path,  # no repo on sys.path: aiohttp and the standard library only
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("modelserver listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/api/version") as r,
        ):
            assert r.status == 200 and (await r.json())["version"]
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0  # SIGTERM is a clean exit

"""A real LLM behind a real SSH tunnel: llama_cpp.server with Gemma 3 270M on the bed host
``code``, listening on 127.0.0.1 inside its namespace, reached by the official OpenAI client
through the gateway's tunnel and nothing else."""

from __future__ import annotations

import socket
import time

import openai
import pytest

from tests.realmodel import LlamaServer

pytestmark = pytest.mark.bed

PROMPT = "Write one short sentence about the sea."


async def _client(gateway, server: LlamaServer) -> openai.AsyncOpenAI:
    host, port = await gateway.executor(server.host).open_tunnel(server.address, server.port)
    return openai.AsyncOpenAI(base_url=f"http://{host}:{port}/v1", api_key="x", max_retries=0, timeout=60)


async def test_lists_the_model_through_the_tunnel(bed_gateway, llama_server: LlamaServer):
    async with await _client(bed_gateway, llama_server) as client:
        models = await client.models.list()
    assert llama_server.model in [m.id for m in models.data]


async def test_completion_returns_text_and_usage(bed_gateway, llama_server: LlamaServer):
    async with await _client(bed_gateway, llama_server) as client:
        reply = await client.chat.completions.create(
            model=llama_server.model,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=32,
            temperature=0,
        )
    text = reply.choices[0].message.content
    print(f"\ncompletion: {text!r} usage={reply.usage}")
    assert text and text.strip()
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_streaming_through_the_tunnel(bed_gateway, llama_server: LlamaServer):
    async with await _client(bed_gateway, llama_server) as client:
        started = time.monotonic()
        first = last = None
        deltas: list[str] = []
        finish = None
        stream = await client.chat.completions.create(
            model=llama_server.model,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=48,
            temperature=0,
            stream=True,
        )
        async for chunk in stream:
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            if choice.delta.content:
                last = time.monotonic()
                if first is None:
                    first = last
                deltas.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    assert first is not None and last is not None, "the stream carried no content"
    ttft = first - started
    rate = (len(deltas) - 1) / (last - first) if len(deltas) > 1 and last > first else float("nan")
    print(
        f"\nstream through the tunnel: {len(deltas)} deltas, first token {ttft * 1000:.0f} ms, "
        f"{rate:.1f} tok/s, finish={finish}; text={''.join(deltas)!r}"
    )
    assert len(deltas) >= 3
    assert finish in ("stop", "length")  # the stream ended properly
    assert ttft < 10


def test_server_is_not_reachable_without_the_tunnel(bed, llama_server: LlamaServer):
    host = bed.hosts[llama_server.host]
    # It is up and answering inside the host's namespace...
    inside = host.sh(f"curl -sf --max-time 5 http://{llama_server.address}:{llama_server.port}/v1/models")
    assert llama_server.model in inside.stdout
    # ...but the host's own bed address does not lead to it from the gateway's namespace.
    with pytest.raises(OSError), socket.create_connection((host.ip, llama_server.port), timeout=5):
        pass

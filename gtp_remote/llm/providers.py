"""Model servers: Ollama's native API and the OpenAI chat-completions API (OpenAI, LM Studio, llama.cpp).

Both are spoken through their official clients (``ollama``, ``openai``); this module adapts them to
one small interface the agent loop uses, and turns their failures into errors that say where:
"model server for devops-llm (lmstudio at k8s-master 127.0.0.1:1234) is not answering".

Messages are kept in the OpenAI shape (``tool_calls`` with string arguments, ``tool`` replies with
``tool_call_id``) and converted for Ollama, whose tool arguments are objects and whose tool replies
carry ``tool_name``. Local models often write a tool call as text instead of a structured call
(``<tool_call>{...}</tool_call>``, LM Studio's ``[TOOL_REQUEST]{...}[END_TOOL_REQUEST]``); those are
recovered here so the agent sees one kind of call whatever the server did.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pydantic

from gtp_remote.errors import (
    ModelAuthError,
    ModelNotFoundError,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
)

OnDelta = Callable[[str], None]
RETRY_STATUSES = (429, 503)
RETRY_DELAYS = (0.5, 1.0, 2.0)
#: What a client library raises when a server answers something that is not its API's format.
MALFORMED = (ValueError, AttributeError, TypeError, pydantic.ValidationError)

TEXT_CALL_RE = re.compile(
    r"<tool_call>\s*(?P<a>.*?)\s*</tool_call>|\[TOOL_REQUEST\]\s*(?P<b>.*?)\s*\[END_TOOL_REQUEST\]",
    re.DOTALL,
)


@dataclass
class ToolCall:
    """One call the model asked for. ``error`` is set when its arguments were not a JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""
    error: str | None = None

    def to_message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.raw_arguments or json.dumps(self.arguments)},
        }


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: Usage | None) -> None:
        if other is not None:
            self.prompt_tokens += other.prompt_tokens
            self.completion_tokens += other.completion_tokens


@dataclass
class ModelReply:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    duration_ms: float = 0.0
    recovered_text_calls: int = 0


@dataclass(frozen=True)
class Endpoint:
    """Where a model server is, as the user thinks of it and as we reach it."""

    specialist: str
    kind: str  # ollama | lmstudio | openai
    provider: str  # the provider's name in the inventory
    server: str  # the inventory server the model runs on (or is reached from)
    base_url: str  # the URL we actually call (the tunnel's local end when tunnelled)
    shown_url: str  # host:port as configured, for messages
    api_key_env: str | None = None
    timeout: float = 120.0
    max_tokens: int | None = None

    @property
    def where(self) -> str:
        return f"{self.kind} at {self.server} {self.shown_url}"


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """Tool arguments as an object, or an error the model can read and correct."""
    if isinstance(raw, dict):
        return raw, None
    if raw is None or raw == "":
        return {}, None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        return {}, f"arguments are not valid JSON ({exc}); send a JSON object"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None


def recover_text_calls(content: str) -> tuple[str, list[ToolCall]]:
    """Tool calls written as text by models whose server could not parse them."""
    calls: list[ToolCall] = []

    def take(match: re.Match[str]) -> str:
        body = match.group("a") if match.group("a") is not None else match.group("b")
        try:
            data = json.loads(body)
        except ValueError:
            return match.group(0)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return match.group(0)
        raw = data.get("arguments", data.get("parameters", {}))
        arguments, error = parse_arguments(raw)
        calls.append(
            ToolCall(
                id=f"call_{secrets.token_hex(6)}",
                name=data["name"],
                arguments=arguments,
                raw_arguments=raw if isinstance(raw, str) else json.dumps(raw),
                error=error,
            )
        )
        return ""

    rest = TEXT_CALL_RE.sub(take, content)
    return (rest.strip() if calls else content), calls


class ModelClient(ABC):
    """One model on one model server."""

    def __init__(self, endpoint: Endpoint, model: str):
        self.endpoint = endpoint
        self.model = model

    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_delta: OnDelta | None = None,
        temperature: float | None = None,
    ) -> ModelReply:
        """One model turn. Streams (and reports text deltas) when ``on_delta`` is given.

        Whatever the wire format, the reply is timed and tool calls written as text are recovered.
        """
        started = time.monotonic()
        # The provider's timeout bounds the whole turn. The HTTP clients apply it to each read
        # only, so a server that stalls between headers and the end of a stream, or trickles a
        # token just inside it, would otherwise hold the job until the specialist's own timeout.
        try:
            async with asyncio.timeout(self.endpoint.timeout):
                reply = await self._chat(messages, tools, on_delta=on_delta, temperature=temperature)
        except TimeoutError:
            raise self.timed_out() from None
        reply.duration_ms = round((time.monotonic() - started) * 1000, 3)
        if not reply.tool_calls:
            reply.content, reply.tool_calls = recover_text_calls(reply.content)
            reply.recovered_text_calls = len(reply.tool_calls)
        return reply

    @abstractmethod
    async def _chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_delta: OnDelta | None,
        temperature: float | None,
    ) -> ModelReply:
        """The wire-format part of ``chat``."""

    @abstractmethod
    async def list_models(self) -> list[dict[str, Any]]:
        """The models this server has, as ``{"name", ...}`` rows."""

    async def close(self) -> None:  # noqa: B027 - optional
        pass

    # -- shared error wording ----------------------------------------------------------------------

    def unavailable(self, detail: object) -> ModelUnavailableError:
        return ModelUnavailableError(
            f"model server for {self.endpoint.specialist} ({self.endpoint.where}) is not answering: {detail}",
            server=self.endpoint.server,
            hint="check that the model server runs there and listens on that address",
        )

    def not_found(self, available: list[str] | None = None) -> ModelNotFoundError:
        hint = f"models there: {', '.join(available)}" if available else "list them with GET /llm/models"
        return ModelNotFoundError(
            f"model '{self.model}' is not available on {self.endpoint.server} ({self.endpoint.kind})",
            server=self.endpoint.server,
            hint=hint,
        )

    def timed_out(self) -> ModelTimeoutError:
        return ModelTimeoutError(
            f"model '{self.model}' on {self.endpoint.server} ({self.endpoint.kind}) did not answer "
            f"within {self.endpoint.timeout:g}s",
            server=self.endpoint.server,
            hint="raise the provider's timeout, or use a smaller model",
        )

    def failed(self, status: int | None, message: str) -> ModelServerError:
        where = f"{self.endpoint.kind} at {self.endpoint.server}"
        code = f" (HTTP {status})" if status else ""
        return ModelServerError(f"model server {where} failed{code}: {message}", server=self.endpoint.server)

    def malformed(self, exc: Exception) -> ModelServerError:
        detail = exc.errors()[0]["msg"] if isinstance(exc, pydantic.ValidationError) else str(exc)
        return self.failed(None, f"the answer is not a {self.endpoint.kind} API answer: {detail[:200]}")

    async def _available_names(self) -> list[str] | None:
        try:
            return [m["name"] for m in await self.list_models()][:20]
        except Exception:
            return None


# -- OpenAI-compatible ------------------------------------------------------------------------------


class OpenAIClient(ModelClient):
    """OpenAI, LM Studio, llama.cpp, vLLM: ``/v1/chat/completions`` through the ``openai`` client.

    The client retries 429 and 5xx with backoff, honouring ``retry-after``.
    """

    def __init__(self, endpoint: Endpoint, model: str):
        super().__init__(endpoint, model)
        import openai

        self._openai = openai
        key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
        self._client = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=key or "not-needed",  # local servers take any key; the cloud says 401 and we say which
            timeout=endpoint.timeout,
            max_retries=3,
        )

    async def _chat(self, messages, tools, *, on_delta, temperature) -> ModelReply:  # type: ignore[no-untyped-def]
        messages = [_to_openai(m) for m in messages]
        options: dict[str, Any] = {}
        if tools:
            options["tools"] = tools
        if temperature is not None:
            options["temperature"] = temperature
        if self.endpoint.max_tokens:
            options["max_tokens"] = self.endpoint.max_tokens
        try:
            if on_delta is None:
                response = await self._client.chat.completions.create(
                    model=self.model, messages=messages, **options
                )
                reply = self._from_completion(response)
            else:
                stream = await self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                    **options,
                )
                reply = await self._from_stream(stream, on_delta)
        except self._openai.APIError as exc:
            raise await self._translate(exc) from None
        except httpx.TimeoutException:  # a read timing out mid-stream is not wrapped by the client
            raise self.timed_out() from None
        except httpx.HTTPError as exc:
            raise self.unavailable(exc) from None
        except MALFORMED as exc:
            raise self.malformed(exc) from None
        return reply

    def _from_completion(self, response: Any) -> ModelReply:
        if not response.choices:
            raise self.failed(None, "the answer has no choices")
        choice = response.choices[0]
        message = choice.message
        calls = []
        for call in message.tool_calls or []:
            arguments, error = parse_arguments(call.function.arguments)
            calls.append(
                ToolCall(
                    id=call.id or f"call_{secrets.token_hex(6)}",
                    name=call.function.name,
                    arguments=arguments,
                    raw_arguments=call.function.arguments or "",
                    error=error,
                )
            )
        usage = response.usage
        return ModelReply(
            content=message.content or "",
            tool_calls=calls,
            usage=Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else None,
            finish_reason=choice.finish_reason,
        )

    async def _from_stream(self, stream: Any, on_delta: OnDelta) -> ModelReply:
        text: list[str] = []
        parts: dict[int, dict[str, Any]] = {}  # index -> {id, name, arguments: [fragments]}
        usage: Usage | None = None
        finish: str | None = None
        async for chunk in stream:
            if getattr(chunk, "usage", None):
                usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
            for choice in chunk.choices or []:  # the usage chunk has [] or, on some servers, null
                delta = choice.delta
                if delta is not None and delta.content:
                    text.append(delta.content)
                    on_delta(delta.content)
                for call in (delta.tool_calls if delta is not None else None) or []:
                    part = parts.setdefault(call.index, {"id": None, "name": "", "arguments": []})
                    if call.id:
                        part["id"] = call.id
                    if call.function is not None:
                        if call.function.name:
                            part["name"] += call.function.name
                        if call.function.arguments:
                            part["arguments"].append(call.function.arguments)
                finish = choice.finish_reason or finish
        calls = []
        for _, part in sorted(parts.items()):
            raw = "".join(part["arguments"])
            arguments, error = parse_arguments(raw)
            calls.append(
                ToolCall(
                    id=part["id"] or f"call_{secrets.token_hex(6)}",
                    name=part["name"],
                    arguments=arguments,
                    raw_arguments=raw,
                    error=error,
                )
            )
        return ModelReply(content="".join(text), tool_calls=calls, usage=usage, finish_reason=finish)

    async def _translate(self, exc: Exception) -> Exception:
        o = self._openai
        if isinstance(exc, o.APITimeoutError):
            return self.timed_out()
        if isinstance(exc, o.APIConnectionError):
            return self.unavailable(exc.__cause__ or exc)
        if isinstance(exc, o.AuthenticationError):
            env = self.endpoint.api_key_env
            return ModelAuthError(
                f"model server {self.endpoint.kind} at {self.endpoint.server} refused the API key",
                server=self.endpoint.server,
                hint=f"set {env} in the gateway's environment" if env else "set the provider's apiKeyEnv",
            )
        if isinstance(exc, o.NotFoundError):
            return self.not_found(await self._available_names())
        if isinstance(exc, o.APIStatusError):
            return self.failed(exc.status_code, _message_of(exc))
        return self.failed(None, str(exc))

    async def list_models(self) -> list[dict[str, Any]]:
        try:
            page = await self._client.models.list()
            return [{"name": m.id, "owned_by": getattr(m, "owned_by", None)} for m in page.data]
        except self._openai.APIError as exc:
            raise await self._translate_list(exc) from None
        except httpx.HTTPError as exc:
            raise self.unavailable(exc) from None
        except MALFORMED as exc:
            raise self.malformed(exc) from None

    async def _translate_list(self, exc: Exception) -> Exception:
        if isinstance(exc, self._openai.NotFoundError):
            return self.failed(404, "this server has no /v1/models")
        return await self._translate(exc)

    async def close(self) -> None:
        await self._client.close()


def _to_openai(message: dict[str, Any]) -> dict[str, Any]:
    """Tool replies carry only ``tool_call_id`` in the OpenAI shape (``name`` is for Ollama)."""
    if message["role"] == "tool":
        return {k: v for k, v in message.items() if k != "name"}
    return message


def _message_of(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", exc))


# -- Ollama -----------------------------------------------------------------------------------------


class OllamaClient(ModelClient):
    """Ollama's native ``/api/chat`` through the ``ollama`` client.

    Streaming is NDJSON; a tool call arrives whole in one chunk with object arguments; an error
    during a stream is a ``{"error"}`` line under HTTP 200, which the client raises. The client does
    not retry, so 429/503 (queue full) are retried here with backoff.
    """

    def __init__(self, endpoint: Endpoint, model: str):
        super().__init__(endpoint, model)
        import ollama

        self._ollama = ollama
        headers = {}
        key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = ollama.AsyncClient(host=endpoint.base_url, timeout=endpoint.timeout, headers=headers)

    async def close(self) -> None:
        await self._client.close()

    async def _chat(self, messages, tools, *, on_delta, temperature) -> ModelReply:  # type: ignore[no-untyped-def]
        converted = [_to_ollama(m) for m in messages]
        options: dict[str, Any] = {}
        if temperature is not None:
            options["temperature"] = temperature
        if self.endpoint.max_tokens:
            options["num_predict"] = self.endpoint.max_tokens
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                reply = await self._chat_once(converted, tools, on_delta, options)
                break
            except self._ollama.ResponseError as exc:
                if exc.status_code in RETRY_STATUSES and delay is not None and attempt < len(RETRY_DELAYS):
                    await asyncio.sleep(delay)
                    continue
                raise await self._translate(exc) from None
            except httpx.TimeoutException:
                raise self.timed_out() from None
            except (httpx.HTTPError, ConnectionError) as exc:
                raise self.unavailable(exc) from None
            except MALFORMED as exc:
                raise self.malformed(exc) from None  # not JSON, or tool arguments that are not an object
        return reply

    async def _chat_once(self, messages, tools, on_delta, options) -> ModelReply:  # type: ignore[no-untyped-def]
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "options": options or None}
        if tools:
            kwargs["tools"] = tools
        if on_delta is None:
            return self._reply([await self._client.chat(**kwargs, stream=False)])
        chunks = []
        async for chunk in await self._client.chat(**kwargs, stream=True):
            chunks.append(chunk)
            if chunk.message is not None and chunk.message.content:
                on_delta(chunk.message.content)  # live, as the model writes
        return self._reply(chunks)

    def _reply(self, chunks: list[Any]) -> ModelReply:
        text: list[str] = []
        calls: list[ToolCall] = []
        last = chunks[-1] if chunks else None
        for chunk in chunks:
            message = chunk.message
            if message is None:
                continue
            if message.content:
                text.append(message.content)
            for call in message.tool_calls or []:
                arguments, error = parse_arguments(call.function.arguments)
                calls.append(
                    ToolCall(
                        id=f"call_{secrets.token_hex(6)}",
                        name=call.function.name,
                        arguments=arguments,
                        raw_arguments=json.dumps(call.function.arguments, default=str),
                        error=error,
                    )
                )
        usage = None
        if last is not None and last.done:
            usage = Usage(last.prompt_eval_count or 0, last.eval_count or 0)
        return ModelReply(
            content="".join(text),
            tool_calls=calls,
            usage=usage,
            finish_reason=getattr(last, "done_reason", None),
        )

    async def _translate(self, exc: Any) -> Exception:
        message = str(getattr(exc, "error", exc))
        if exc.status_code == 404 and "not found" in message:
            return self.not_found(await self._available_names())
        if exc.status_code in (401, 403):
            return ModelAuthError(
                f"model server ollama at {self.endpoint.server} refused the request: {message}",
                server=self.endpoint.server,
            )
        status = exc.status_code if exc.status_code and exc.status_code > 0 else None
        return self.failed(status, message)

    async def list_models(self) -> list[dict[str, Any]]:
        try:
            listed = await self._client.list()
        except self._ollama.ResponseError as exc:
            raise self.failed(exc.status_code, str(exc.error)) from None
        except httpx.TimeoutException:
            raise self.timed_out() from None
        except (httpx.HTTPError, ConnectionError) as exc:
            raise self.unavailable(exc) from None
        except MALFORMED as exc:
            raise self.malformed(exc) from None
        rows = []
        for model in listed.models:
            details = model.details
            rows.append(
                {
                    "name": model.model,
                    "size": model.size,
                    "family": getattr(details, "family", None) if details else None,
                    "parameter_size": getattr(details, "parameter_size", None) if details else None,
                }
            )
        return rows


def _to_ollama(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped message in Ollama's shape (object arguments, ``tool_name`` on replies)."""
    out = {"role": message["role"], "content": message.get("content") or ""}
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                "function": {
                    "name": c["function"]["name"],
                    "arguments": parse_arguments(c["function"]["arguments"])[0],
                }
            }
            for c in message["tool_calls"]
        ]
    if message["role"] == "tool" and message.get("name"):
        out["tool_name"] = message["name"]
    return out


def make_client(endpoint: Endpoint, model: str) -> ModelClient:
    return OllamaClient(endpoint, model) if endpoint.kind == "ollama" else OpenAIClient(endpoint, model)

"""Finding a specialist, reaching its model server, and rendering its system prompt.

``provider`` in an execute-llm request is resolved, in this order, as a specialist name
(``specialists:``), a server with an ``llm`` block, or a provider name used on the caller's
current server. A model server configured on localhost of an ssh server runs ON that host: it is
reached through the executor's SSH tunnel, never by the gateway's own localhost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader, StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from gtp_remote.config import DEFAULT_BASE_URLS, Inventory
from gtp_remote.errors import (
    GtpError,
    InvalidRequestError,
    InventoryError,
    ModelUnavailableError,
    TunnelError,
    UnknownServerError,
    UnknownSpecialistError,
)
from gtp_remote.executors.output import clip_text
from gtp_remote.llm.providers import Endpoint, ModelClient, make_client
from gtp_remote.llm.tools import Toolbox
from gtp_remote.specialists import SpecialistConfig

if TYPE_CHECKING:
    from gtp_remote.gateway import Gateway

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
FACT_CHARS = 4000

DEFAULT_TEMPLATE = """\
You are {{ specialist }}, a specialist assistant working on the server {{ host.hostname }} \
({{ host.os }}){% if description %}: {{ description }}{% endif %}.
Your working directory there is {{ host.cwd }}.
Use your tools to do the task; every call runs on that server. Tools: {{ tools | join(", ") }}.
{% for name, value in facts.items() %}
## {{ name }}
{{ value }}
{% endfor %}
When you are done, answer with a short summary of what you found or changed.
"""


# What the prompt says about the host: `uname -n`, `uname -sr` and `pwd`, read from /proc by
# shell builtins where there is one (the same values, without two execs: ~2 ms of each call).
HOST_PROBE = (
    "if [ -r /proc/sys/kernel/osrelease ]; then"
    " read -r h </proc/sys/kernel/hostname; read -r s </proc/sys/kernel/ostype;"
    ' read -r r </proc/sys/kernel/osrelease; printf \'%s\\n%s %s\\n\' "$h" "$s" "$r";'
    " else uname -n; uname -sr; fi; pwd"
)


@dataclass(frozen=True)
class Specialist:
    """A resolved specialist: the config plus the provider, model and server it ends up using."""

    name: str
    server: str
    provider: str
    kind: str
    model: str
    config: SpecialistConfig
    configured: bool  # True when it comes from ``specialists:``, False when made up on the fly


class LLMService:
    """The execute-llm side of the core: the CLI and the HTTP API both call it."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        #: (specialist, model) -> its client; replaced when the URL or the tunnel's port changes.
        self._clients: dict[tuple[str, str, str], ModelClient] = {}
        self._prompts = SandboxedEnvironment(
            loader=ChoiceLoader(
                [FileSystemLoader([str(d) for d in self.inventory.template_dirs]), DictLoader({})]
            ),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
        )
        self._default_template: Template | None = None  # compiled once: ~1.5 ms a time

    @property
    def inventory(self) -> Inventory:
        return self.gateway.inventory

    # -- resolution ------------------------------------------------------------------------------------

    def names(self, visible: Callable[[str], bool] = lambda _: True) -> dict[str, list[str]]:
        """What can be asked, on the servers ``visible`` lets the caller see."""
        inv = self.inventory
        return {
            "specialists": sorted(n for n, spec in inv.specialists.items() if visible(spec.server)),
            "servers": sorted(n for n, s in inv.servers.items() if s.llm and visible(n)),
            "providers": sorted(set(inv.providers) | set(DEFAULT_BASE_URLS)),
        }

    def resolve(
        self,
        name: str,
        *,
        current: str | None,
        server: str | None = None,
        model: str | None = None,
        visible: Callable[[str], bool] = lambda _: True,
    ) -> Specialist:
        """The specialist, server model or provider ``name`` stands for. ``visible`` says which
        servers the caller may see: a specialist or server model on any other is as unknown to
        it as a name that does not exist, so a scoped token learns nothing more from an error."""
        inv = self.inventory
        if name in inv.specialists and visible(inv.specialists[name].server):
            config = inv.specialists[name]
            if server and server != config.server:
                raise InvalidRequestError(
                    f"specialist '{name}' works on server '{config.server}', not '{server}'",
                    hint="omit server, or name a provider to use a model on another server",
                )
            configured = True
        elif name in inv.servers and inv.servers[name].llm and visible(name):
            if server and server != name:
                raise InvalidRequestError(f"'{name}' is a server's model; server must be '{name}' or omitted")
            config = SpecialistConfig(server=name, description=f"the model of server {name}")
            configured = False
        elif name in inv.providers or name in DEFAULT_BASE_URLS:
            target = server or current
            if not target:
                raise InvalidRequestError(
                    f"provider '{name}' needs a server: pass server or POST /server/set"
                )
            if target not in inv.servers:
                shown = ", ".join(n for n in inv.servers if visible(n)) or "none"
                raise UnknownServerError(f"unknown server '{target}'", hint=f"your servers: {shown}")
            config = SpecialistConfig(server=target, provider=name)
            configured = False
        else:
            names = self.names(visible)
            raise UnknownSpecialistError(  # the name is not echoed: the answer is the same for any
                "no specialist, server model or provider you may use has the name given in provider",
                hint=(
                    f"specialists: {', '.join(names['specialists']) or 'none'}; "
                    f"servers with a model: {', '.join(names['servers']) or 'none'}; "
                    f"providers: {', '.join(names['providers'])}"
                ),
            )
        host = inv.get(config.server)
        provider = config.provider or (host.llm.provider if host.llm else None)
        if provider is None:
            raise UnknownSpecialistError(f"server '{host.name}' has no model (no llm block)")
        chosen = (
            model or config.model or (host.llm.model if host.llm and host.llm.provider == provider else None)
        )
        settings = inv.providers.get(provider)
        chosen = chosen or (settings.default_model if settings else None)
        if not chosen:
            raise InvalidRequestError(  # the request can name one: not the gateway's failure
                f"no model for {name}: pass model, or set llm.model on server '{host.name}' or "
                f"llm.providers.{provider}.defaultModel",
                server=host.name,
            )
        kind = (settings.type if settings and settings.type else None) or provider
        return Specialist(name, host.name, provider, kind, chosen, config, configured)

    # -- model servers ---------------------------------------------------------------------------------

    def _configured_url(self, specialist: Specialist) -> str:
        host = self.inventory.get(specialist.server)
        settings = self.inventory.providers.get(specialist.provider)
        server_url = host.llm.base_url if host.llm and host.llm.provider == specialist.provider else None
        url = (
            specialist.config.base_url
            or server_url
            or (settings.base_url if settings else None)
            or DEFAULT_BASE_URLS[specialist.kind]
        )
        parts = urlsplit(url.rstrip("/"))
        if specialist.kind != "ollama" and parts.path in ("", "/"):
            parts = parts._replace(path="/v1")  # LM Studio's documented base is http://host:1234/v1
        return urlunsplit(parts)

    async def client(self, specialist: Specialist) -> ModelClient:
        """A client for the specialist's model, through a tunnel when the model is on the host."""
        url = self._configured_url(specialist)
        parts = urlsplit(url)
        host = self.inventory.get(specialist.server)
        settings = self.inventory.providers.get(specialist.provider)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        shown = f"{parts.hostname}:{port}"
        actual = url
        if host.protocol == "ssh" and (parts.hostname or "") in LOCAL_HOSTS:
            remote = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname or "127.0.0.1"
            try:
                local_host, local_port = await self.gateway.open_tunnel(host.name, remote, port)
            except TunnelError as exc:
                raise ModelUnavailableError(
                    f"model server for {specialist.name} ({specialist.kind} at {host.name} {shown}) "
                    "is not answering",
                    server=host.name,
                    hint=f"{exc.message}; start the model server there, or fix llm.baseUrl",
                ) from None
            actual = urlunsplit(parts._replace(netloc=f"{local_host}:{local_port}"))
        api_key_env = settings.api_key_env if settings else None
        endpoint = Endpoint(
            specialist=specialist.name,
            kind=specialist.kind,
            provider=specialist.provider,
            server=host.name,
            base_url=actual,
            shown_url=shown,
            api_key_env=api_key_env,
            timeout=settings.timeout if settings else 120.0,
            max_tokens=specialist.config.max_tokens or (settings.max_tokens if settings else None),
        )
        # Keyed by specialist and server (a bare provider's name is the same on every server it
        # is asked on), so error messages name the one asking and concurrent jobs on two servers
        # never replace each other's client. A tunnel reopened on a new port (after a reconnect)
        # replaces the client; the old one's connections died with the old tunnel, and closing
        # it frees them.
        key = (specialist.name, specialist.model, host.name)
        client = self._clients.get(key)
        if client is None or client.endpoint != endpoint:
            if client is not None:
                await client.close()
            client = self._clients[key] = make_client(endpoint, specialist.model)
        return client

    async def list_models(
        self, server: str, provider: str | None = None, *, visible: Callable[[str], bool] = lambda _: True
    ) -> dict[str, Any]:
        """The models the server's provider has (``/api/tags`` or ``/v1/models``). ``provider``
        is resolved as in :meth:`resolve`, with the caller's ``visible``: a specialist or server
        model the caller may not see is as unknown as one that does not exist."""
        host = self.inventory.get(server)
        name = provider or (host.llm.provider if host.llm else None)
        if name is None:
            raise UnknownSpecialistError(
                f"server '{server}' has no llm block", hint="pass provider=NAME to ask a provider there"
            )
        specialist = self.resolve(name, current=server, server=server, model="-", visible=visible)
        client = await self.client(specialist)
        models = await client.list_models()
        return {"server": server, "provider": specialist.provider, "kind": specialist.kind, "models": models}

    async def health(self, server: str) -> dict[str, Any] | None:
        """Whether the server's model server answers, for ``GET /server/list?check=1``."""
        host = self.inventory.get(server)
        if host.llm is None:
            return None
        try:
            listed = await asyncio.wait_for(self.list_models(server), 10)
        except Exception as exc:  # health is reported, never raised: one bad server spoils no list
            if isinstance(exc, GtpError):
                message = exc.message
            elif isinstance(exc, TimeoutError):
                message = "no answer within 10s"
            else:
                message = f"{type(exc).__name__}: {exc}"
            return {"ok": False, "error": message}
        return {"ok": True, "models": len(listed["models"])}

    # -- prompts ---------------------------------------------------------------------------------------

    async def system_prompt(self, specialist: Specialist, toolbox: Toolbox) -> str:
        """The specialist's template rendered with facts gathered on its host (the owner's
        configured commands: run and audited by the gateway, not judged as model output)."""
        host = {"hostname": specialist.server, "os": "unknown", "cwd": "unknown", "name": specialist.server}
        try:
            probe = await self.gateway.run_configured(
                specialist.server, HOST_PROBE, timeout=15, why="host-probe", audit=False
            )
            lines = probe.stdout.splitlines()
            if len(lines) >= 3:
                host.update(hostname=lines[0], os=lines[1], cwd=lines[2])
        except GtpError:
            pass
        facts: dict[str, str] = {}
        for fact, command in specialist.config.facts.items():
            try:
                result = await self.gateway.run_configured(
                    specialist.server, command, timeout=30, why="facts"
                )
                text = result.stdout if result.ok else f"(failed, exit {result.exit_code}) {result.stderr}"
            except GtpError as exc:
                text = f"(unavailable: {exc.message})"
            facts[fact] = clip_text(text.strip(), FACT_CHARS)[0]
        context = {
            "specialist": specialist.name,
            "description": specialist.config.description,
            "server": specialist.server,
            "host": host,
            "tools": toolbox.names,
            "tool_descriptions": {n: toolbox.schema(n)[0] for n in toolbox.names},
            "facts": facts,
            "vars": specialist.config.vars,
            "model": specialist.model,
        }
        try:
            if specialist.config.template:
                template = self._prompts.get_template(specialist.config.template)
            else:
                if self._default_template is None:
                    self._default_template = self._prompts.from_string(DEFAULT_TEMPLATE)
                template = self._default_template
            return template.render(context).strip()
        except TemplateError as exc:
            raise InventoryError(
                f"specialists.{specialist.name}.template: {specialist.config.template}: {exc}"
            ) from None

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def describe(specialist: Specialist) -> dict[str, str]:
    return {
        "specialist": specialist.name,
        "server": specialist.server,
        "provider": specialist.provider,
        "model": specialist.model,
    }

"""The inventory: which servers exist, how to reach them, and which model each one has.

An inventory is a folder (default ``./hosts``) of YAML or JSON files, or one such file. Three
document forms are accepted, because the product brief uses all of them:

* the multi-server form: ``{"servers": {NAME: {...}}, "llm": {"providers": {...}}}``;
* the single-server form: a server's own keys at the top level (``{"hostname": ..., "llm": ...}``),
  named by its ``name`` key or else its ``hostname``;
* a providers-only file: ``{"llm": {"providers": {...}}}``.

Keys may be written in snake_case or camelCase (``max_sessions`` / ``maxSessions``,
``base_url`` / ``baseUrl``). Unknown keys are errors, so a typo is reported instead of ignored,
and every error names the file, the server and the field. Secrets never live here: a provider
names the environment variable that holds its key (``apiKeyEnv``).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gtp_remote.ansible_inventory import add_ansible, inventory_sources
from gtp_remote.errors import InventoryError, UnknownServerError
from gtp_remote.patterns import Universe, group_hint, select
from gtp_remote.policy import PolicyConfig, rule_warnings
from gtp_remote.schema import INVENTORY_CONFIG
from gtp_remote.settings import Settings
from gtp_remote.specialists import BUILTIN_TOOLS, CliToolConfig, SpecialistConfig

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_KEYS = {"password", "passphrase", "apikey", "api_key", "token", "secret", "private_key"}
INVENTORY_SUFFIXES = (".yaml", ".yml", ".json")

#: Where each provider kind listens when the inventory does not say.
DEFAULT_BASE_URLS = {
    "ollama": "http://localhost:11434",
    "lmstudio": "http://localhost:1234/v1",
    "openai": "https://api.openai.com/v1",
}
ProviderKind = Literal["ollama", "lmstudio", "openai"]


def _port(value: Any) -> Any:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
    if isinstance(value, str) and value.isdigit() and 1 <= int(value) <= 65535:
        return int(value)
    if not ok:
        raise PydanticCustomError("port", "must be an integer 1-65535, got {got}", {"got": json.dumps(value)})
    return value


def _str_list(value: Any) -> Any:
    """Accept ``key: one`` as well as ``key: [one, two]``."""
    return [value] if isinstance(value, str) else value


Port = Annotated[int, BeforeValidator(_port)]
StrList = Annotated[list[str], BeforeValidator(_str_list)]


class ProviderConfig(BaseModel):
    """A model server kind and where it listens (``llm.providers.NAME``)."""

    model_config = INVENTORY_CONFIG

    type: ProviderKind | None = Field(
        None, description="ollama, lmstudio or openai; defaults to the provider's own name"
    )
    base_url: str | None = None
    default_model: str | None = None
    api_key_env: str | None = Field(None, description="name of the environment variable holding the API key")
    timeout: float = Field(120.0, gt=0, description="seconds one model reply (streamed or not) may take")
    max_tokens: int | None = Field(None, ge=1, description="cap on tokens per model reply")

    @model_validator(mode="after")
    def _env_name(self) -> ProviderConfig:
        if self.api_key_env is not None and not ENV_NAME_RE.match(self.api_key_env):
            raise PydanticCustomError(
                "env_name",
                "apiKeyEnv must name an environment variable (like OPENAI_API_KEY), got {got}",
                {"got": json.dumps(self.api_key_env)},
            )
        return self


class LLMProviders(BaseModel):
    """The top-level ``llm`` block."""

    model_config = INVENTORY_CONFIG

    providers: dict[str, ProviderConfig] = {}


class ServerLLM(BaseModel):
    """A server's own model (``servers.NAME.llm``)."""

    model_config = INVENTORY_CONFIG

    provider: str
    model: str | None = None
    base_url: str | None = None


class Server(BaseModel):
    """One host gtp-remote can run work on."""

    model_config = INVENTORY_CONFIG

    name: str = ""
    description: str | None = None
    protocol: Literal["local", "ssh"] | None = Field(
        None, description="ssh when a host is given, local otherwise"
    )
    host: str | None = Field(None, validation_alias=AliasChoices("host", "hostname"))
    port: Port | None = None
    username: str | None = Field(None, validation_alias=AliasChoices("username", "user"))
    identity_files: StrList = Field(
        [],
        validation_alias=AliasChoices("identity_files", "identityFiles", "identity_file", "identityFile"),
    )
    known_hosts: str | None = None
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    jump: str | None = None
    connect_timeout: float = Field(10.0, gt=0)
    keepalive: float = Field(15.0, ge=0, description="seconds between keepalives; 0 disables")
    max_sessions: int = Field(
        8, ge=1, le=256, description="channels per connection; keep below sshd's MaxSessions"
    )
    persistent_shell: bool = Field(
        True, description="run commands through a reused bash on the host instead of a channel each"
    )
    env: dict[str, str] = {}
    cwd: str | None = None
    become: bool = Field(
        False, description="run every command as become_user through become_method (sudo -n): for everyone"
    )
    become_user: str = Field("root", pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]*$", description="who to become")
    become_method: Literal["sudo"] = Field(
        "sudo", description="how: sudo, non-interactive (a NOPASSWD rule for the login user)"
    )
    root: str | None = Field(None, description="file operations are confined below this path")
    files: Literal["auto", "confined", "sftp"] = Field(
        "auto",
        description="ssh servers: how file operations reach the host: 'confined' opens by descriptor "
        "in a python3 helper there; 'sftp' goes by name (a process on the host can race it); 'auto' "
        "is confined where the host has python3, else sftp for a server without root",
    )
    groups: StrList = []
    llm: ServerLLM | None = None
    policy: PolicyConfig | None = Field(None, description="rules every action on this server passes")

    @model_validator(mode="after")
    def _defaults(self) -> Server:
        protocol = self.protocol or ("ssh" if self.host else "local")
        object.__setattr__(self, "protocol", protocol)
        if protocol == "ssh" and not self.host:
            object.__setattr__(self, "host", self.name)
        if self.host and (self.host.startswith("-") or any(c.isspace() or c == "\0" for c in self.host)):
            raise PydanticCustomError(  # never an option to whatever reads it, never two words
                "host", "must be a host name or address, got {got}", {"got": json.dumps(self.host)}
            )
        for key in self.env:
            if not ENV_NAME_RE.match(key):
                raise PydanticCustomError(
                    "env_name", "env keys must be variable names, got {got}", {"got": json.dumps(key)}
                )
        return self

    @property
    def address(self) -> str:
        """Where the server is, for tables and messages."""
        if self.protocol == "local":
            return "local"
        user = f"{self.username}@" if self.username else ""
        port = f":{self.port}" if self.port else ""
        via = f" via {self.jump}" if self.jump else ""
        return f"{user}{self.host}{port}{via}"


#: Server settings a ``defaults:`` block or a group cannot give: they say which server it is.
NOT_INHERITED = ("name", "host", "groups")


def _optional_settings(model: type[BaseModel], exclude: tuple[str, ...]) -> dict[str, Any]:
    """``model``'s fields, each optional with no default, so that what a block *sets* is known
    (``model_fields_set``) and is validated exactly as on a server (same types and bounds)."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in exclude:
            continue
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        out[name] = (
            annotation | None,
            Field(None, validation_alias=info.validation_alias, description=info.description),
        )
    return out


ServerSettings = create_model(
    "ServerSettings",
    __config__=INVENTORY_CONFIG,
    __doc__="Server settings given to many servers (``defaults:``, ``groups.NAME``); unset is None.",
    **_optional_settings(Server, NOT_INHERITED),
)


class GroupConfig(ServerSettings):  # type: ignore[misc, valid-type]
    """Settings of a group of servers (``groups.NAME``), which its servers inherit: any server
    setting, plus ``description`` and ``policy``. The policy is not inherited into the server's
    own: it stays the group's layer (``Inventory.policies``)."""

    policy: PolicyConfig | None = Field(None, description="rules every action on the group's servers passes")


NotifyEvent = Literal["awaiting_approval", "failed", "succeeded"]


class WebhookConfig(BaseModel):
    """``notifications.webhooks[]``: where to tell people about jobs (Slack-compatible JSON). A
    URL that holds a secret (a Slack webhook's does) is named by ``url_env``, never written here."""

    model_config = INVENTORY_CONFIG

    url: str | None = Field(None, pattern=r"^https?://", description="the receiver's URL")
    url_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="a variable holding it"
    )
    events: list[NotifyEvent] = Field(["awaiting_approval"], min_length=1, description="which events to send")
    timeout: float = Field(10.0, gt=0, le=60, description="seconds per delivery attempt")

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        return self


class Notifications(BaseModel):
    model_config = INVENTORY_CONFIG

    webhooks: list[WebhookConfig] = []


class InventoryFile(BaseModel):
    """One inventory document in the multi-server form."""

    model_config = INVENTORY_CONFIG

    servers: dict[str, dict[str, Any]] = {}
    defaults: ServerSettings | None = None  # type: ignore[valid-type]
    groups: dict[str, GroupConfig] = {}
    notifications: Notifications | None = None
    llm: LLMProviders | None = None
    specialists: dict[str, SpecialistConfig] = {}
    tools: dict[str, CliToolConfig] = {}


@dataclass
class Inventory:
    """All servers, providers and specialists, merged from every inventory file."""

    servers: dict[str, Server] = field(default_factory=dict)
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    specialists: dict[str, SpecialistConfig] = field(default_factory=dict)
    tools: dict[str, CliToolConfig] = field(default_factory=dict)
    group_settings: dict[str, GroupConfig] = field(default_factory=dict)
    webhooks: list[WebhookConfig] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    #: Legal but probably unintended settings (a rule glob ending inside a word), with where.
    warnings: list[str] = field(default_factory=list)
    #: An Ansible group's hosts in Ansible's own order (``ansible_inventory.host_order``).
    group_order: dict[str, list[str]] = field(default_factory=dict)
    #: Where prompt templates are looked up, first match wins (see ``template_dirs``).
    template_dirs: list[Path] = field(default_factory=list)
    #: The ``defaults:`` block (every server inherits it), and the file it is in.
    defaults: Any = None
    defaults_source: str | None = None
    #: Policy layers every server passes: ``defaults.policy``, an Ansible ``all`` group's ``gtp_policy``.
    default_policies: list[tuple[str, PolicyConfig]] = field(default_factory=list)

    def get(self, name: str) -> Server:
        try:
            return self.servers[name]
        except KeyError:
            hint = group_hint(name, self.universe()) or self._suggest(name)
            raise UnknownServerError(f"unknown server '{name}'", hint=hint) from None

    def groups(self) -> dict[str, list[str]]:
        """Each group's servers, in Ansible's order for a group of an Ansible inventory (what
        ``web[0]`` counts), else in inventory order; a group known only from ``groups:``
        settings is there too, with no member (patterns may name it)."""
        out: dict[str, list[str]] = {}
        for server in self.servers.values():
            for group in server.groups:
                out.setdefault(group, []).append(server.name)
        for group in self.group_settings:
            out.setdefault(group, [])
        for group, order in self.group_order.items():
            if group in out and group != "all":
                members = set(out[group])
                ranked = [n for n in order if n in members]
                placed = set(ranked)
                out[group] = ranked + [n for n in out[group] if n not in placed]
        return out

    def ordered(self) -> list[str]:
        """Server names in the order ``all`` lists them (what ``all[0]`` counts): Ansible's for
        the hosts of an Ansible inventory, else the inventory's."""
        order = self.group_order.get("all")
        if not order:
            return list(self.servers)
        ranked = [n for n in order if n in self.servers]
        seen = set(ranked)
        return ranked + [n for n in self.servers if n not in seen]

    def universe(self) -> Universe:
        """Every server and group, as host patterns see them (see ``gtp_remote.patterns``)."""
        return Universe.of(
            self.ordered(), self.groups(), servers_label="known servers", groups_label="groups"
        )

    def server_groups(self, name: str) -> list[str]:
        server = self.servers.get(name)
        return list(server.groups) if server is not None else []

    def policies(self, name: str) -> list[tuple[str, PolicyConfig]]:
        """The policies set on a server and on its groups, each with whose it is."""
        server = self.get(name)
        out = [(f"server {name}", server.policy)] if server.policy is not None else []
        for group in server.groups:
            settings = self.group_settings.get(group)
            if settings is not None and settings.policy is not None:
                out.append((f"group {group}", settings.policy))
        return out + self.default_policies

    def resolve(self, target: str, limit: str | None = None) -> list[Server]:
        """The servers an Ansible host pattern selects (``web*:!web3``, ``group:NAME``, ``all``,
        a comma list; see ``gtp_remote.patterns``), within ``limit`` if given.

        The order follows the pattern; a server named twice is returned once.
        """
        return [self.servers[n] for n in select(target, self.universe(), limit=limit)]

    def _suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.servers), n=1)
        known = ", ".join(sorted(self.servers)) or "none"
        return (f"did you mean '{close[0]}'? " if close else "") + f"known servers: {known}"


class _Problems:
    """Where the loader's errors go: raised at the first (a server must not start on a set-up
    it misreads), or, for ``gtp-remote check``, collected so every one is listed at once; then
    what failed is left out and the loading goes on with the rest."""

    def __init__(self, sink: list[str] | None):
        self.sink = sink

    @contextlib.contextmanager
    def each(self) -> Iterator[None]:
        if self.sink is None:
            yield
            return
        try:
            yield
        except InventoryError as exc:
            self.sink.append(str(exc))


def load_inventory(
    path: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    *,
    problems: list[str] | None = None,
) -> Inventory:
    """Load and validate every inventory file under ``path`` (a folder or one file); without a
    path, the settings' (``GTP_INVENTORY``), else ``./hosts``, else the user's config folder's.

    With ``problems`` (a list), errors are appended to it instead of raised, and the inventory
    holds what loaded (``gtp-remote check``); a missing inventory is still raised."""
    settings = settings or Settings.from_env()
    collect = _Problems(problems)
    root = Path(path) if path is not None else settings.inventory_path()
    if root.is_dir():
        files, ansible_files = inventory_sources(root)
        if not files and not ansible_files:
            raise InventoryError(
                f"{root}: no inventory files (*.yaml, *.yml, *.json, or an Ansible inventory)",
                hint="create one, or point --inventory / GTP_INVENTORY at the right folder",
            )
    elif root.is_file():
        files, ansible_files = inventory_sources(root)
    else:
        looked = "" if path is not None or settings.inventory else f" (nor {settings.config_inventory})"
        raise InventoryError(
            f"{root}: inventory not found{looked}", hint="pass --inventory PATH or set GTP_INVENTORY"
        )
    inventory = Inventory(template_dirs=template_dirs(root, settings.templates))
    for file in files:
        with collect.each():
            _merge(inventory, file, _load_file(file, collect))
    if ansible_files:
        with collect.each():
            add_ansible(inventory, ansible_files, root)
    with collect.each():
        _inherit(inventory)
    _check_references(inventory, collect)
    return inventory


def template_dirs(root: Path, extra: tuple[Path, ...] = ()) -> list[Path]:
    """Prompt template folders: ``extra`` ($GTP_TEMPLATES), then ``templates/`` beside or above
    the inventory.

    ``hosts/`` and ``templates/`` sit side by side in a project, so ``hosts/../templates`` is
    the usual hit; ``./templates`` covers an inventory kept elsewhere.
    """
    base = root if root.is_dir() else root.parent
    candidates = [*extra, base / "templates", base.parent / "templates", Path("templates")]
    out: list[Path] = []
    for candidate in candidates:
        resolved = candidate.resolve()
        if resolved.is_dir() and resolved not in out:
            out.append(resolved)
    return out


def _read(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
        return json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"{file}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InventoryError(f"{file}{where}: invalid YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{file}: cannot read: {exc}") from None


SINGLE_SERVER_KEYS = {"hostname", "host", "protocol"}


def _load_file(file: Path, collect: _Problems | None = None) -> tuple[InventoryFile, dict[str, Server]]:
    collect = collect or _Problems(None)
    doc = _read(file)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InventoryError(f"{file}: must be a mapping at the top level, got {type(doc).__name__}")
    if SINGLE_SERVER_KEYS & doc.keys() and "servers" not in doc:
        name = doc.get("name") or doc.get("hostname") or doc.get("host")
        servers = {str(name): _validate_server(file, str(name), dict(doc), prefix=())}
        return InventoryFile(), servers
    try:
        parsed = InventoryFile.model_validate(doc)
    except ValidationError as exc:
        raise InventoryError(_format_errors(file, exc, (), InventoryFile)) from None
    servers = {}
    for name, body in parsed.servers.items():
        with collect.each():
            if not isinstance(body, dict):
                raise InventoryError(
                    f"{file}: servers.{name}: must be a mapping of settings, got {json.dumps(body)}"
                )
            servers[name] = _validate_server(file, name, dict(body), prefix=("servers", name))
    return parsed, servers


def _validate_server(file: Path, name: str, body: dict[str, Any], prefix: tuple) -> Server:
    where = ".".join(prefix) or name
    if not NAME_RE.match(name) or name == "all":
        raise InventoryError(
            f"{file}: {where}: server names use letters, digits, '.', '_' and '-' "
            f"and cannot be 'all', got {json.dumps(name)}"
        )
    body.setdefault("name", name)
    if body["name"] != name:
        raise InventoryError(f"{file}: {where}.name: must match the server key {json.dumps(name)}")
    try:
        return Server.model_validate(body)
    except ValidationError as exc:
        raise InventoryError(_format_errors(file, exc, prefix, Server)) from None


def _merge(inv: Inventory, file: Path, loaded: tuple[InventoryFile, dict[str, Server]]) -> None:
    parsed, servers = loaded
    if parsed.notifications is not None:
        inv.webhooks += parsed.notifications.webhooks
    for name, group in parsed.groups.items():
        if name in inv.group_settings:
            raise InventoryError(f"{file}: groups.{name}: defined in two files")
        inv.group_settings[name] = group
        inv.sources[f"groups.{name}"] = str(file)  # named by add_ansible's conflict errors
        if group.policy is not None:
            inv.warnings += [f"{file}: groups.{name}.policy.{w}" for w in rule_warnings(group.policy)]
    if parsed.defaults is not None:
        if inv.defaults is not None:
            raise InventoryError(f"{file}: defaults: defined in two files, also in {inv.defaults_source}")
        inv.defaults, inv.defaults_source = parsed.defaults, str(file)
        if parsed.defaults.policy is not None:
            inv.default_policies.append(("defaults", parsed.defaults.policy))
            inv.warnings += [f"{file}: defaults.policy.{w}" for w in rule_warnings(parsed.defaults.policy)]
    for name, server in servers.items():
        if server.policy is not None:
            inv.warnings += [f"{file}: servers.{name}.policy.{w}" for w in rule_warnings(server.policy)]
        if name in inv.servers:
            raise InventoryError(
                f"{file}: servers.{name}: duplicate server name, already defined in {inv.sources[name]}",
                hint="server names must be unique across all inventory files",
            )
        inv.servers[name] = server
        inv.sources[name] = str(file)
    if parsed.llm:
        for name, provider in parsed.llm.providers.items():
            if name in inv.providers:
                raise InventoryError(f"{file}: llm.providers.{name}: defined in two files")
            if provider.type is None and name not in DEFAULT_BASE_URLS:
                raise InventoryError(
                    f"{file}: llm.providers.{name}.type: is required for a provider not named "
                    "ollama, lmstudio or openai",
                    hint="set type: ollama | lmstudio | openai",
                )
            inv.providers[name] = provider
    for name, spec in parsed.specialists.items():
        inv.warnings += [f"{file}: specialists.{name}.policy.{w}" for w in rule_warnings(spec.policy)]
        if name in inv.specialists:
            raise InventoryError(f"{file}: specialists.{name}: defined in two files")
        inv.specialists[name] = spec
        inv.sources[f"specialists.{name}"] = str(file)
    for name, tool in parsed.tools.items():
        if name in inv.tools or name in BUILTIN_TOOLS:
            raise InventoryError(f"{file}: tools.{name}: defined twice (or a built-in tool's name)")
        inv.tools[name] = tool


def _inherit(inv: Inventory) -> None:
    """Give each server the settings of ``defaults:`` and of its groups that it does not set
    itself: defaults < group < the server's own value; ``env`` merges by key.

    Two groups of one server setting one key to different values is an error naming both,
    since no order between them would be obvious. Policies are not merged here: each stays a
    layer of its own (``Inventory.policies``), because a layer can only add restrictions.
    """
    layers: list[tuple[str, Any]] = []
    if inv.defaults is not None:
        layers.append(("defaults", inv.defaults))
    if not layers and not any(_settings_of(g) for g in inv.group_settings.values()):
        return
    for name, server in list(inv.servers.items()):
        inherited: dict[str, Any] = {}
        if inv.defaults is not None:
            inherited = _settings_of(inv.defaults)
        from_group: dict[str, tuple[str, Any]] = {}
        for group in server.groups:
            settings = inv.group_settings.get(group)
            for key, value in (_settings_of(settings) if settings is not None else {}).items():
                if key in from_group and from_group[key][1] != value:
                    other = from_group[key][0]
                    raise InventoryError(
                        f"{inv.sources[name]}: servers.{name}: groups {other} and {group} both set "
                        f"{key}, to different values",
                        hint=f"set {key} on the server itself, or in only one of the groups",
                    )
                from_group[key] = (group, value)
        for key, (_, value) in from_group.items():
            inherited[key] = {**inherited.get(key, {}), **value} if key == "env" else value
        if not inherited:
            continue
        own = server.model_dump(include=server.model_fields_set, exclude={"policy"})
        body = {k: v for k, v in inherited.items() if k not in own}
        if "env" in own and "env" in inherited:
            body["env"] = {**inherited["env"], **own["env"]}
        if not body:
            continue
        merged = {**own, **body, "name": name}
        if server.policy is not None:
            merged["policy"] = server.policy
        try:
            inv.servers[name] = Server.model_validate(merged)
        except ValidationError as exc:
            message = _format_errors(Path(inv.sources[name]), exc, ("servers", name), Server)
            raise InventoryError(f"{message} (with the settings it inherits)") from None


def _settings_of(block: BaseModel) -> dict[str, Any]:
    """What a defaults or group block sets for its servers (not its description and policy)."""
    skip = {"policy", "description"} if isinstance(block, GroupConfig) else {"policy"}
    return block.model_dump(include=block.model_fields_set - skip, exclude_none=False)


def _check_references(inv: Inventory, collect: _Problems | None = None) -> None:
    """Cross-file checks: a server's provider exists, jump chains end."""
    collect = collect or _Problems(None)
    for server in inv.servers.values():
        with collect.each():
            _check_server_references(inv, server)
    for name, spec in inv.specialists.items():
        with collect.each():
            _check_specialist(inv, name, spec)


def _check_server_references(inv: Inventory, server: Server) -> None:
    """A server's provider exists, and its jump chain ends at an ssh server."""
    where = f"{inv.sources[server.name]}: servers.{server.name}"
    if server.llm and server.llm.provider not in inv.providers | DEFAULT_BASE_URLS:
        known = ", ".join(sorted(set(inv.providers) | set(DEFAULT_BASE_URLS)))
        raise InventoryError(
            f"{where}.llm.provider: unknown provider {json.dumps(server.llm.provider)}",
            hint=f"known providers: {known}",
        )
    if server.jump and server.protocol != "ssh":
        raise InventoryError(f"{where}.jump: only ssh servers can use a jump host")
    seen = [server.name]
    hop = server.jump
    while hop in inv.servers:
        if hop in seen:
            raise InventoryError(f"{where}.jump: jump hosts form a loop: {' -> '.join([*seen, hop])}")
        if inv.servers[hop].protocol != "ssh":
            raise InventoryError(f"{where}.jump: jump host '{hop}' is not an ssh server")
        seen.append(hop)
        hop = inv.servers[hop].jump


def _check_specialist(inv: Inventory, name: str, spec: SpecialistConfig) -> None:
    where = f"{inv.sources[f'specialists.{name}']}: specialists.{name}"
    if not NAME_RE.match(name):
        raise InventoryError(f"{where}: names use letters, digits, '.', '_' and '-'")
    if spec.server not in inv.servers:
        raise InventoryError(
            f"{where}.server: unknown server {json.dumps(spec.server)}",
            hint=f"known servers: {', '.join(sorted(inv.servers)) or 'none'}",
        )
    server = inv.servers[spec.server]
    provider = spec.provider or (server.llm.provider if server.llm else None)
    if provider is None:
        raise InventoryError(
            f"{where}.provider: server '{spec.server}' has no llm block, so the specialist must name "
            "a provider",
            hint=f"known providers: {', '.join(sorted(set(inv.providers) | set(DEFAULT_BASE_URLS)))}",
        )
    if provider not in inv.providers and provider not in DEFAULT_BASE_URLS:
        raise InventoryError(f"{where}.provider: unknown provider {json.dumps(provider)}")
    known = set(BUILTIN_TOOLS) | set(inv.tools)
    for tool in spec.tools:
        if tool not in known:
            declared = ", ".join(sorted(inv.tools)) or "none"
            raise InventoryError(
                f"{where}.tools: unknown tool {json.dumps(tool)}",
                hint=f"built-in: {', '.join(BUILTIN_TOOLS)}; declared: {declared}",
            )
    if spec.template and not any((d / spec.template).is_file() for d in inv.template_dirs):
        looked = ", ".join(str(d) for d in inv.template_dirs) or "no templates folder found"
        raise InventoryError(
            f"{where}.template: {json.dumps(spec.template)} not found (looked in: {looked})",
            hint="put it under templates/ beside hosts/, or set GTP_TEMPLATES",
        )


def _format_errors(file: Path, exc: ValidationError, prefix: tuple, model: type[BaseModel]) -> str:
    """Turn pydantic's errors into ``FILE: a.b.c: what was expected, got X`` lines."""
    lines = []
    for err in exc.errors():
        loc = tuple(prefix) + tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        lines.append(f"{file}: {path}: {_describe(err, model)}")
    return "\n".join(lines)


def _describe(err: Any, model: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        if key.lower().replace("-", "_") in SECRET_KEYS or key in {"apiKey", "privateKey"}:
            return (
                "secrets are never stored in the inventory: put the value in an environment "
                "variable and name it (e.g. apiKeyEnv: MY_API_KEY)"
            )
        allowed = _allowed_keys(model, err["loc"][:-1])
        # Suggest in the writer's own style: camelCase for baseURL, snake_case for max_sesions.
        spellings = {(alias if any(c.isupper() for c in key) else name): name for name, alias in allowed}
        lowered = {k.lower(): k for k in spellings}
        close = difflib.get_close_matches(key.lower(), list(lowered), n=1)
        hint = f"did you mean '{lowered[close[0]]}'? " if close else ""
        names = ", ".join(name for name, _ in allowed)
        return f"unknown key; {hint}allowed keys: {names}" if allowed else "unknown key"
    if kind == "missing":
        return "is required"
    message = err["msg"]
    if err.get("ctx") is not None and kind == "port":
        return message
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    message = message.replace("Input should be", "must be").replace("Input should", "must")
    if "got" not in message and "input" in err and not isinstance(err["input"], dict):
        message += f", got {json.dumps(err['input'], default=str)}"
    return message


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[tuple[str, str]]:
    """The keys the model accepts at ``loc``, as the inventory spells them."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = current.model_fields
            name = next(
                (n for n, f in fields.items() if part in (n, f.alias)),
                None,
            )
            if name is None:
                return []
            current = _unwrap(fields[name].annotation)
        elif get_origin(current) is dict:
            current = _unwrap(get_args(current)[1])
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted((n, f.alias or n) for n, f in current.model_fields.items() if n != "name")
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is not dict and len(args) == 1:
        return args[0]
    return annotation

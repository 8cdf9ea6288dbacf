"""Ansible inventories (INI, YAML, a folder of them, ``group_vars/`` and ``host_vars/``) as servers.

Why: teams that already keep their hosts in an Ansible inventory should not have to write them a
second time. gtp-remote reads that inventory the way Ansible does and turns each host into a
:class:`~gtp_remote.config.Server`, so one inventory serves both tools.

This is our own parser, written against Ansible's documented behaviour and checked against
``ansible-inventory --list`` in the tests. ansible-core is not imported here: it is GPL-3, heavy,
and only installed with the ``bench`` extra, where the tests use it as the oracle.

What is read, and in which order (Ansible's, ``ansible/vars/manager.py``):

* a file: INI (``[group]``, ``[group:children]``, ``[group:vars]``, inline ``host k=v`` values
  parsed as Python literals) or YAML (``group: {hosts, children, vars}``); a folder: every file in
  it and below, minus hidden files, ``group_vars/``, ``host_vars/`` and Ansible's ignored suffixes;
* host patterns: ranges ``web[01:20]``, ``db-[a:f]``, steps ``[1:10:2]``, ``host:port``;
* variables, lowest first: group ``all`` in the inventory; the host's other groups (sorted by
  depth, ``ansible_group_priority``, name); ``group_vars/all``; ``group_vars/GROUP`` for those
  groups in the same order; the host's own inventory variables; ``host_vars/HOST``. The
  ``group_vars/`` and ``host_vars/`` folders sit beside the inventory file, or inside the
  inventory folder.

The connection variables and every ``gtp_*`` variable become server settings (``MAPPED`` and
``_server_body``); where Ansible has two spellings, the one its ssh plugin reads last wins, as in
Ansible. ``ansible_become`` is not applied (it is the playbooks'; ``gtp_become`` is gtp-remote's).
An Ansible group variable never overrides the operator's gtp-remote ``defaults:``/``groups:``: a
different value is an error (``_check_against_gtp``); the host's own values win. A ``gtp_policy``
is not merged like the others: each group's stays that group's policy layer (the ``all`` group's
applies to every host), because policy layers only ever add restrictions and a child group must
not replace its parent's rules; so it is written once per group or host. Secrets are never used
(key authentication and the agent are); other variables are the playbooks' and are ignored.

Sizes are bounded before anything is built: at most ``MAX_HOSTS`` hosts from ranges, and at most
``MAX_VALUE_NODES`` values in a used variable however YAML aliases share them.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import string
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from gtp_remote.errors import InventoryError
from gtp_remote.policy import PolicyConfig, rule_warnings

if TYPE_CHECKING:  # config imports this module lazily; at run time it is passed in
    from gtp_remote.config import Inventory

#: What Ansible skips in an inventory folder: hidden entries, the variable folders, and the
#: suffixes of ``INVENTORY_IGNORE_EXTS`` (``REJECT_EXTS`` plus ``.orig``, ``.cfg``, ``.retry``).
IGNORED_NAMES = {"host_vars", "group_vars", "vars_plugins"}
IGNORED_SUFFIXES = (
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
)  # fmt: skip
YAML_SUFFIXES = (".yml", ".yaml", ".json")
SECTIONS = ("vars", "children", "hosts")

#: Ansible variable -> server key, each list in the order of the option's ``vars:`` in
#: ansible-core (``plugins/connection/ssh.py``, ``plugins/become/sudo.py``). When several are
#: set, the LAST one wins, at whatever level each is set: Ansible merges the variables first,
#: then takes the last listed name that has a value (``ConfigManager._loop_entries``). So
#: ``ansible_ssh_host`` beats ``ansible_host``, ``ansible_sudo_user`` beats ``ansible_become_user``.
MAPPED = {
    "host": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "username": ("ansible_user", "ansible_ssh_user"),
    "identity_files": ("ansible_private_key_file", "ansible_ssh_private_key_file"),
    "become_user": ("ansible_become_user", "ansible_sudo_user"),
    "become_method": ("ansible_become_method",),
}
#: Ansible's "become for this play": not applied (a warning says so). Inventories set it for
#: playbooks; applied here it would turn every command of everyone with ``exec`` into root's.
BECOME_VARS = ("ansible_become", "ansible_sudo")
BECOME_METHODS = {"sudo": "sudo", "ansible.builtin.sudo": "sudo"}
#: At most this many hosts in one inventory (ranges are counted before they are expanded).
MAX_HOSTS = 100_000
#: At most this many values (mapping keys and values, list items) in one variable gtp-remote
#: uses, counted as if its YAML aliases were expanded.
MAX_VALUE_NODES = 100_000
CONNECTION_VARS = ("ansible_connection",)
SSH_ARGS_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
SECRET_VARS = {
    "ansible_password", "ansible_ssh_pass", "ansible_ssh_password", "ansible_become_password",
    "ansible_become_pass", "ansible_sudo_pass", "ansible_su_pass", "ansible_ssh_private_key_passphrase",
}  # fmt: skip
#: ``ansible_*`` variables only Ansible's own modules use: ignored without a warning.
QUIET_VARS = {"ansible_python_interpreter"}
SSH_CONNECTIONS = {
    "ssh",
    "paramiko",
    "paramiko_ssh",
    "smart",
    "ansible.builtin.ssh",
    "ansible.builtin.paramiko_ssh",
}
LOCAL_CONNECTIONS = {"local", "ansible.builtin.local"}
#: gtp_* variables that cannot be set: the inventory itself says these.
NOT_SETTABLE = {"name", "groups", "host", "protocol"}


class Vaulted(str):
    """A ``!vault`` value: we never decrypt, so using one is an error."""


@dataclass(frozen=True)
class Var:
    """A variable's value and where it was written."""

    value: Any
    file: Path
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else str(self.file)


@dataclass
class Group:
    name: str
    vars: dict[str, Var] = field(default_factory=dict)
    file_vars: dict[str, Var] = field(default_factory=dict)  # group_vars/NAME
    parents: dict[str, None] = field(default_factory=dict)  # dicts: ordered, O(1) membership
    children: dict[str, None] = field(default_factory=dict)
    hosts: dict[str, None] = field(default_factory=dict)  # ordered, O(1) membership
    priority: int = 1
    depth: int = 0


@dataclass
class Host:
    name: str
    source: Path
    line: int | None = None  # where it was first defined
    vars: dict[str, Var] = field(default_factory=dict)
    file_vars: dict[str, Var] = field(default_factory=dict)  # host_vars/NAME
    groups: list[str] = field(default_factory=list)  # direct membership


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus the line of every mapping key and Ansible's tags."""


class LineDict(dict):
    """A mapping that remembers the line each key was written on."""

    lines: dict[Any, int]


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            out[key] = loader.construct_object(value_node, deep=True)
        except TypeError:  # an unhashable key
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        out.lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor("!vault", lambda loader, node: Vaulted(loader.construct_scalar(node)))
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_object(_untagged(node)))


def _untagged(node: yaml.Node) -> yaml.Node:
    kind = {yaml.ScalarNode: "str", yaml.SequenceNode: "seq", yaml.MappingNode: "map"}[type(node)]
    node.tag = f"tag:yaml.org,2002:{kind}"
    return node


def read_yaml(file: Path) -> Any:
    """A YAML (or JSON) file with key lines; a vault-encrypted file is an error."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{file}: cannot read: {exc}") from None
    if text.startswith("$ANSIBLE_VAULT"):
        raise InventoryError(
            f"{file}: is vault-encrypted; gtp-remote never decrypts vault files",
            hint="keep connection settings in a plain file; secrets are not used from inventories",
        )
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InventoryError(f"{file}{where}: invalid YAML: {problem}") from None


def looks_like_ansible_yaml(doc: Any) -> bool:
    """An Ansible YAML inventory: top-level groups whose bodies hold hosts/children/vars (or
    ``all:``), or an inventory plugin's configuration (``plugin: aws_ec2``)."""
    if not isinstance(doc, dict) or not doc:
        return False
    if "plugin" in doc and isinstance(doc["plugin"], str):
        return True
    shaped = all(v is None or (isinstance(v, dict) and set(v) <= set(SECTIONS)) for v in doc.values())
    has_section = any(isinstance(v, dict) and v for v in doc.values())
    return shaped and (has_section or "all" in doc)


def inventory_sources(root: Path) -> tuple[list[Path], list[Path]]:
    """Split ``root`` (a file or folder) into gtp-remote files and Ansible inventory files.

    A folder of gtp-remote files keeps its meaning: only its ``*.yaml``/``*.yml``/``*.json``
    files are read and subfolders are not entered. As soon as the folder holds an Ansible
    inventory (a file of Ansible's shape, a file of another suffix, or ``group_vars/`` /
    ``host_vars/``) it is read as Ansible reads a folder: every file, subfolders included. Each
    YAML/JSON file is then gtp-remote's or Ansible's by its shape.
    """
    if root.is_file():
        return ([], [root]) if _is_ansible(root) else ([root], [])
    entries = _entries(root)
    ansible_mode = (
        (root / "group_vars").is_dir()
        or (root / "host_vars").is_dir()
        or any(p.is_file() and _is_ansible(p) for p in entries)
    )
    gtp: list[Path] = []
    ans: list[Path] = []
    for path in entries if ansible_mode else [p for p in entries if p.is_file()]:
        if path.is_dir():
            sub_gtp, sub_ans = _walk(path)
            gtp += sub_gtp
            ans += sub_ans
        elif not ansible_mode:
            if path.suffix in YAML_SUFFIXES:
                gtp.append(path)
        elif _is_ansible(path):
            ans.append(path)
        else:
            gtp.append(path)
    return gtp, ans


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    gtp: list[Path] = []
    ans: list[Path] = []
    for path in _entries(folder):
        if path.is_dir():
            sub = _walk(path)
            gtp += sub[0]
            ans += sub[1]
        elif _is_ansible(path):
            ans.append(path)
        else:
            gtp.append(path)
    return gtp, ans


def _entries(folder: Path) -> list[Path]:
    return [
        folder / name
        for name in sorted(os.listdir(folder))
        if not name.startswith(".") and name not in IGNORED_NAMES and not name.endswith(IGNORED_SUFFIXES)
    ]


def _is_ansible(path: Path) -> bool:
    if path.suffix not in YAML_SUFFIXES:
        return True
    if path.suffix == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return False  # gtp-remote's loader reports it
    else:
        try:
            doc = read_yaml(path)
        except InventoryError:
            # Ours is stricter than YAML's safe loader (a recursive alias, an unhashable key):
            # a file of Ansible's shape stays Ansible's, so parsing it reports that error as it
            # is. A file no loader can read is left to gtp-remote's loader, which says why.
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
                return False
    return looks_like_ansible_yaml(doc)


# --- parsing --------------------------------------------------------------------------------


class AnsibleInventory:
    """Hosts and groups as Ansible builds them from one or more files."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.hosts: dict[str, Host] = {}
        self.warnings: list[str] = []
        self.expanded = 0  # hosts the patterns gave so far, against MAX_HOSTS
        self._add_child("all", "ungrouped")

    # building, as Ansible's InventoryData does
    def _group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def _add_child(self, parent: str, child: str) -> None:
        p, c = self._group(parent), self._group(child)
        if parent == child:
            raise ValueError(f"group {parent!r} cannot be its own child")
        p.children.setdefault(child)
        c.parents.setdefault(parent)

    def _add_host(self, name: str, group: str, port: int | None, origin: Var) -> Host:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = Host(name, origin.file, origin.line)
            if port is not None:
                host.vars["ansible_port"] = Var(port, origin.file, origin.line)
        g = self._group(group)
        g.hosts.setdefault(name)
        if group not in host.groups:
            host.groups.append(group)
        return host

    def _set_group_var(self, group: str, key: str, var: Var) -> None:
        if key == "ansible_group_priority":
            try:
                self.groups[group].priority = int(var.value)
            except (TypeError, ValueError):
                raise InventoryError(
                    f"{var.where}: ansible_group_priority: must be an integer, got {var.value!r}"
                ) from None
            return
        _put(self.groups[group].vars, str(key), var, f"group {group}")

    def _expand_hosts(self, pattern: str, where: str) -> tuple[list[str], int | None]:
        """``expand_host_pattern``, within MAX_HOSTS for the whole inventory, counted first."""
        count = host_pattern_size(pattern, where)
        if self.expanded + count > MAX_HOSTS:
            total = f" ({self.expanded + count:,} with the hosts before it)" if self.expanded else ""
            raise InventoryError(
                f"{where}: host pattern {pattern!r} expands to {count:,} hosts{total}; one inventory "
                f"holds at most {MAX_HOSTS:,}",
                hint="check the range bounds",
            )
        self.expanded += count
        return expand_host_pattern(pattern, where)

    # INI, as Ansible's ini plugin reads it
    def parse_ini(self, file: Path, text: str) -> None:
        section = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
        group_line = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
        pending: dict[str, dict[str, Any]] = {}
        group, state = "ungrouped", "hosts"
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            where = f"{file}:{number}"
            if not line or line[0] in "#;":
                continue
            m = section.match(line)
            if m:
                group, state = m.group(1), m.group(2) or "hosts"
                if state not in SECTIONS:
                    raise InventoryError(
                        f"{where}: section [{line[1:-1]}] has unknown type {state!r}",
                        hint="use [group], [group:children] or [group:vars]",
                    )
                if group not in self.groups:
                    if state == "vars" and group not in pending:
                        pending[group] = {"line": number, "state": state}
                    self._group(group)
                if group in pending and state != "vars":
                    if pending[group]["state"] == "children":
                        self._add_pending(group, pending)
                    else:
                        del pending[group]
                continue
            if line.startswith("[") and line.endswith("]"):
                raise InventoryError(
                    f"{where}: invalid section {line!r}",
                    hint="write [group], [group:children] or [group:vars], without spaces",
                )
            if state == "hosts":
                try:
                    tokens = shlex.split(line, comments=True)
                except ValueError as exc:
                    raise InventoryError(f"{where}: cannot parse the host line: {exc}") from None
                if not tokens:
                    continue
                if tokens[0].endswith(":") and not re.search(r":\d+$", tokens[0]):
                    raise InventoryError(f"{where}: host {tokens[0]!r}: a ':' must be followed by a port")
                names, port = self._expand_hosts(tokens[0], where)
                host_vars: dict[str, Var] = {}
                for token in tokens[1:]:
                    if "=" not in token:
                        raise InventoryError(
                            f"{where}: expected key=value after the host name, got {token!r}"
                        )
                    key, value = token.split("=", 1)
                    _put(host_vars, key, Var(_literal(value), file, number), f"host {tokens[0]}")
                for name in names:
                    added = self._add_host(name, group, port, Var(None, file, number))
                    for key, var in host_vars.items():
                        _put(added.vars, key, var, f"host {name}")
            elif state == "vars":
                if "=" not in line:
                    raise InventoryError(f"{where}: expected key=value in [{group}:vars], got {line!r}")
                key, value = (part.strip() for part in line.split("=", 1))
                self._set_group_var(group, key, Var(_literal(value), file, number))
            else:
                m = group_line.match(line)
                if not m:
                    raise InventoryError(
                        f"{where}: expected a group name in [{group}:children], got {line!r}"
                    )
                child = m.group(1)
                if child not in self.groups:
                    pending.setdefault(child, {"line": number, "state": "children", "parents": []})
                    pending[child].setdefault("parents", []).append(group)
                else:
                    self._add_child(group, child)
        for name, decl in pending.items():
            if decl["state"] == "vars":
                raise InventoryError(
                    f"{file}:{decl['line']}: section [{name}:vars] is for undefined group {name!r}"
                )
            parent = decl["parents"][-1]
            raise InventoryError(
                f"{file}:{decl['line']}: section [{parent}:children] names undefined group {name!r}",
                hint=f"define it with a [{name}] section",
            )

    def _add_pending(self, group: str, pending: dict[str, dict[str, Any]]) -> None:
        for parent in pending[group]["parents"]:
            self._add_child(parent, group)
            if parent in pending and pending[parent]["state"] == "children":
                self._add_pending(parent, pending)
        del pending[group]

    # YAML, as Ansible's yaml plugin reads it
    def parse_yaml(self, file: Path, doc: dict[str, Any]) -> None:
        for name, body in doc.items():
            self._yaml_group(file, str(name), body, _line(doc, name))

    def _yaml_group(self, file: Path, name: str, body: Any, line: int | None) -> str:
        where = f"{file}:{line}" if line else str(file)
        if body is not None and not isinstance(body, dict):
            self.warnings.append(
                f"{where}: {name}: skipped, a group must be a mapping (hosts, children, vars)"
            )
            return name
        self._group(name)
        for key, value in (body or {}).items():
            at = f"{file}:{_line(body, key)}"
            if isinstance(value, str) and key in SECTIONS:
                value = {value: None}
            if value is None:
                continue
            if not isinstance(value, dict):
                if key in SECTIONS:
                    raise InventoryError(f"{at}: {name}.{key}: must be a mapping, got {type(value).__name__}")
                self.warnings.append(f"{at}: {name}.{key}: skipped, not a mapping")
            elif key == "vars":
                for var, val in value.items():
                    self._set_group_var(name, str(var), Var(val, file, _line(value, var)))
            elif key == "children":
                for child, child_body in value.items():
                    self._add_child(name, self._yaml_group(file, str(child), child_body, _line(value, child)))
            elif key == "hosts":
                for pattern, host_vars in value.items():
                    hat = f"{file}:{_line(value, pattern)}"
                    if not isinstance(pattern, str):
                        raise InventoryError(f"{hat}: host {pattern!r}: must be a string; quote it")
                    if host_vars is not None and not isinstance(host_vars, dict):
                        raise InventoryError(f"{hat}: host {pattern}: its variables must be a mapping")
                    names, port = self._expand_hosts(pattern, hat)
                    for host in names:
                        added = self._add_host(host, name, port, Var(None, file, _line(value, pattern)))
                        for var, val in (host_vars or {}).items():
                            _put(added.vars, str(var), Var(val, file, _line(host_vars, var)), f"host {host}")
            else:
                self.warnings.append(
                    f"{at}: {name}.{key}: skipped; a group holds only hosts, children and vars"
                )
        return name

    # after parsing, as Ansible's reconcile_inventory does
    def reconcile(self) -> None:
        for group in list(self.groups.values()):
            if group.name != "all" and not group.parents:
                self._add_child("all", group.name)
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts.values():
            if "ungrouped" in host.groups and set(host.groups) - {"all", "ungrouped"}:
                host.groups.remove("ungrouped")
                ungrouped.hosts.pop(host.name, None)
            elif not set(host.groups) - {"all"}:
                self._add_host(host.name, "ungrouped", None, Var(None, host.source))
        self._depths()

    def _depths(self) -> None:
        """A group's depth is its longest path from ``all`` (Ansible keeps it so incrementally)."""
        done: dict[str, int] = {}

        def depth(name: str, trail: tuple[str, ...]) -> int:
            if name in trail:
                raise InventoryError(f"group {name!r} is its own ancestor: {' -> '.join([*trail, name])}")
            if name not in done:
                parents = self.groups[name].parents
                done[name] = max((depth(p, (*trail, name)) + 1 for p in parents), default=0)
            return done[name]

        for group in self.groups.values():
            group.depth = depth(group.name, ())

    def ancestors(self, group: str) -> set[str]:
        out: set[str] = set()
        todo = list(self.groups[group].parents)
        while todo:
            name = todo.pop()
            if name not in out:
                out.add(name)
                todo += self.groups[name].parents
        return out

    def host_groups(self, host: Host) -> list[Group]:
        """Every group of the host, ancestors included, ``all`` left out, in precedence order."""
        names: set[str] = set()
        for g in host.groups:
            names |= {g} | self.ancestors(g)
        names.discard("all")
        return sorted((self.groups[n] for n in names), key=lambda g: (g.depth, g.priority, g.name))

    def host_vars(self, host: Host, skip: tuple[str, ...] = ()) -> dict[str, Var]:
        """The host's variables merged in Ansible's default ``VARIABLE_PRECEDENCE``."""
        groups = self.host_groups(host)
        layers = [
            self.groups["all"].vars,
            *(g.vars for g in groups),
            self.groups["all"].file_vars,
            *(g.file_vars for g in groups),
            host.vars,
            host.file_vars,
        ]
        out: dict[str, Var] = {}
        for layer in layers:
            out.update((k, v) for k, v in layer.items() if k not in skip)
        return out

    # group_vars/ and host_vars/, as the host_group_vars vars plugin reads them
    def load_vars_dirs(self, base: Path) -> None:
        for group in self.groups.values():
            group.file_vars = _vars_files(
                base / "group_vars", group.name, f"group {group.name}", self.warnings
            )
        for host in self.hosts.values():
            host.file_vars = _vars_files(base / "host_vars", host.name, f"host {host.name}", self.warnings)


def _put(variables: dict[str, Var], key: str, var: Var, owner: str) -> None:
    """Set a variable; a ``gtp_policy`` given twice at one level for one group or host is an
    error: it is that group's (host's) one policy layer, and replacing it would silently drop
    rules."""
    if key == "gtp_policy" and key in variables and variables[key] is not var:
        raise _policy_twice(variables[key], var, owner)
    variables[key] = var


def _policy_twice(first: Var, second: Var, owner: str) -> InventoryError:
    return InventoryError(
        f"{second.where}: gtp_policy: {owner} already has a gtp_policy at {first.where}; it is one "
        "policy layer, and a second definition would replace the first one's rules",
        hint="merge the rules into one of the two definitions",
    )


def _line(mapping: Any, key: Any) -> int | None:
    return getattr(mapping, "lines", {}).get(key)


def _literal(text: str) -> Any:
    """An INI value, as Ansible reads it: a Python literal if it is one, else the string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is Ellipsis or isinstance(value, complex):
        return str(value) if value is not Ellipsis else "..."
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def _vars_files(folder: Path, name: str, owner: str, warn: list[str]) -> dict[str, Var]:
    """``folder/NAME``, ``NAME.yml``, ``NAME.yaml``, ``NAME.json``: the first that exists; a
    folder of that name contributes all its files, sorted, recursively. A vault-encrypted file
    (the usual ``group_vars/all/vault.yml``) is skipped with a warning: it is never decrypted,
    and the secrets it holds would not be used anyway."""
    if not folder.is_dir():
        return {}
    found: list[Path] = []
    for suffix in ("", *YAML_SUFFIXES):
        path = folder / f"{name}{suffix}"
        if path.exists():
            found = _dir_files(path) if path.is_dir() else [path]
            break
    out: dict[str, Var] = {}
    for path in found:
        if _vault_file(path):
            warn.append(
                f"{path}: skipped: vault-encrypted; gtp-remote never decrypts vault files, so its "
                "variables are not read (secrets are never used from an inventory)"
            )
            continue
        doc = read_yaml(path)
        if not doc:
            continue
        if not isinstance(doc, dict):
            raise InventoryError(f"{path}: must be a mapping of variables, got {type(doc).__name__}")
        for k, v in doc.items():
            _put(out, str(k), Var(v, path, _line(doc, k)), owner)
    return out


def _vault_file(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(b"$ANSIBLE_VAULT")) == b"$ANSIBLE_VAULT"
    except OSError:
        return False  # read_yaml reports it


def _dir_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or name.endswith("~"):
            continue
        path = folder / name
        if path.is_dir() and not path.suffix:
            out += _dir_files(path)
        elif path.is_file() and (not path.suffix or path.suffix in YAML_SUFFIXES):
            out.append(path)
    return out


# --- host patterns --------------------------------------------------------------------------

_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):(\d+)$")
_BRACKETED = re.compile(r"^\[(.+)\]:(\d+)$")
_RANGE = re.compile(r"\[([^\]]*)\]")


def expand_host_pattern(pattern: str, where: str) -> tuple[list[str], int | None]:
    """``web[01:03].example:2222`` -> the three names and port 2222."""
    pattern, port = _split_port(pattern, where)
    if "[" not in pattern:
        return [pattern], port
    return _expand(pattern, where), port


def host_pattern_size(pattern: str, where: str) -> int:
    """How many names ``expand_host_pattern`` gives, computed without expanding: the product
    of the sizes of the pattern's ranges (each is checked as the expansion checks it)."""
    pattern, _ = _split_port(pattern, where)
    if "[" not in pattern:
        return 1
    count = 1
    rest = pattern
    while "[" in rest:
        m = _RANGE.search(rest)
        if m is None:
            raise InventoryError(f"{where}: host pattern {pattern!r}: unbalanced '['")
        count *= _range_size(m.group(1), where)
        rest = rest[m.end() :]
    return count


def _split_port(pattern: str, where: str) -> tuple[str, int | None]:
    m = _BRACKETED.match(pattern) or _HOSTPORT.match(pattern)
    if not (m and m.group(1)):
        return pattern, None
    port = int(m.group(2))
    if not 1 <= port <= 65535:
        raise InventoryError(f"{where}: host {pattern!r}: port {m.group(2)} is out of range (1-65535)")
    return m.group(1), port


def _range_spec(spec: str, where: str) -> tuple[str, int, int, int, int]:
    """``[begin:end:step]`` -> (kind, first, last, step, width); kind is "letters" or "numbers"."""
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise InventoryError(f"{where}: host range [{spec}]: must be [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end or not step_text.isdigit() or int(step_text) < 1:
        raise InventoryError(f"{where}: host range [{spec}]: needs an end and a positive step")
    step = int(step_text)
    if begin in string.ascii_letters and end in string.ascii_letters:
        first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        if first > last:
            raise InventoryError(f"{where}: host range [{spec}]: begin must not be after end")
        return "letters", first, last, step, 0
    if begin.isdigit() and end.isdigit():
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise InventoryError(
                f"{where}: host range [{spec}]: a zero-padded range needs begin and end of one width"
            )
        return "numbers", int(begin), int(end), step, width
    raise InventoryError(f"{where}: host range [{spec}]: must be numbers or single letters")


def _range_size(spec: str, where: str) -> int:
    _, first, last, step, _ = _range_spec(spec, where)
    return len(range(first, last + 1, step))


def _expand(pattern: str, where: str) -> list[str]:
    m = _RANGE.search(pattern)
    if m is None:
        raise InventoryError(f"{where}: host pattern {pattern!r}: unbalanced '['")
    head, tail = pattern[: m.start()], pattern[m.end() :]
    kind, first, last, step, width = _range_spec(m.group(1), where)
    if kind == "letters":
        items = list(string.ascii_letters[first : last + 1 : step])
    else:
        items = [str(i).zfill(width) for i in range(first, last + 1, step)]
    out: list[str] = []
    for item in items:
        name = head + item + tail
        out += _expand(name, where) if "[" in name else [name]
    return out


# --- turning hosts into servers -------------------------------------------------------------


def parse_files(files: list[Path], base: Path, strict: bool) -> AnsibleInventory:
    """Parse Ansible inventory files into one inventory, then read the variable folders at
    ``base``. ``strict`` (one file named) makes a file that holds no static inventory an error;
    in a folder it is skipped with a warning, as Ansible does."""
    inv = AnsibleInventory()
    for file in files:
        skip = _unsupported(file)
        if skip:
            if strict:
                raise InventoryError(f"{file}: {skip}", hint="point --inventory at a static inventory")
            inv.warnings.append(f"{file}: skipped: {skip}")
            continue
        if file.suffix in YAML_SUFFIXES or not file.suffix:
            doc = None
            try:
                doc = read_yaml(file)
            except InventoryError:
                if file.suffix:
                    raise
            if looks_like_ansible_yaml(doc):
                inv.parse_yaml(file, doc)
                continue
            if file.suffix:
                raise InventoryError(f"{file}: not an inventory: no group with hosts, children or vars")
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InventoryError(f"{file}: cannot read: {exc}") from None
        inv.parse_ini(file, text)
    inv.reconcile()
    inv.load_vars_dirs(base)
    return inv


def _unsupported(file: Path) -> str | None:
    """Why Ansible would run or call something for this file, which we never do."""
    if file.suffix == ".toml":
        return "TOML inventories are not read; use INI or YAML"
    try:
        head = file.read_bytes()[:4096]
    except OSError as exc:
        raise InventoryError(f"{file}: cannot read: {exc}") from None
    if head.startswith(b"#!") and os.access(file, os.X_OK):
        return "an inventory script; gtp-remote does not run inventory scripts"
    if file.suffix in YAML_SUFFIXES or not file.suffix:
        try:
            doc = read_yaml(file)
        except InventoryError:
            return None
        if isinstance(doc, dict) and isinstance(doc.get("plugin"), str):
            return (
                f"an inventory plugin's configuration (plugin: {doc['plugin']}); gtp-remote reads "
                "static inventories only"
            )
    return None


def add_ansible(inventory: Inventory, files: list[Path], root: Path) -> None:
    """Parse the Ansible files and add their hosts as servers and their groups to ``inventory``.

    The gtp-remote files are merged first, so their ``defaults:`` and ``groups:`` are known
    here: an Ansible variable that is not the host's own and contradicts them is an error
    (``_check_against_gtp``)."""
    from gtp_remote.config import GroupConfig  # config imports this module

    base = root if root.is_dir() else root.parent
    parsed = parse_files(files, base, strict=root.is_file())
    inventory.warnings += parsed.warnings
    seen: set[tuple[str, ...]] = set()  # (where, variable): warn once, not once per host
    for name, group in parsed.groups.items():
        own = _one_policy(group.vars, group.file_vars, f"group {name}")
        policy = _policy(own, PolicyConfig) if own is not None else None
        if policy is not None:
            inventory.warnings += [f"{own.where}: gtp_policy.{w}" for w in rule_warnings(policy)]
        if name == "all":
            if policy is not None:
                inventory.default_policies.append(("group all", policy))
            continue
        current = inventory.group_settings.get(name)
        if current is None:
            inventory.group_settings[name] = GroupConfig(policy=policy)
        elif policy is not None:
            if current.policy is not None:
                raise InventoryError(
                    f"{own.where}: gtp_policy: group {name!r} already has a policy in a gtp-remote file",
                    hint="keep one of them",
                )
            inventory.group_settings[name] = current.model_copy(update={"policy": policy})
    for host in parsed.hosts.values():
        server, origin = _server(parsed, host, seen, inventory.warnings)
        if server.name in inventory.servers:
            raise InventoryError(
                f"{host.source}: host {server.name}: duplicate server name, already defined in "
                f"{inventory.sources[server.name]}",
                hint="server names must be unique across all inventory files",
            )
        _check_against_gtp(inventory, host, server, origin)
        if server.policy is not None:
            inventory.warnings += [
                f"{host.source}: host {host.name}: gtp_policy.{w}" for w in rule_warnings(server.policy)
            ]
        inventory.servers[server.name] = server
        inventory.sources[server.name] = str(host.source)
    for name in parsed.groups:
        inventory.group_order[name] = host_order(parsed, name)


def host_order(parsed: AnsibleInventory, group: str) -> list[str]:
    """A group's hosts in the order Ansible lists them (``Group.get_hosts``), which is what
    subscripts (``web[0]``) count: its own hosts, then its children's, one generation at a time,
    each generation in the order the groups were made children. (Past the first generation
    Ansible walks a set, so its own order there can vary between runs.)"""
    hosts: dict[str, None] = {}
    generation, seen = [group], {group}
    while generation:
        following: list[str] = []
        for name in generation:
            hosts.update(dict.fromkeys(parsed.groups[name].hosts))
            for child in parsed.groups[name].children:
                if child not in seen:
                    seen.add(child)
                    following.append(child)
        generation = following
    return list(hosts)


def _one_policy(inline: dict[str, Var], files: dict[str, Var], owner: str) -> Var | None:
    """The ``gtp_policy`` of a group or host: in the inventory or in its vars files, not both."""
    first, second = inline.get("gtp_policy"), files.get("gtp_policy")
    if first is not None and second is not None:
        raise _policy_twice(first, second, owner)
    return first or second


def _check_against_gtp(
    inventory: Inventory, host: Host, server: Any, origin: dict[str, tuple[str, Var]]
) -> None:
    """An Ansible variable of a group (``all`` included, ``group_vars/``) that sets a server key
    the operator's gtp-remote ``defaults:`` or ``groups.NAME`` set to another value is an error
    naming both: Ansible's group variables are the playbooks', and must not quietly override
    what the operator chose for gtp-remote (``become``, ``root``, ``host_key_policy``...). A
    host's own values (inline, its ``hosts:`` entry, ``host_vars/``) are the server's and win."""
    from gtp_remote.config import _settings_of

    own_ids = {id(v) for v in (*host.vars.values(), *host.file_vars.values())}
    layers: list[tuple[str, dict[str, Any]]] = []
    if inventory.defaults is not None:
        layers.append((f"{inventory.defaults_source}: defaults", _settings_of(inventory.defaults)))
    for group in server.groups:
        settings = inventory.group_settings.get(group)
        if settings is not None:
            source = inventory.sources.get(f"groups.{group}", "a gtp-remote file")
            layers.append((f"{source}: groups.{group}", _settings_of(settings)))
    if not layers:
        return
    mine = server.model_dump()
    problems: list[str] = []
    for key, (name, var) in origin.items():
        if id(var) in own_ids or key in ("policy", "name", "groups"):
            continue
        for where, settings in layers:
            if key not in settings:
                continue
            theirs, ours = settings[key], mine.get(key)
            if key == "env" and isinstance(theirs, dict) and isinstance(ours, dict):
                differ = sorted(k for k in theirs.keys() & ours.keys() if theirs[k] != ours[k])
                if not differ:
                    continue
                theirs, ours = {k: theirs[k] for k in differ}, {k: ours[k] for k in differ}
            elif theirs == ours:
                continue
            problems.append(
                f"{var.where}: {name} (host {host.name}): sets {key} to {_show(ours)}, but the "
                f"operator's {where}.{key} is {_show(theirs)}; an Ansible group variable does not "
                "override gtp-remote's defaults: and groups:"
            )
    if problems:
        raise InventoryError(
            "\n".join(problems),
            hint="remove one of the two, or set the variable on the host itself (inline or in "
            "host_vars/): a host's own value is the server's and wins",
        )


def _show(value: Any) -> str:
    return json.dumps(value, default=str)


def _policy(var: Var, model: Any) -> Any:
    _check_value(var, "gtp_policy")
    try:
        return model.model_validate(var.value)
    except ValidationError as exc:
        from gtp_remote.config import _describe

        lines = [
            f"{var.where}: gtp_policy.{'.'.join(map(str, e['loc']))}: {_describe(e, model)}"
            for e in exc.errors()
        ]
        raise InventoryError("\n".join(lines)) from None


def _check_value(var: Var, name: str) -> None:
    """A value we use must be what it says: not encrypted, not a template, and of a sane size.

    YAML aliases can make a small file hold a value that is huge once expanded (the "billion
    laughs"): each mapping or list is visited once (by identity), its expanded size is summed,
    and a value over MAX_VALUE_NODES is refused before anything walks it in full."""
    sizes: dict[int, int] = {}
    path: set[int] = set()

    def size(value: Any) -> int:
        if isinstance(value, (dict, list)):
            key = id(value)
            if key in sizes:
                return sizes[key]
            if key in path:
                raise InventoryError(f"{var.where}: {name}: contains itself (a recursive YAML alias)")
            path.add(key)
            items = [x for kv in value.items() for x in kv] if isinstance(value, dict) else value
            total = 1 + sum(size(item) for item in items)
            path.discard(key)
            sizes[key] = total
            if total > MAX_VALUE_NODES:
                raise InventoryError(
                    f"{var.where}: {name}: is too large: {total:,} values once its YAML aliases are "
                    f"expanded (at most {MAX_VALUE_NODES:,})",
                    hint="write the value out; a gtp-remote setting is never this big",
                )
            return total
        _check_leaf(value)
        return 1

    def _check_leaf(leaf: Any) -> None:
        if isinstance(leaf, Vaulted):
            raise InventoryError(
                f"{var.where}: {name}: is vault-encrypted; gtp-remote never decrypts vault values",
                hint="write this value in the clear (it is not a secret) or leave it out",
            )
        if isinstance(leaf, str) and ("{{" in leaf or "{%" in leaf or "{#" in leaf):
            raise InventoryError(
                f"{var.where}: {name}: is a Jinja2 template ({leaf!r}); gtp-remote does not template "
                "inventory values",
                hint="write the value itself",
            )

    try:
        size(var.value)
    except RecursionError:
        raise InventoryError(f"{var.where}: {name}: is nested too deeply") from None


def _server(
    parsed: AnsibleInventory, host: Host, seen: set, warn: list[str]
) -> tuple[Any, dict[str, tuple[str, Var]]]:
    from gtp_remote.config import NAME_RE, Server, _describe

    if not NAME_RE.match(host.name) or host.name == "all":
        where = f"{host.source}:{host.line}" if host.line else str(host.source)
        raise InventoryError(
            f"{where}: host {host.name!r}: gtp-remote server names use letters, digits, '.', '_' "
            "and '-' (starting with a letter or digit) and cannot be 'all'",
            hint="rename the host and set ansible_host to its address",
        )
    variables = parsed.host_vars(host, skip=("gtp_policy",))
    body, origin = _server_body(host, variables, seen, warn)
    var = _one_policy(host.vars, host.file_vars, f"host {host.name}")
    if var is not None:
        _check_value(var, "gtp_policy")
        body["policy"], origin["policy"] = var.value, ("gtp_policy", var)
    names = {g.name for g in parsed.host_groups(host)}
    body["groups"] = sorted(names)
    try:
        return Server.model_validate(body), origin
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            var_name, var = origin.get(key, (key, None))
            where = var.where if var else str(host.source)
            rest = "".join(f".{p}" for p in err["loc"][1:])
            lines.append(f"{where}: {var_name}{rest} (host {host.name}): {_describe(err, Server)}")
        raise InventoryError("\n".join(lines)) from None


def _ansible_false(value: Any) -> bool:
    """Ansible's boolean false (``no``, ``false``, ``0``, ``off``...), or unset."""
    if value is None or value is False or value == 0:
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "no", "n", "false", "f", "0", "off")


def _server_body(
    host: Host, variables: dict[str, Var], seen: set, warn: list[str]
) -> tuple[dict[str, Any], dict[str, tuple[str, Var]]]:
    """The server settings the host's variables give, and which variable gave each."""

    body: dict[str, Any] = {"name": host.name}
    origin: dict[str, tuple[str, Var]] = {}

    def once(var: Var, name: str, message: str) -> None:
        if (var.where, name) not in seen:
            seen.add((var.where, name))
            warn.append(f"{var.where}: {name}: {message}")

    def take(key: str, name: str, var: Var, value: Any) -> None:
        if key in body:
            first = origin[key][0]
            raise InventoryError(
                f"{var.where}: {name} (host {host.name}): sets {key}, which {first} already sets",
                hint=f"keep one of {first} and {name}",
            )
        body[key], origin[key] = value, (name, var)

    mapped_names = {n for names in MAPPED.values() for n in names}
    for key, names in MAPPED.items():
        present = [n for n in names if n in variables and variables[n].value is not None]
        if not present:
            continue
        name = present[-1]  # Ansible: the last listed name with a value wins
        var = variables[name]
        for other in present[:-1]:
            loser = variables[other]
            if (var.where, loser.where, name, other) not in seen:
                seen.add((var.where, loser.where, name, other))
                warn.append(
                    f"{var.where}: {name}: wins over {other} ({loser.where}), as in Ansible (it "
                    f"reads {name} last, whatever level each is set at); set only one of them"
                )
        _check_value(var, name)
        value = var.value
        if key in ("host", "username", "identity_files") and isinstance(value, (int, float)):
            value = str(value)
        if key == "become_method" and isinstance(value, str):
            value = BECOME_METHODS.get(value, value)
        take(key, name, var, value)
    connection = variables.get("ansible_connection")
    if connection is not None:
        _check_value(connection, "ansible_connection")
        if connection.value in LOCAL_CONNECTIONS:
            body["protocol"] = "local"
            origin["protocol"] = ("ansible_connection", connection)
            body.pop("host", None)
        elif connection.value not in SSH_CONNECTIONS:
            raise InventoryError(
                f"{connection.where}: ansible_connection (host {host.name}): {connection.value!r} "
                "is not supported; gtp-remote reaches hosts over ssh or runs locally",
                hint="use ansible_connection=ssh or local, or leave the host out",
            )
        else:
            origin["protocol"] = ("ansible_connection", connection)
    if body.get("protocol") != "local":
        body["protocol"] = "ssh"
        body.setdefault("host", host.name)
    for name in SSH_ARGS_VARS:
        if name in variables:
            var = variables[name]
            _check_value(var, name)
            settings, ignored = parse_ssh_args(str(var.value or ""), f"{var.where}: {name}")
            for key, value in settings.items():
                if key == "identity_files" and key in body:  # -i adds a key to ansible's own
                    body[key] = [*_str_list(body[key]), *value]
                elif key in ("port", "username") and key in body:
                    continue  # ansible_port / ansible_user win over ssh's -p / -l, as with ansible
                else:
                    take(key, name, var, value)
            notes = []
            if TOFU_NOTE in ignored:
                ignored.remove(TOFU_NOTE)
                notes.append(TOFU_NOTE)
            if ignored:
                notes.append(f"ignored ssh options {' '.join(ignored)} (gtp-remote sets its own)")
            if notes:
                once(var, name, "; ".join(notes))
    for name, var in variables.items():
        if name.startswith("gtp_"):
            key = name[4:]
            if key in NOT_SETTABLE:
                raise InventoryError(
                    f"{var.where}: {name} (host {host.name}): cannot be set; the inventory itself says "
                    f"the {key}",
                    hint="use ansible_host / ansible_connection and the groups" if key != "name" else None,
                )
            _check_value(var, name)
            take(key, name, var, var.value)
        elif name in BECOME_VARS:
            if not _ansible_false(var.value):
                once(
                    var,
                    name,
                    "not applied: Ansible's become is for playbooks, and here it would make every "
                    "command anyone runs on the host root's. Set gtp_become: true to make every "
                    "command on the host run via sudo, or ask per request with --become (which "
                    "needs the 'become' permission); ansible_become_user and ansible_become_method "
                    "still say who --become becomes and how",
                )
        elif name in SECRET_VARS:
            once(
                var,
                name,
                "ignored: secrets are never used from an inventory; gtp-remote logs in with "
                "keys (identity files or the ssh agent)",
            )
        elif (
            name.startswith("ansible_")
            and name not in mapped_names
            and name not in QUIET_VARS
            and (name not in CONNECTION_VARS and name not in SSH_ARGS_VARS)
        ):
            once(var, name, "not used by gtp-remote; ignored")
    return body, origin


#: What StrictHostKeyChecking=no becomes, said as a warning: never no check at all.
TOFU_NOTE = (
    "StrictHostKeyChecking=no is taken as host_key_policy accept-new: an unknown host's key is "
    "trusted once and pinned, and a changed key is refused (gtp-remote never skips the check)"
)


def parse_ssh_args(args: str, where: str) -> tuple[dict[str, Any], list[str]]:
    """The server settings ssh options give, and the options we do not use.

    Understood: the jump host (``-J``, ``-o ProxyJump=``, ``-o ProxyCommand="ssh -W %h:%p ..."``),
    ``-o UserKnownHostsFile=`` (known_hosts), ``-o StrictHostKeyChecking=accept-new`` (trust on
    first use and pin), ``-i`` / ``-o IdentityFile=``, ``-p`` / ``-o Port=`` and ``-l`` /
    ``-o User=``. ``StrictHostKeyChecking=no`` is not honoured: host keys are always checked, so it
    is reported with the others, and the host must be in known_hosts (or use accept-new)."""
    try:
        tokens = shlex.split(args)
    except ValueError as exc:
        raise InventoryError(f"{where}: cannot split the ssh options: {exc}") from None
    settings: dict[str, Any] = {}
    ignored: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        value: str | None = None
        flag = token[:2]
        if token in ("-J", "-o", "-i", "-p", "-l") and i + 1 < len(tokens):
            value, i = tokens[i + 1], i + 2
        elif flag in ("-J", "-o", "-i", "-p", "-l") and len(token) > 2:
            value, i = token[2:], i + 1
        else:
            ignored.append(token)
            i += 1
            continue
        if flag == "-J":
            settings["jump"] = _one_hop(value, where)
            continue
        if flag == "-i":
            settings.setdefault("identity_files", []).append(value)
            continue
        if flag == "-p":
            settings["port"] = value
            continue
        if flag == "-l":
            settings["username"] = value
            continue
        key, _, rest = value.replace("=", " ", 1).partition(" ")
        key, rest = key.lower(), rest.strip()
        if key == "proxyjump":
            settings["jump"] = _one_hop(rest, where)
        elif key == "proxycommand":
            settings["jump"], skipped = _proxy_command(rest, where)
            ignored += [f"{option} (in ProxyCommand)" for option in skipped]
        elif key == "userknownhostsfile" and rest and " " not in rest:
            settings["known_hosts"] = rest
        elif key == "stricthostkeychecking" and rest.lower() == "accept-new":
            settings["host_key_policy"] = "accept-new"
        elif key == "stricthostkeychecking" and rest.lower() in ("no", "off", "false"):
            settings["host_key_policy"] = "accept-new"
            ignored.append(TOFU_NOTE)
        elif key == "stricthostkeychecking" and rest.lower() in ("yes", "true"):
            settings["host_key_policy"] = "strict"
        elif key == "identityfile":
            settings.setdefault("identity_files", []).append(rest)
        elif key == "port":
            settings["port"] = rest
        elif key == "user":
            settings["username"] = rest
        else:
            ignored.append(f"-o {value}")
    return settings, ignored


def _str_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _one_hop(value: str, where: str) -> str:
    if "," in value:
        raise InventoryError(
            f"{where}: ProxyJump {value!r}: gtp-remote hops through one jump host per server",
            hint="make the first hop an inventory host whose own ansible_ssh_common_args names the next",
        )
    return value.removeprefix("ssh://")


#: ssh's options that take an argument (``ssh(1)``): inside a ProxyCommand, their argument is
#: not the jump host.
SSH_ARG_OPTIONS = set("BbcDEeFIiJLlmOoPpQRSWw")


def _proxy_command(command: str, where: str) -> tuple[str, list[str]]:
    """``ssh -W %h:%p [-p PORT] [-l USER] [USER@]HOST`` -> ``USER@HOST:PORT``, and the other
    options in it, which gtp-remote does not use (it reaches the jump host with that host's own
    settings)."""
    try:
        tokens = shlex.split(command)
    except ValueError as exc:
        raise InventoryError(f"{where}: ProxyCommand {command!r}: cannot split it: {exc}") from None
    if not tokens or os.path.basename(tokens[0]) != "ssh" or "-W" not in tokens:
        raise InventoryError(
            f"{where}: ProxyCommand {command!r}: only 'ssh -W %h:%p [user@]host' is understood",
            hint="use -o ProxyJump=user@host:port instead",
        )
    port = user = dest = None
    ignored: list[str] = []
    i = 1
    while i < len(tokens):
        t = tokens[i]
        if len(t) >= 2 and t[0] == "-" and t[1] in SSH_ARG_OPTIONS:
            if len(t) > 2:
                value, i = t[2:], i + 1
            elif i + 1 < len(tokens):
                value, i = tokens[i + 1], i + 2
            else:
                ignored.append(t)
                break
            if t[:2] == "-p":
                port = value
            elif t[:2] == "-l":
                user = value
            elif t[:2] != "-W":
                ignored.append(f"{t[:2]} {value}")
        elif t.startswith("-"):
            ignored.append(t)
            i += 1
        else:
            dest, i = t, i + 1
    if dest is None:
        raise InventoryError(f"{where}: ProxyCommand {command!r}: names no host to jump through")
    if user and "@" not in dest:
        dest = f"{user}@{dest}"
    return (f"{dest}:{port}" if port else dest), ignored

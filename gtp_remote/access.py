"""Who acts, and what they may do: the identity every governed action carries.

Every front end turns its caller into a :class:`Principal`: the HTTP API from a bearer token, the
CLI from the local user (the owner), MCP from its session's token. The gateway asks the principal
for permissions (an operation like ``exec`` or ``files.write``, and the servers it may use) and
takes its policy as one layer of the rules an action must pass. The front end and the client's
name travel with it into the audit log.

Scopes never leak: a server outside a principal's scope is as unknown to it as one that does not
exist (see ``Gateway.server_for``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gtp_remote.config import Inventory
from gtp_remote.errors import ForbiddenError
from gtp_remote.policy import PolicyConfig

#: What a principal may be allowed to do. ``llm`` delegates to specialists (whose tools run
#: commands), ``approve`` decides on actions awaiting approval, ``admin`` sees every token's jobs,
#: ``metrics`` reads ``/metrics`` (so does ``admin``), ``become`` asks for a command to run as
#: the server's ``become_user`` (root by default, via sudo): it turns ``exec`` into root's exec.
OPERATIONS = ("exec", "files.read", "files.write", "llm", "approve", "admin", "metrics", "become")
#: A token listed without ``operations`` gets these: all but ``become``, which is granted by
#: name only (a tokens file written before it existed must not gain root by an upgrade).
DEFAULT_OPERATIONS = tuple(op for op in OPERATIONS if op != "become")


@dataclass(frozen=True)
class Principal:
    name: str
    operations: frozenset[str] = frozenset(OPERATIONS)
    servers: tuple[str, ...] | None = None  # names and group:NAME; None: every server
    policy: PolicyConfig | None = None  # the principal's own layer of rules
    front_end: str = "rest"  # rest | cli | mcp | console
    client: str | None = None  # an address or a client's name, for the audit log

    @classmethod
    def owner(cls, name: str, front_end: str = "cli") -> Principal:
        """The machine's owner (the CLI's user): every permission, no rules of its own; the
        servers' and groups' policies still apply."""
        return cls(name=name, front_end=front_end)

    def acting_through(self, front_end: str, client: str | None) -> Principal:
        return replace(self, front_end=front_end, client=client)

    def require(self, operation: str) -> None:
        if operation not in self.operations:
            allowed = ", ".join(sorted(self.operations)) or "none"
            raise ForbiddenError(
                f"token '{self.name}' lacks the '{operation}' permission", hint=f"its permissions: {allowed}"
            )

    def may_use(self, inventory: Inventory, server: str) -> bool:
        if self.servers is None:
            return server in inventory.servers
        if server not in inventory.servers:
            return False
        groups = inventory.server_groups(server)
        return any(server == s or (s.startswith("group:") and s[6:] in groups) for s in self.servers)

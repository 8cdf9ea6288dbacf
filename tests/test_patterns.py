"""Ansible host patterns select exactly the hosts Ansible itself selects.

The differential tests take each inventory under ``tests/inventories/patterns/`` as Ansible reads
it (``ansible-inventory --list``, not our loader), build a gtp-remote inventory from that, and
compare our selection for each pattern with ``ansible PATTERN --list-hosts``. Where Ansible only
warns about a name that matches nothing and goes on, we refuse: those cases are checked to raise.
Then the same language under a token's scope (nothing outside it is seen or hinted at), over REST
on the bed, and the CLI's ``--limit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gtp_remote.access import Principal
from gtp_remote.api.routes import create_app
from gtp_remote.config import GroupConfig, Inventory, Server
from gtp_remote.errors import InvalidRequestError, UnknownServerError
from gtp_remote.gateway import Command, Gateway
from gtp_remote.patterns import Universe, select, split_pattern
from gtp_remote.settings import Settings
from tests.conftest import ROOT, Bed
from tests.test_api import Client, make_api

BIN = Path(sys.executable).parent
INVENTORIES = ROOT / "tests" / "inventories" / "patterns"
SITE, LAB = INVENTORIES / "site.yml", INVENTORIES / "lab.ini"

#: Compared with Ansible: the same hosts, or (where Ansible selects none) our refusal.
PATTERNS: dict[Path, list[str]] = {
    SITE: [
        "all",
        "*",
        "web",
        "db",
        "prod",
        "db_replica",
        "ungrouped",
        "web01.example.com",
        "web:db",
        "web,db",
        " web, db ,staging ",
        "prod:&eu",
        "prod:!us",
        "!us:prod",
        "&eu:web",
        "web:!eu:&prod",
        "!web",
        "!db:&us",
        "web*",
        "*.example.com",
        "db-?.example.com",
        "web0[12].example.com",
        "web0[!1].example.com",
        "*-0*",
        "~web0[13]",
        "~(web|db)",
        "~.*internal",
        "~^db-[23]",
        "~.*l",  # matches the group 'all': every host
        "a*",  # so does this glob
        "db*",
        "db_*",
        "web[0]",
        "web[-1]",
        "web[1:2]",
        "web[2:]",
        "web[0-1]",
        "db[1]",
        "prod[4]",
        "web[1]:db[0]",
        "all:!web[0]",
        "staging:monitoring",
        "monitoring:&web",
        "eu:us",
        "eu:&us",
        "empty_group",
        "web:empty_group",
        "ungrouped:staging",
        "all:!ungrouped",
        "bastion-01,lone.example.com",
        "web[5]",
        "web[9:12]",
        "*:!*.example.com",
        "~web:&~.*0[24]",
        "stage-app[1:2]",  # a subscript of 'stage-app', which does not exist
        "web01.example.com:db-1.example.com",
        "mon.internal:22",  # one address with a port: not split
        "2001:db8::1",  # an IPv6 address: not split
        "web : !web01.example.com",
        "prod,!db",
        "prod,&eu",
        "web??.example.com",
        "WEB",
        "db_primary:db_replica:!db-2.example.com",
        "*,!web*",
        r"~.*\.example\.com:!~^web",
        "web,[",  # with commas, an unpaired bracket is a literal glob character
    ],
    LAB: [
        "all",
        "ungrouped",
        "frontend",
        "app",
        "cache",
        "backend",
        "archive",  # a host and a group: the host wins
        "all:!archive",  # but an exclusion means the group
        "backend:&archive",
        "backend:!archive",
        "frontend:!cache",
        "cache:&dc1",
        "app:&dc",
        "dc:!app",
        "10.0.0.5",
        "10.0.0.*",
        "10.0.0.5:solo1",
        "node-[a:c].lab",  # an address with a range; as a glob, [a:c] is a, : or c
        "app[1:3]",
        "app[0:0]",
        "app[4:0]",
        "app*",
        "frontend[6]",
        "*[0]",
        "*[1]",
        "pg-0[12]",
        "pg-*",
        r"~pg-0\d",
        "~^(app|pg)",
        "nothing",
        "app:nothing",
        "ungrouped:&~node",
        "!ungrouped",
        "&frontend",
        "backend,solo1,10.0.0.5",
        "solo*:node*",
        "dc1:dc2:&backend",
        "frontend:!app[0]",
        "app[-2]",
        "cache[1:]",
        "redis.lab",
        "*.lab:!node-b*",
        "~",
        "!~",
    ],
}

#: (target, --limit) pairs.
LIMITS: dict[Path, list[tuple[str, str]]] = {
    SITE: [("all", "web"), ("prod", "eu:us"), ("web*", "!web02*"), ("all", "db[0]"), ("prod", "staging")],
    LAB: [("frontend", "dc1"), ("all", "app[1:2],cache"), ("~.*", "!ungrouped:&~(pg|app)")],
}

#: Ansible runs these (warning that a name matches nothing); we refuse them.
REFUSED: dict[Path, list[str]] = {
    SITE: ["all:!dbservrs", "web:typo", "prod:&eu:!uss", "web,nosuch", "!staging-app1"],
    LAB: ["all:!archiv", "app:!dc3", "frontend,!redis"],
}

#: Ansible drops the unpaired bracket it cannot read (``[`` alone selects every host); we refuse.
UNREADABLE: dict[Path, list[str]] = {SITE: ["[", "web:!db["], LAB: ["app]:!cache"]}

ANSIBLE_ENV = {
    "ANSIBLE_HOST_PATTERN_MISMATCH": "ignore",
    "ANSIBLE_DEPRECATION_WARNINGS": "False",
    "ANSIBLE_LOCALHOST_WARNING": "False",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    "ANSIBLE_NOCOLOR": "1",
}


def _env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return keep | ANSIBLE_ENV | {"ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp")}


def ansible_list(inv: Path, pattern: str, home: Path, limit: str | None = None) -> list[str] | None:
    """``ansible PATTERN -i INV --list-hosts``: the hosts, or None when Ansible refuses."""
    args = [str(BIN / "ansible"), pattern, "-i", str(inv), "--list-hosts"]
    if limit is not None:
        args += ["--limit", limit]
    run = subprocess.run(args, capture_output=True, text=True, env=_env(home), cwd=home, timeout=120)
    if run.returncode != 0:
        assert "ERROR" in run.stderr, run.stderr  # a real refusal, not a broken setup
        return None
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("hosts ("))
    return [line.strip() for line in lines[start + 1 :] if line.strip()]


def inventory_from_ansible(inv: Path, home: Path) -> Inventory:
    """A gtp-remote inventory of what Ansible reads in ``inv``: each host with its groups
    flattened (every ancestor), groups without hosts as group settings, hosts in Ansible's order."""
    run = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(inv), "--list"],
        capture_output=True,
        text=True,
        env=_env(home),
        cwd=home,
        check=True,
    )
    data = json.loads(run.stdout)
    data.pop("_meta")
    children = {g: body.get("children", []) for g, body in data.items()}
    names = set(data) | {c for kids in children.values() for c in kids}
    names -= {"all", "ungrouped"}

    def members(group: str) -> set[str]:
        found = set(data.get(group, {}).get("hosts", []))
        for child in children.get(group, []):
            found |= members(child)
        return found

    # Hosts in the order Ansible lists a group's hosts (its own, then each child's, depth first),
    # so that the subscripts of a group count the same hosts in both.
    order: list[str] = []

    def walk(group: str) -> None:
        order.extend(h for h in data.get(group, {}).get("hosts", []) if h not in order)
        for child in children.get(group, []):
            walk(child)

    walk("all")
    inventory = Inventory()
    flat = {g: members(g) for g in sorted(names)}
    for host in order:
        groups = [g for g, hosts in flat.items() if host in hosts]
        inventory.servers[host] = Server(name=host, groups=groups)
    inventory.group_settings = {g: GroupConfig() for g, hosts in flat.items() if not hosts}
    return inventory


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[Path, str, str | None], list[str] | None]:
    """Ansible's answer to every pattern, asked in parallel (one ``ansible`` process each)."""
    home = tmp_path_factory.mktemp("ansible")
    asks = [(inv, p, None) for inv, patterns in PATTERNS.items() for p in patterns]
    asks += [(inv, p, limit) for inv, pairs in LIMITS.items() for p, limit in pairs]
    asks += [(inv, p, None) for inv, patterns in REFUSED.items() for p in patterns]
    asks += [(inv, p, None) for inv, patterns in UNREADABLE.items() for p in patterns]
    with ThreadPoolExecutor(max_workers=max(4, (os.cpu_count() or 2) * 2)) as pool:
        found = list(pool.map(lambda ask: ansible_list(ask[0], ask[1], home, ask[2]), asks))
    return dict(zip(asks, found, strict=True))


@pytest.fixture(scope="module")
def inventories(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Inventory]:
    home = tmp_path_factory.mktemp("ansible-inv")
    return {inv: inventory_from_ansible(inv, home) for inv in PATTERNS}


def test_the_fixtures_have_what_the_language_needs(inventories: dict[Path, Inventory]):
    site, lab = inventories[SITE], inventories[LAB]
    assert site.servers["db-2.example.com"].groups == ["db", "db_replica", "prod"]  # nested children
    assert len(site.servers["web01.example.com"].groups) == 3  # several groups
    assert {"web04.example.com", "db-3.example.com"} <= set(site.servers)  # ranges
    assert not site.servers["bastion-01"].groups and not lab.servers["solo1"].groups  # ungrouped
    assert "empty_group" in site.group_settings and "nothing" in lab.group_settings
    assert "archive" in lab.servers and "archive" in lab.groups()  # a host named like a group
    assert sum(len(p) for p in PATTERNS.values()) >= 60


def _id(value: object) -> str:
    return value.name if isinstance(value, Path) else str(value)


def _ours(inventory: Inventory, pattern: str, limit: str | None = None) -> list[str] | Exception:
    try:
        return [s.name for s in inventory.resolve(pattern, limit)]
    except (UnknownServerError, InvalidRequestError) as exc:
        return exc


def _compare(theirs: list[str] | None, ours: list[str] | Exception) -> None:
    if theirs:
        assert not isinstance(ours, Exception), f"Ansible selects {theirs}, we refused: {ours}"
        assert sorted(ours) == sorted(theirs)
        assert len(ours) == len(set(ours))
    else:  # Ansible selects nothing (or refuses): we refuse, naming why
        assert isinstance(ours, UnknownServerError), f"Ansible selects nothing, we selected {ours}"


@pytest.mark.parametrize(("inv", "pattern"), [(inv, p) for inv, ps in PATTERNS.items() for p in ps], ids=_id)
def test_pattern_selects_what_ansible_selects(inv: Path, pattern: str, answers, inventories):
    _compare(answers[(inv, pattern, None)], _ours(inventories[inv], pattern))


@pytest.mark.parametrize(
    ("inv", "pattern", "limit"),
    [(inv, p, limit) for inv, pairs in LIMITS.items() for p, limit in pairs],
    ids=_id,
)
def test_limit_narrows_as_ansible_limit_does(inv: Path, pattern: str, limit: str, answers, inventories):
    _compare(answers[(inv, pattern, limit)], _ours(inventories[inv], pattern, limit))


@pytest.mark.parametrize(("inv", "pattern"), [(inv, p) for inv, ps in REFUSED.items() for p in ps], ids=_id)
def test_a_name_that_matches_nothing_is_refused_where_ansible_goes_on(
    inv: Path, pattern: str, answers, inventories
):
    assert answers[(inv, pattern, None)], "Ansible runs it on some hosts"
    ours = _ours(inventories[inv], pattern)
    assert isinstance(ours, UnknownServerError) and ours.message.startswith("unknown server '")


@pytest.mark.parametrize(
    ("inv", "pattern"), [(inv, p) for inv, ps in UNREADABLE.items() for p in ps], ids=_id
)
def test_what_ansible_cannot_read_and_drops_is_refused(inv: Path, pattern: str, answers, inventories):
    assert answers[(inv, pattern, None)], "Ansible runs it on some hosts"
    ours = _ours(inventories[inv], pattern)
    assert isinstance(ours, InvalidRequestError) and "without its pair" in ours.message


def test_unknown_names_get_close_matches_and_bad_patterns_a_clear_error(inventories):
    site = inventories[SITE]
    with pytest.raises(UnknownServerError, match=r"unknown server 'dbservrs'") as info:
        site.resolve("all:!dbservrs")
    with pytest.raises(UnknownServerError) as info:
        site.resolve("web:!db_replca")
    assert info.value.hint.startswith("did you mean 'db_replica'?")
    with pytest.raises(UnknownServerError, match="unknown group 'webz'; did you mean 'web'"):
        site.resolve("group:webz")
    with pytest.raises(InvalidRequestError, match=r"invalid regular expression in pattern '!~web\('"):
        site.resolve("all:!~web(")
    for slow in ("~(a+)+$", "~(a|ab)*c", r"~(w)\1", "~.*.*.*.*x", "~" + "w" * 300):
        with pytest.raises(InvalidRequestError, match=r"regular expression in pattern .* refused"):
            site.resolve(slow)
    assert len(site.resolve("~(web|db)")) == 7  # alternatives, a repeat or two: fine
    for empty in ("", " ", ",", " , "):
        with pytest.raises(InvalidRequestError, match="empty target"):
            site.resolve(empty)
    with pytest.raises(InvalidRequestError, match="needs a pattern after '!'"):
        site.resolve("web:!")
    with pytest.raises(InvalidRequestError, match="group: takes one group's name"):
        site.resolve("group:web*")
    with pytest.raises(InvalidRequestError, match="@FILE"):
        site.resolve("all", "@hosts.txt")
    with pytest.raises(UnknownServerError, match=r"pattern 'eu:&us' matches no servers"):
        site.resolve("eu:&us")
    with pytest.raises(UnknownServerError, match=r"matches no servers within limit 'staging'"):
        site.resolve("web", "staging")
    with pytest.raises(UnknownServerError, match=r"'web' has 4, numbered from 0"):
        site.resolve("web[4]")


def test_group_prefix_means_the_group_only_and_keeps_working(inventories):
    lab = inventories[LAB]
    names = lambda t, limit=None: [s.name for s in lab.resolve(t, limit)]  # noqa: E731
    assert names("archive") == ["archive"]  # the host
    assert names("group:archive") == ["pg-old"]  # the group
    assert names("group:backend:!group:archive") == ["pg-01", "pg-02"]
    assert names("group:backend,!group:archive") == ["pg-01", "pg-02"]
    assert names("group:app[0]") == ["app1"]
    assert names("backend:&group:dc1") == ["pg-01"]
    assert names("solo1,group:dc1") == ["solo1", "app1", "app3", "pg-01"]  # the order follows the target
    assert split_pattern("!group:web:&group:db,x") == ["!group:web:&group:db", "x"]
    assert split_pattern("!group:web:&group:db") == ["!group:web", "&group:db"]
    assert split_pattern("group web") == ["group", "web"]


def test_groups_include_those_known_only_from_group_settings():
    inv = Inventory()
    inv.servers["a"] = Server(name="a", groups=["web"])
    inv.group_settings = {"web": GroupConfig(), "later": GroupConfig()}
    assert inv.groups() == {"web": ["a"], "later": []}
    assert [s.name for s in inv.resolve("web:later")] == ["a"]
    with pytest.raises(UnknownServerError, match="pattern 'later' matches no servers"):
        inv.resolve("later")
    with pytest.raises(UnknownServerError) as info:
        inv.get("web")
    assert info.value.hint == "'web' is a group: use target 'group:web' (or the pattern 'web')"


def test_a_group_named_ungrouped_is_that_group():
    universe = Universe.of(["a", "b"], {"ungrouped": ["b"]})
    assert select("ungrouped", universe) == ["b"]
    assert select("ungrouped", Universe.of(["a", "b"], {"web": ["b"]})) == ["a"]


# -- a token's scope --------------------------------------------------------------------------


def _scoped_gateway(settings: Settings) -> Gateway:
    inv = Inventory()
    for name, groups in {
        "web1": ["web", "eu"],
        "web2": ["web", "us"],
        "web3": ["web", "eu"],
        "db1": ["db", "eu"],
        "db2": ["db", "us"],
        "stage1": ["staging"],
        "lone": [],
    }.items():
        inv.servers[name] = Server(name=name, groups=groups)
    inv.group_settings = {"empty": GroupConfig()}
    return Gateway(inv, settings)


BOB = Principal("bob", servers=("web1", "web3", "group:db", "lone"))


def _error(call) -> UnknownServerError:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownServerError) as info:
        call()
    return info.value


async def test_patterns_see_only_the_tokens_servers(settings: Settings):
    gw = _scoped_gateway(settings)
    try:
        assert gw.resolve_target(BOB, "*") == ["web1", "web3", "db1", "db2", "lone"]
        assert gw.resolve_target(BOB, "~.*") == ["web1", "web3", "db1", "db2", "lone"]
        assert gw.resolve_target(BOB, "all:!web1") == ["web3", "db1", "db2", "lone"]
        assert gw.resolve_target(BOB, "web") == ["web1", "web3"]  # a group partly in scope
        assert gw.resolve_target(BOB, "web[1]") == ["web3"]  # subscripts count what it sees
        assert gw.resolve_target(BOB, "eu:&web") == ["web1", "web3"]
        assert gw.resolve_target(BOB, "ungrouped") == ["lone"]
        assert gw.resolve_target(BOB, "all", limit="db*") == ["db1", "db2"]
        assert _error(lambda: gw.resolve_target(BOB, "web[2]")).message.startswith("pattern 'web[2]'")
        # An invisible host, named literally, is exactly a name that does not exist.
        hidden = _error(lambda: gw.resolve_target(BOB, "all:!web2"))
        missing = _error(lambda: gw.resolve_target(BOB, "all:!web9"))
        assert (hidden.message, missing.message) == ("unknown server 'web2'", "unknown server 'web9'")
        assert hidden.hint == missing.hint
        assert "web2" not in hidden.hint and "stage" not in hidden.hint
        assert "empty" not in hidden.hint  # a group with nothing in scope is not there either
        # A group whose servers are all out of scope does not exist for this token.
        staging = _error(lambda: gw.resolve_target(BOB, "staging"))
        nosuch = _error(lambda: gw.resolve_target(BOB, "stagingz"))
        assert (staging.message, staging.hint) == ("unknown server 'staging'", nosuch.hint)
        grouped = _error(lambda: gw.resolve_target(BOB, "group:staging"))
        assert grouped.message == "unknown group 'staging'" and "staging" not in grouped.hint
        glob = _error(lambda: gw.resolve_target(BOB, "stag*"))
        regex = _error(lambda: gw.resolve_target(BOB, "~stage"))
        assert glob.hint == regex.hint and "stage" not in glob.hint
        # The owner sees everything, groups without servers included.
        owner = Principal.owner("me")
        assert gw.resolve_target(owner, "web:empty") == ["web1", "web2", "web3"]
        assert gw.resolve_target(owner, "staging,lone") == ["stage1", "lone"]
    finally:
        await gw.close()


async def test_a_single_server_field_says_when_a_name_is_a_group(settings: Settings):
    gw = _scoped_gateway(settings)
    try:
        web = _error(lambda: gw.server_for(BOB, "web"))
        assert web.hint == "'web' is a group: use target 'group:web' (or the pattern 'web')"
        staging = _error(lambda: gw.server_for(BOB, "staging"))  # not its group: no hint of it
        assert "group" not in staging.hint and "staging" not in staging.hint
        with pytest.raises(InvalidRequestError, match="limit narrows a target"):
            await gw.plan(BOB, Command("true", server="web1", limit="web"))
    finally:
        await gw.close()


# -- over REST and the CLI, on the bed ---------------------------------------------------------


@pytest.fixture
async def client(bed: Bed, settings: Settings, tmp_path: Path):
    api = make_api(bed, settings, tmp_path)
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Client(session, str(server.make_url("")).rstrip("/"))
    await server.close()


@pytest.mark.bed
async def test_execute_shell_takes_a_pattern_and_a_limit(client: Client):
    async def ran(body: dict) -> list[str]:
        status, data = await client.post("/command/execute-shell", {"command": "hostname", **body})
        assert status == 200, data
        assert data["summary"]["ok"] == len(data["results"])
        return sorted(r["stdout"].strip() for r in data["results"])

    assert await ran({"target": "group:bed:!db"}) == ["code", "k8s-master"]
    assert await ran({"target": "bed:!db"}) == ["code", "k8s-master"]
    assert await ran({"target": "~^(db|code)$"}) == ["code", "db"]
    assert await ran({"target": "all:!local", "limit": "k8s*,db"}) == ["db", "k8s-master"]
    assert await ran({"target": "bed[0]:bed[-1]"}) == ["db", "k8s-master"]
    status, data = await client.post("/command/execute-shell", {"command": "true", "target": "all:!dbb"})
    assert status == 404 and data["error"]["message"] == "unknown server 'dbb'"
    assert data["error"]["hint"].startswith("did you mean 'db'?")
    # bob's scope is db: everything else is unknown to him, globs included
    status, data = await client.post("/command/execute-shell", {"command": "hostname", "target": "*"}, "bob")
    assert status == 200 and [r["stdout"] for r in data["results"]] == ["db\n"]
    status, data = await client.post("/command/execute-shell", {"command": "true", "target": "code"}, "bob")
    assert status == 404 and data["error"]["hint"] == "your servers: db"


@pytest.mark.bed
def test_cli_exec_and_hosts_take_limit_and_pattern(bed: Bed, tmp_path: Path):
    env = {**os.environ, "GTP_STATE_DIR": str(tmp_path / "state")}

    def gtp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gtp_remote", "-i", str(bed.inventory), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    run = gtp("exec", "bed", "--limit", "!db", "--json", "--", "hostname")
    assert run.returncode == 0, run.stderr
    assert sorted(r["stdout"] for r in json.loads(run.stdout)["results"]) == ["code\n", "k8s-master\n"]
    run = gtp("exec", "all", "--limit", "code", "--", "hostname")  # one server: streamed
    assert (run.returncode, run.stdout) == (0, "code\n")
    run = gtp("exec", "all", "-l", "nope", "--", "true")
    assert run.returncode == 2 and run.stderr.startswith("error: unknown server 'nope'")
    listed = gtp("hosts", "--json", "--pattern", "bed:!code")
    assert [h["name"] for h in json.loads(listed.stdout)] == ["db", "k8s-master"]
    checked = gtp("hosts", "check", "~k8s", "--limit", "all", "--json")
    assert checked.returncode == 0 and [r["server"] for r in json.loads(checked.stdout)] == ["k8s-master"]


# -- red-team regressions --------------------------------------------------------------------------


def test_long_intersections_and_exclusions_stay_fast_and_parts_are_capped() -> None:
    """Each intersection rebuilt its set for every host (quadratic), on the gateway's loop."""
    import time

    hosts = [f"h{i}" for i in range(3000)]
    universe = Universe.of(hosts, {"g": hosts[:1500]})
    started = time.perf_counter()
    assert len(select("*" + ",&*" * 150, universe)) == 3000
    assert select("*:!g" + ":&*" * 100, universe) == hosts[1500:]
    assert time.perf_counter() - started < 2.0
    with pytest.raises(InvalidRequestError, match="more than 200"):
        select("*" + ",&*" * 300, universe)


def test_group_prefix_is_refused_where_group_is_a_name_of_the_inventory() -> None:
    universe = Universe.of(["g1", "w1"], {"group": ["g1"], "web": ["w1"]})
    with pytest.raises(InvalidRequestError, match="ambiguous"):
        select("group:web", universe)
    assert select("group,web", universe) == ["g1", "w1"]


def test_subscripts_count_a_groups_hosts_in_ansibles_order(tmp_path: Path) -> None:
    """A host listed in another group first used to be counted first: Ansible counts the
    group's own list (web1, then db2), then its children's."""
    from gtp_remote.config import load_inventory

    ini = tmp_path / "order.ini"
    ini.write_text("[db]\ndb2\n[web]\nweb1\ndb2\n[k8s]\nlb1\n[k8s:children]\nmasters\n[masters]\nkm1\n")
    inventory = load_inventory(ini)
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    for pattern, expected in [("web[0]", "web1"), ("web[-1]", "db2"), ("k8s[0]", "lb1"), ("k8s[-1]", "km1")]:
        assert [s.name for s in inventory.resolve(pattern)] == [expected] == ansible_list(ini, pattern, home)


def test_subscripts_of_all_count_in_ansibles_order(tmp_path: Path) -> None:
    """Held-out-run regression: all[0] took the first host read, Ansible the first of all's
    children a generation at a time (webapps' code comes before infra's children's hosts)."""
    from gtp_remote.config import load_inventory

    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "01-infra.ini").write_text(
        "[dbservers]\ndb\n\n[k8s]\nk8s-master\n\n[infra:children]\ndbservers\nk8s\n"
    )
    (folder / "02-apps.ini").write_text("[webapps]\ncode\n\n[staging]\ncode\ndb\n")
    inventory = load_inventory(folder)
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    for pattern in ("all[0]", "all[1]", "all[-1]", "all[1:2]", "*[0]"):
        ours = [s.name for s in inventory.resolve(pattern)]
        assert sorted(ours) == sorted(ansible_list(folder, pattern, home) or []), pattern

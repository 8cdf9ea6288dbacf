"""Ansible inventories: read as Ansible reads them (checked against ansible-inventory itself),
and everything gtp-remote cannot honour named with its file and line; plus gtp-remote's own
``defaults:`` and group settings."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from gtp_remote.config import load_inventory
from gtp_remote.errors import InventoryError

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
FIXTURES = ROOT / "tests" / "inventories" / "ansible"
CASES = ["ini/hosts.ini", "yaml/hosts.yml", "vars", "messy", "mixed"]


def ansible_view(inventory: Path, home: Path) -> dict[str, tuple]:
    """Each host's address, port, user and groups (ancestors included) as Ansible sees them."""
    (home / "ansible.cfg").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_CONFIG": str(home / "ansible.cfg"), "ANSIBLE_HOME": str(home)}
    run = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
        capture_output=True, text=True, env=env, cwd=home, check=True,
    )  # fmt: skip
    listing = json.loads(run.stdout)
    groups: dict[str, set[str]] = {}

    def walk(group: str, above: set[str]) -> None:
        node = listing.get(group, {})
        for host in node.get("hosts", []):
            groups.setdefault(host, set()).update(above | {group})
        for child in node.get("children", []):
            walk(child, above | {group})

    walk("all", set())
    out = {}
    for host in groups:  # a host without variables is left out of hostvars
        hostvars = listing["_meta"]["hostvars"].get(host, {})
        address = (
            None if hostvars.get("ansible_connection") == "local" else hostvars.get("ansible_host", host)
        )
        port = hostvars.get("ansible_port")
        out[host] = (
            address,
            int(port) if port else None,
            hostvars.get("ansible_user"),
            groups[host] - {"all"},
        )
    return out


def gtp_view(inventory: Path) -> dict[str, tuple]:
    run = subprocess.run(
        [str(BIN / "gtp-remote"), "-i", str(inventory), "hosts", "--json"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return {
        s["name"]: (s["host"], s["port"], s["username"], set(s["groups"])) for s in json.loads(run.stdout)
    }


@pytest.mark.parametrize("case", CASES)
def test_hosts_ports_users_and_groups_match_ansible(case: str, tmp_path: Path):
    expected = ansible_view(FIXTURES / case, tmp_path)
    assert len(expected) >= 4
    assert gtp_view(FIXTURES / case) == expected


def test_the_fixtures_cover_what_they_claim():
    messy = load_inventory(FIXTURES / "messy")
    assert {"node01.lab", "node04.lab", "node07.lab", "node10.lab", "nodea.lab", "nodec.lab"} <= set(
        messy.servers
    )
    assert messy.servers["deep.lab"].port == 2022  # host:port beats the group's ansible_port
    assert messy.servers["both.lab"].username == "highuser"  # ansible_group_priority
    assert messy.servers["node04.lab"].host == "10.4.4.4"  # host_vars/
    assert messy.servers["orphan.example.com"].groups == ["ungrouped"]
    assert {"l0", "l1", "l2", "l3", "rack", "high", "low", "ungrouped"} <= set(messy.group_settings)
    yaml_inv = load_inventory(FIXTURES / "yaml" / "hosts.yml")
    assert "empty_group" in yaml_inv.group_settings  # an empty group is still known
    assert yaml_inv.servers["api-b"].host_key_policy == "accept-new"  # a gtp_* group var
    ini = load_inventory(FIXTURES / "ini" / "hosts.ini")
    assert ini.servers["control"].protocol == "local"
    assert ini.servers["db2"].max_sessions == 4
    assert "ntp_server" not in json.dumps(ini.servers["db1"].model_dump())  # playbook vars: ignored
    mixed = load_inventory(FIXTURES / "mixed")
    web = mixed.servers["m-web1"]
    assert (web.max_sessions, web.connect_timeout) == (3, 5)  # the gtp file's group and defaults
    assert mixed.servers["m-db2"].max_sessions == 8


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    return str(info.value)


def test_secrets_are_warned_about_with_file_and_line_and_never_used(tmp_path: Path):
    f = write(
        tmp_path, "hosts.ini", "[web]\nw1 ansible_password=hunter2\n\n[web:vars]\nansible_become_pass=x\n"
    )
    inv = load_inventory(f)
    assert f"{f}:2: ansible_password: ignored: secrets are never used" in "\n".join(inv.warnings)
    assert f"{f}:5: ansible_become_pass: ignored" in "\n".join(inv.warnings)
    assert "hunter2" not in "\n".join(inv.warnings) + json.dumps(inv.servers["w1"].model_dump())


def test_unknown_ansible_variable_warns_once_per_place(tmp_path: Path):
    f = write(tmp_path, "h.yml", "web:\n  hosts: {a: , b: }\n  vars:\n    ansible_shell_type: csh\n")
    inv = load_inventory(f)
    assert inv.warnings == [f"{f}:4: ansible_shell_type: not used by gtp-remote; ignored"]


def test_plugin_file_is_an_error_alone_and_a_warning_in_a_folder(tmp_path: Path):
    f = write(tmp_path, "aws_ec2.yml", "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    assert "inventory plugin's configuration (plugin: amazon.aws.aws_ec2)" in error_of(f)
    write(tmp_path, "static.ini", "[web]\nw1\n")
    inv = load_inventory(tmp_path)
    assert list(inv.servers) == ["w1"]
    assert any(w.startswith(f"{f}: skipped: an inventory plugin") for w in inv.warnings)


def test_vault_and_templates_in_used_values_are_errors(tmp_path: Path):
    f = write(
        tmp_path,
        "h.yml",
        "web:\n  hosts:\n    w1:\n      ansible_user: !vault |\n        $ANSIBLE_VAULT;1.1\n",
    )
    assert error_of(f).startswith(f"{f}:4: ansible_user: is vault-encrypted")
    f.write_text('web:\n  hosts:\n    w1:\n      ansible_host: \'{{ lookup("env", "IP") }}\'\n')
    assert error_of(f).startswith(f"{f}:4: ansible_host: is a Jinja2 template")
    f.write_text("web:\n  hosts:\n    w1:\n      motd: '{{ greeting }}'\n")  # not used: fine
    assert load_inventory(f).servers["w1"].host == "w1"


def test_unsupported_connection_and_bad_gtp_values_name_file_line_and_variable(tmp_path: Path):
    f = write(tmp_path, "h.ini", "[win]\nw1 ansible_connection=winrm\n")
    assert error_of(f).startswith(f"{f}:2: ansible_connection (host w1): 'winrm' is not supported")
    f.write_text("[web]\nw1\n\n[web:vars]\ngtp_max_sessions=0\ngtp_files=magic\n")
    message = error_of(f)
    assert f"{f}:5: gtp_max_sessions (host w1): must be greater than or equal to 1" in message
    assert f"{f}:6: gtp_files (host w1): must be 'auto', 'confined' or 'sftp'" in message
    f.write_text("[web]\nw1 gtp_max_sesions=3\n")
    assert "gtp_max_sesions (host w1): unknown key; did you mean 'max_sessions'?" in error_of(f)
    f.write_text("[web]\nw1 ansible_port=99999\n")
    assert error_of(f).startswith(f"{f}:2: ansible_port (host w1): must be an integer 1-65535")
    f.write_text("[web]\nw1 gtp_name=x\n")
    assert f"{f}:2: gtp_name (host w1): cannot be set" in error_of(f)


def test_host_names_gtp_remote_cannot_use(tmp_path: Path):
    f = write(tmp_path, "h.yml", "web:\n  hosts:\n    '_bad':\n")
    assert f"{f}:3: host '_bad': gtp-remote server names use letters" in error_of(f)
    f = write(tmp_path, "h.ini", "[web]\nok\n-oProxyCommand=x\n")
    assert f"{f}:3: host '-oProxyCommand=x': gtp-remote server names use letters" in error_of(f)


def test_ini_syntax_errors_name_the_line(tmp_path: Path):
    f = write(tmp_path, "h.ini", "[web]\nw1\n[web:nope]\n")
    assert error_of(f).startswith(f"{f}:3: section [web:nope] has unknown type 'nope'")
    f.write_text("[web:children]\nmissing\n")
    assert error_of(f).startswith(f"{f}:2: section [web:children] names undefined group 'missing'")
    f.write_text("[web]\nw1 oops\n")
    assert error_of(f).startswith(f"{f}:2: expected key=value")
    f.write_text("[web]\nw[009:10]\n")
    assert error_of(f).startswith(f"{f}:2: host range [009:10]: a zero-padded range")


def test_jump_from_ssh_args(tmp_path: Path):
    f = write(
        tmp_path,
        "h.ini",
        "[web]\n"
        "a ansible_ssh_common_args='-o ProxyJump=ops@bastion.example:2222'\n"
        "b ansible_ssh_common_args='-J bastion'\n"
        "c ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p -p 2200 -q jumper@gw.example\"'\n"
        "d ansible_ssh_extra_args='-o StrictHostKeyChecking=no'\n"
        "bastion\n",
    )
    inv = load_inventory(f)
    assert inv.servers["a"].jump == "ops@bastion.example:2222"
    assert inv.servers["b"].jump == "bastion"
    assert inv.servers["c"].jump == "jumper@gw.example:2200"
    assert inv.servers["d"].jump is None
    assert inv.servers["d"].host_key_policy == "accept-new"  # never "no check": trust once, pin
    warned = "\n".join(inv.warnings)
    assert (
        f"{f}:5: ansible_ssh_extra_args: StrictHostKeyChecking=no is taken as host_key_policy accept-new"
        in warned
    )
    f.write_text("[web]\na ansible_ssh_common_args='-J one,two'\n")
    assert "gtp-remote hops through one jump host" in error_of(f)


def test_ssh_options_that_say_where_and_how_to_log_in(tmp_path: Path):
    f = write(
        tmp_path,
        "h.ini",
        "[web]\n"
        "a ansible_ssh_common_args='-o UserKnownHostsFile=/etc/ssh/lab_known_hosts"
        " -o StrictHostKeyChecking=accept-new'\n"
        "b ansible_ssh_common_args='-i /keys/b -p 2201 -l deploy' ansible_user=ops\n"
        "c ansible_ssh_extra_args='-o IdentityFile=/keys/c -o Port=2202 -o User=svc'\n",
    )
    inv = load_inventory(f)
    a, b, c = inv.servers["a"], inv.servers["b"], inv.servers["c"]
    assert a.known_hosts == "/etc/ssh/lab_known_hosts" and a.host_key_policy == "accept-new"
    assert b.identity_files == ["/keys/b"] and b.port == 2201 and b.username == "ops"  # ansible_user wins
    assert c.identity_files == ["/keys/c"] and c.port == 2202 and c.username == "svc"
    assert not [w for w in inv.warnings if "ignored ssh options" in w]


def test_ansible_become_is_not_applied_but_says_who_become_becomes(tmp_path: Path):
    """Inventories set ansible_become for playbooks: applied, it would make every exec root's."""
    f = write(
        tmp_path,
        "h.yml",
        "web:\n  hosts:\n    w1:\n    w2:\n      ansible_sudo: yes\n      ansible_sudo_user: pg\n"
        "  vars:\n    ansible_become: true\n    ansible_become_user: app\n"
        "    ansible_become_method: ansible.builtin.sudo\n"
        "db:\n  hosts:\n    d1: {ansible_become: false, gtp_become: true}\n",
    )
    inv = load_inventory(f)
    w1, w2, d1 = inv.servers["w1"], inv.servers["w2"], inv.servers["d1"]
    assert (w1.become, w1.become_user, w1.become_method) == (False, "app", "sudo")
    assert (w2.become, w2.become_user) == (False, "pg")  # ansible_sudo_user is read after become_user
    assert d1.become  # gtp_become is the operator's explicit choice
    warned = "\n".join(inv.warnings)
    assert f"{f}:8: ansible_become: not applied" in warned
    assert f"{f}:5: ansible_sudo: not applied" in warned
    assert "gtp_become: true" in warned and "--become" in warned and "'become' permission" in warned
    assert f"{f}:13: ansible_become" not in warned  # false: nothing to say
    f.write_text("web:\n  hosts: {w1: }\n  vars: {ansible_become_method: su}\n")
    assert error_of(f).startswith(f"{f}:3: ansible_become_method (host w1): ")


def test_gtp_llm_and_gtp_policy(tmp_path: Path):
    write(
        tmp_path,
        "h.yml",
        "all:\n  vars:\n    gtp_policy: {commands: {deny: ['reboot *']}}\n"
        "web:\n  hosts:\n    w1:\n      gtp_llm: {provider: ollama, model: 'qwen:7b'}\n"
        "      gtp_policy: {commands: {deny: ['rm -rf *']}}\n"
        "  vars:\n    gtp_policy: {commands: {confirm: ['systemctl restart *']}}\n"
        "  children:\n    api:\n      hosts: {w2: }\n"
        "      vars:\n        gtp_policy: {commands: {deny: ['curl *']}}\n",
    )
    inv = load_inventory(tmp_path)
    w1 = inv.servers["w1"]
    assert (w1.llm.provider, w1.llm.model) == ("ollama", "qwen:7b")
    assert w1.policy.commands.deny == ["rm -rf *"]
    whose = [w for w, _ in inv.policies("w2")]
    # A child group's policy does not replace its parent's: each is a layer.
    assert whose == ["group api", "group web", "group all"]
    assert [w for w, _ in inv.policies("w1")] == ["server w1", "group web", "group all"]


def test_gtp_policy_error_names_file_and_line(tmp_path: Path):
    f = write(tmp_path, "h.yml", "web:\n  hosts: {w1: }\n  vars:\n    gtp_policy: {comands: {}}\n")
    assert error_of(f).startswith(f"{f}:4: gtp_policy.comands: unknown key")


def test_defaults_and_group_settings_are_inherited_across_files(tmp_path: Path):
    write(
        tmp_path,
        "a.yaml",
        "defaults:\n  username: deploy\n  port: 2222\n  env: {A: '1', B: '1'}\n"
        "  policy: {commands: {deny: ['shutdown *']}}\n"
        "groups:\n  prod:\n    max_sessions: 2\n    env: {B: '2', C: '2'}\n"
        "    policy: {commands: {deny: ['reboot *']}}\n",
    )
    write(
        tmp_path,
        "b.yaml",
        "servers:\n  db: {host: x, groups: [prod], env: {C: '3'}}\n  web: {host: y, port: 22, user: root}\n",
    )
    inv = load_inventory(tmp_path)
    db, web = inv.servers["db"], inv.servers["web"]
    assert (db.username, db.port, db.max_sessions) == ("deploy", 2222, 2)
    assert db.env == {"A": "1", "B": "2", "C": "3"}  # defaults < group < server, by key
    assert (web.username, web.port, web.max_sessions) == ("root", 22, 8)
    assert db.policy is None  # a policy is a layer, not a merged setting
    assert [w for w, _ in inv.policies("db")] == ["group prod", "defaults"]
    assert [w for w, _ in inv.policies("web")] == ["defaults"]


def test_two_groups_disagreeing_is_an_error_naming_both(tmp_path: Path):
    write(
        tmp_path,
        "a.yaml",
        "groups:\n  a: {max_sessions: 2}\n  b: {max_sessions: 3}\nservers:\n  s: {host: x, groups: [a, b]}\n",
    )
    assert "servers.s: groups a and b both set max_sessions, to different values" in error_of(tmp_path)


def test_unknown_keys_in_defaults_and_groups(tmp_path: Path):
    f = write(tmp_path, "a.yaml", "defaults:\n  max_sesions: 2\n")
    assert error_of(tmp_path).startswith(
        f"{f}: defaults.max_sesions: unknown key; did you mean 'max_sessions'?"
    )
    f.write_text("defaults:\n  host: x\n")
    assert f"{f}: defaults.host: unknown key" in error_of(tmp_path)
    f.write_text("groups:\n  web: {port: abc}\n")
    assert f'{f}: groups.web.port: must be an integer 1-65535, got "abc"' in error_of(tmp_path)
    f.write_text("defaults: {port: 1}\n")
    write(tmp_path, "b.yaml", "defaults: {port: 2}\n")
    assert "defaults: defined in two files" in error_of(tmp_path)


def test_defaults_apply_to_ansible_hosts_but_their_own_values_win(tmp_path: Path):
    write(
        tmp_path,
        "gtp.yaml",
        "defaults: {username: fallback, keepalive: 0}\ngroups:\n  web: {description: front}\n",
    )
    write(tmp_path, "hosts.ini", "[web]\nw1 ansible_user=own\nw2\n")
    inv = load_inventory(tmp_path)
    assert (inv.servers["w1"].username, inv.servers["w2"].username) == ("own", "fallback")
    assert inv.servers["w2"].keepalive == 0
    assert inv.group_settings["web"].description == "front"


def test_duplicate_host_in_gtp_and_ansible_files(tmp_path: Path):
    write(tmp_path, "gtp.yaml", "servers:\n  w1: {host: x}\n")
    write(tmp_path, "hosts.ini", "[web]\nw1\n")
    assert "host w1: duplicate server name, already defined in" in error_of(tmp_path)


def ansible_connects(inventory: Path, hosts: list[str], home: Path) -> dict[str, tuple]:
    """Where Ansible's ssh connection goes for each host, (address, port, user), read from the ssh
    command line it runs (``-vvv``) with a stand-in ssh that fails at once: no network needed."""
    fake = home / "fake-ssh"
    fake.write_text("#!/bin/sh\nexit 255\n")
    fake.chmod(0o755)
    (home / "ansible.cfg").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_CONFIG": str(home / "ansible.cfg"), "ANSIBLE_HOME": str(home), "HOME": str(home)}
    out = {}
    for host in hosts:
        run = subprocess.run(
            [str(BIN / "ansible"), host, "-i", str(inventory), "-m", "ping", "-vvv",
             "-e", f"ansible_ssh_executable={fake}"],
            capture_output=True, text=True, env=env, cwd=home, timeout=120,
        )  # fmt: skip
        line = next(x for x in run.stdout.splitlines() if "SSH: EXEC " in x)
        argv = shlex.split(line.split("SSH: EXEC ", 1)[1])
        options = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-o"]
        port = next((int(o[5:]) for o in options if o.startswith("Port=")), None)
        user = next((o[5:].strip('"') for o in options if o.startswith("User=")), None)
        out[host] = (argv[-2], port, user)
    return out


def test_ssh_spellings_win_over_the_plain_ones_as_in_ansible(tmp_path: Path):
    inventory = FIXTURES / "aliases"
    hosts = ["w1", "w2", "d1", "d2", "d3"]
    expected = ansible_connects(inventory, hosts, tmp_path)
    assert expected["w1"] == ("10.203.0.12", 2222, "legacyuser")  # the fixture says what it claims
    inv = load_inventory(inventory)
    got = {h: (inv.servers[h].host, inv.servers[h].port, inv.servers[h].username) for h in hosts}
    assert got == expected
    ini = inventory / "hosts.ini"
    warned = "\n".join(inv.warnings)
    assert f"{ini}:9: ansible_ssh_host: wins over ansible_host ({ini}:5)" in warned
    assert f"{inventory}/group_vars/db.yml:1: ansible_ssh_user: wins over ansible_user ({ini}:15)" in warned
    assert f"{ini}:15: ansible_remote_user: not used by gtp-remote" in warned  # not Ansible's either


def test_ansible_group_variables_do_not_override_the_operators_gtp_settings(tmp_path: Path):
    gtp = write(
        tmp_path,
        "gtp.yaml",
        "groups:\n  web:\n    become: false\n    root: /srv/app\n    host_key_policy: strict\n"
        "    env: {A: '1'}\ndefaults:\n  max_sessions: 4\n",
    )
    write(tmp_path, "hosts.ini", "[web]\nw1 ansible_host=10.0.0.1\n")
    shared = write(
        tmp_path,
        "group_vars/all.yml",
        "ansible_become: true\ngtp_root: /\nansible_ssh_common_args: -o StrictHostKeyChecking=accept-new\n",
    )
    message = error_of(tmp_path)
    assert (
        f'{shared}:2: gtp_root (host w1): sets root to "/", but the operator\'s {gtp}: '
        'groups.web.root is "/srv/app"'
    ) in message
    assert (
        f'{shared}:3: ansible_ssh_common_args (host w1): sets host_key_policy to "accept-new", but the '
        f'operator\'s {gtp}: groups.web.host_key_policy is "strict"'
    ) in message
    shared.write_text("gtp_max_sessions: 2\n")
    assert (
        f"{shared}:1: gtp_max_sessions (host w1): sets max_sessions to 2, but the operator's {gtp}: "
        "defaults.max_sessions is 4"
    ) in error_of(tmp_path)
    shared.write_text("gtp_env: {A: '2'}\n")
    assert f'sets env to {{"A": "2"}}, but the operator\'s {gtp}: groups.web.env is {{"A": "1"}}' in (
        error_of(tmp_path)
    )
    # The same value, another env key, or the host's own value (inline or host_vars/): no conflict.
    shared.write_text("gtp_root: /srv/app\ngtp_env: {B: '2'}\n")
    write(tmp_path, "host_vars/w1.yml", "gtp_max_sessions: 2\n")
    write(tmp_path, "hosts.ini", "[web]\nw1 ansible_host=10.0.0.1 gtp_host_key_policy=accept-new\n")
    w1 = load_inventory(tmp_path).servers["w1"]
    assert (w1.root, w1.max_sessions, w1.host_key_policy, w1.become) == ("/srv/app", 2, "accept-new", False)
    assert w1.env == {"A": "1", "B": "2"}


def test_a_gtp_policy_given_twice_at_one_level_is_an_error_naming_both(tmp_path: Path):
    ini = write(
        tmp_path, "hosts.ini", '[prod:vars]\ngtp_policy={"commands": {"deny": ["rm *"]}}\n[prod]\np1\n'
    )
    gv = write(tmp_path, "group_vars/prod.yml", "gtp_policy: {commands: {deny: ['reboot *']}}\n")
    assert error_of(tmp_path).startswith(
        f"{gv}:1: gtp_policy: group prod already has a gtp_policy at {ini}:2"
    )
    gv.unlink()
    ini.write_text("[prod]\np1\n")
    a = write(tmp_path, "group_vars/prod/a.yml", "gtp_policy: {commands: {deny: ['rm *']}}\n")
    b = write(tmp_path, "group_vars/prod/b.yml", "gtp_policy: {commands: {deny: ['reboot *']}}\n")
    assert error_of(tmp_path).startswith(f"{b}:1: gtp_policy: group prod already has a gtp_policy at {a}:1")
    b.unlink()
    ini.write_text('[prod]\np1 gtp_policy=\'{"commands": {"deny": ["curl *"]}}\'\n')
    hv = write(tmp_path, "host_vars/p1.yml", "gtp_policy: {commands: {deny: ['wget *']}}\n")
    assert error_of(tmp_path).startswith(f"{hv}:1: gtp_policy: host p1 already has a gtp_policy at {ini}:2")
    hv.unlink()
    ini.write_text(
        '[prod:vars]\ngtp_policy={"commands": {"deny": ["a *"]}}\n[prod:vars]\ngtp_policy={}\n[prod]\np1\n'
    )
    assert error_of(tmp_path).startswith(
        f"{ini}:4: gtp_policy: group prod already has a gtp_policy at {ini}:2"
    )
    ini.write_text("[prod]\np1\n")  # one per level: each is a layer
    inv = load_inventory(tmp_path)
    assert [w for w, _ in inv.policies("p1")] == ["group prod"]
    assert inv.policies("p1")[0][1].commands.deny == ["rm *"]


def test_host_ranges_are_capped_before_they_are_expanded(tmp_path: Path):
    f = write(tmp_path, "hosts.ini", "# big\n[web]\nweb[1:100000000]\n")
    started = time.monotonic()
    assert error_of(f).startswith(
        f"{f}:3: host pattern 'web[1:100000000]' expands to 100,000,000 hosts; one inventory holds at "
        "most 100,000"
    )
    f.write_text("[web]\nw[0:999]-[0:999]-[0:999]\n")
    assert "expands to 1,000,000,000 hosts" in error_of(f)
    f.write_text("[web]\na[1:60000]\n[db]\nb[1:60000]\n")  # the cap is the inventory's, not a line's
    assert error_of(f).startswith(f"{f}:4: host pattern 'b[1:60000]' expands to 60,000 hosts (120,000 with")
    f = write(tmp_path, "h.yml", "web:\n  hosts:\n    'w[1:9999999]':\n")
    assert error_of(f).startswith(f"{f}:3: host pattern 'w[1:9999999]' expands to 9,999,999 hosts")
    assert time.monotonic() - started < 10
    f.write_text("web:\n  hosts:\n    'w[1:3]-[a:b]':\n")
    assert sorted(load_inventory(f).servers) == ["w1-a", "w1-b", "w2-a", "w2-b", "w3-a", "w3-b"]


def test_yaml_alias_bombs_are_refused_quickly_naming_the_variable(tmp_path: Path):
    laughs = "".join(f"      gtp_x{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 8))
    f = write(
        tmp_path,
        "inv.yml",
        "all:\n  hosts:\n    h1:\n      gtp_description: &l0 [x, x, x, x, x, x, x, x, x]\n" + laughs,
    )
    started = time.monotonic()
    message = error_of(f)
    assert re.match(
        rf"{re.escape(str(f))}:\d+: gtp_x\d: is too large: [\d,]+ values once its YAML aliases", message
    )
    assert time.monotonic() - started < 5
    # Shared anchors of a normal size are fine.
    f.write_text(
        "all:\n  vars:\n    gtp_policy: {commands: {deny: &d ['rm *']}}\n"
        "  hosts:\n    h1:\n      gtp_policy: {commands: {deny: *d, confirm: *d}}\n"
    )
    assert load_inventory(f).servers["h1"].policy.commands.deny == ["rm *"]
    f.write_text("all:\n  hosts:\n    h1:\n      gtp_env: &loop {A: *loop}\n")
    assert error_of(f).startswith(f"{f}:4: invalid YAML: found unconstructable recursive node")
    f.write_text("web:\n  hosts:\n    h1:\n      gtp_env: &loop {A: *loop}\n")
    assert error_of(f).startswith(f"{f}:4: invalid YAML")


def test_port_zero_jinja_comments_and_proxycommand_options(tmp_path: Path):
    f = write(tmp_path, "h.ini", "[web]\nw1:0\n")
    assert error_of(f).startswith(f"{f}:2: host 'w1:0': port 0 is out of range (1-65535)")
    f = write(tmp_path, "h.yml", "web:\n  hosts:\n    'w1:70000':\n")
    assert error_of(f).startswith(f"{f}:3: host 'w1:70000': port 70000 is out of range")
    f.write_text("web:\n  hosts:\n    w1:\n      ansible_host: 'x{# note #}'\n")
    assert error_of(f).startswith(f"{f}:4: ansible_host: is a Jinja2 template")
    f.write_text(
        "web:\n  hosts:\n    w1:\n      ansible_ssh_common_args: >-\n"
        '        -o ProxyCommand="ssh -W %h:%p -i /k -o Compression=yes -q -p2200 ops@gw"\n'
    )
    inv = load_inventory(f)
    assert inv.servers["w1"].jump == "ops@gw:2200"
    assert inv.warnings == [
        f"{f}:4: ansible_ssh_common_args: ignored ssh options -i /k (in ProxyCommand) "
        "-o Compression=yes (in ProxyCommand) -q (in ProxyCommand) (gtp-remote sets its own)"
    ]


def test_a_vault_encrypted_vars_file_is_skipped_with_a_warning(tmp_path: Path):
    write(tmp_path, "hosts.ini", "[web]\nw1\n")
    write(tmp_path, "group_vars/all/vars.yml", "ansible_user: deploy\n")
    vault = write(tmp_path, "group_vars/all/vault.yml", "$ANSIBLE_VAULT;1.1;AES256\n6231336162\n")
    hv = write(tmp_path, "host_vars/w1.yml", "$ANSIBLE_VAULT;1.1;AES256\n3131\n")
    inv = load_inventory(tmp_path)
    assert inv.servers["w1"].username == "deploy"
    assert f"{vault}: skipped: vault-encrypted" in inv.warnings[0]
    assert f"{hv}: skipped: vault-encrypted" in inv.warnings[1]
    # A !vault value gtp-remote would use is still an error.
    write(tmp_path, "group_vars/web.yml", "ansible_port: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3131\n")
    assert "group_vars/web.yml:1: ansible_port: is vault-encrypted" in error_of(tmp_path)

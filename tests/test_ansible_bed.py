"""An Ansible inventory of the test bed, as an ops team would have written it for Ansible, used
as gtp-remote's inventory: patterns give the hosts ``ansible --list-hosts`` gives, and ``exec``
on a pattern reaches exactly those hosts (each host says its own name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Bed

BIN = Path(sys.executable).parent


def _ansible_env(home: Path) -> dict[str, str]:
    """Ansible with no user configuration, quiet and offline (an empty ansible.cfg of its own)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "ansible.cfg").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return env | {
        "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_NOCOLOR": "1",
    }


PATTERNS = [
    "all",
    "*",
    "data",
    "apps",
    "k8s",
    "data:apps",
    "apps:&k8s",
    "all:!k8s",
    "apps:!k8s-master",
    "*:!db",
    "~^(db|code)$",
    "k8s*",
    "apps[0]",
    "apps[-1]",
    "db,code",
    "prod:&apps:!code",
    "!data:prod",
    "group:apps",
]


def _inventory(bed: Bed, folder: Path) -> Path:
    """INI with children of children, group vars and ssh args, the way Ansible users write it."""
    hosts = {name: host.ip for name, host in bed.hosts.items()}
    (folder / "group_vars").mkdir(parents=True)
    (folder / "group_vars" / "all.yml").write_text(
        f"ansible_user: {bed.user}\n"
        f"ansible_ssh_private_key_file: {bed.client_key}\n"
        f"ansible_ssh_common_args: '-o UserKnownHostsFile={bed.known_hosts}'\n"
    )
    ini = folder / "hosts.ini"
    ini.write_text(
        f"[data]\ndb ansible_host={hosts['db']}\n\n"
        f"[k8s]\nk8s-master ansible_host={hosts['k8s-master']} ansible_port=22\n\n"
        f"[web]\ncode ansible_host={hosts['code']}\n\n"
        "[apps:children]\nweb\nk8s\n\n"
        "[prod:children]\ndata\napps\n"
    )
    return ini


def _ansible_hosts(inventory: Path, pattern: str) -> set[str]:
    run = subprocess.run(
        [str(BIN / "ansible"), pattern, "-i", str(inventory), "--list-hosts"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_ansible_env(inventory.parent.parent / "ansible-home"),
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].strip().startswith("hosts ("), run.stdout
    return {line.strip() for line in lines[1:] if line.strip()}


def _gtp(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gtp-remote"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GTP_STATE_DIR": str(state)},
    )


@pytest.mark.bed
def test_hosts_match_ansible_inventory(bed: Bed, tmp_path: Path) -> None:
    ini = _inventory(bed, tmp_path / "inv")
    listed = _gtp("-i", str(ini), "hosts", "--json", state=tmp_path / "s")
    assert listed.returncode == 0, listed.stderr
    ours = {h["name"]: h for h in json.loads(listed.stdout)}
    theirs = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(ini), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_ansible_env(tmp_path / "ansible-home"),
        check=True,
    )
    hostvars = json.loads(theirs.stdout)["_meta"]["hostvars"]
    assert set(ours) == set(hostvars)
    for name, variables in hostvars.items():
        assert ours[name]["host"] == variables["ansible_host"]
        assert ours[name]["username"] == variables["ansible_user"] == bed.user
        assert int(ours[name]["port"] or 22) == int(variables.get("ansible_port", 22))


@pytest.mark.bed
@pytest.mark.parametrize("pattern", PATTERNS)
def test_exec_on_a_pattern_reaches_exactly_ansibles_hosts(bed: Bed, tmp_path: Path, pattern: str) -> None:
    ini = _inventory(bed, tmp_path / "inv")
    expected = _ansible_hosts(ini, pattern.removeprefix("group:"))  # group:X is gtp-remote's own form
    assert expected, f"{pattern} should name some bed hosts"
    run = _gtp("-i", str(ini), "exec", pattern, "--jsonl", "--", "hostname", state=tmp_path / "s")
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r["server"] for r in results} == expected
    # Each host answered with its own name: the command reached the host the inventory names.
    assert {r["stdout"].strip() for r in results} == expected


@pytest.mark.bed
def test_an_inventory_that_turns_host_key_checking_off_still_checks_and_pins(
    bed: Bed, tmp_path: Path
) -> None:
    """Lab inventories often say StrictHostKeyChecking=no: gtp-remote takes it as accept-new
    (trust once, pin, refuse a change), says so, and reaches the hosts."""
    folder = tmp_path / "inv"
    ini = _inventory(bed, folder)
    (folder / "group_vars" / "all.yml").write_text(
        f"ansible_user: {bed.user}\n"
        f"ansible_ssh_private_key_file: {bed.client_key}\n"
        "ansible_ssh_common_args: '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
    )
    state = tmp_path / "s"
    run = _gtp("-i", str(ini), "exec", "all", "--jsonl", "--", "hostname", state=state)
    assert run.returncode == 0, run.stderr
    assert "taken as host_key_policy accept-new" in run.stderr
    assert {json.loads(line)["server"] for line in run.stdout.splitlines()} == set(bed.hosts)
    pinned = (state / "known_hosts").read_text()
    assert all(host.ip in pinned for host in bed.hosts.values())

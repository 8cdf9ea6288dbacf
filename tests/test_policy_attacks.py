"""The policy engine against an attack corpus that is run for real.

``tests/policy_corpus/attacks.yaml`` holds attack cases (one per way of sneaking a forbidden
program, a removal, a read of a secret or a write to a protected file past a policy) and control
cases (ordinary ops work). Reference policies live in the same file. Each check runs commands for
real in a throw-away sandbox (``tests/policy_corpus/sandbox.py``), under bash and dash, as nobody
when the test runs as root:

a. the engine never *allows* an attack under a policy the case names (confirm and deny pass);
b. an attack whose ``fires`` names a shell really has its effect there (the case is a real attack);
c. whatever the engine allows, under any reference policy, is harmless in both shells (ground
   truth: no effect the policy forbids);
d. the control cases are allowed, and harmless.

Nothing is skipped: a missing shell or setpriv (when root) fails the run.
"""

from __future__ import annotations

import atexit
import functools
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from gtp_remote.policy import Decision, Facts, Policy, PolicyConfig
from tests.policy_corpus import sandbox
from tests.policy_corpus.judge import judge_on_host

CORPUS_FILE = Path(__file__).resolve().parent / "policy_corpus" / "attacks.yaml"
CORPUS: dict[str, Any] = yaml.safe_load(CORPUS_FILE.read_text())
SHELLS: tuple[str, ...] = tuple(CORPUS["shells"])
POLICIES: dict[str, dict[str, Any]] = CORPUS["policies"]
CASES: list[dict[str, Any]] = CORPUS["cases"]
ATTACKS = [c for c in CASES if c["class"] != "control"]
CONTROLS = [c for c in CASES if c["class"] == "control"]

CLASSES = {
    "quoting", "expansions", "heredocs", "env-injection", "wrappers", "interpreters", "risky-options",
    "cli-tools", "devices", "definitions", "builtins-eval", "syntax", "divergence", "paths",
    "cve-writeups", "control",
}  # fmt: skip
ATTACK_EFFECTS = {"pwn_ran", "victim_removed", "secret_read", "protected_written"}
MIN_ATTACKS = 320
MIN_CONTROLS = 40
#: Most attacks must be shown real by running them; the rest need a terminal, the network or a
#: program that is not installed, and say so in a note.
MIN_FIRING_SHARE = 0.85
WORKERS = max(4, 3 * (os.cpu_count() or 1))


@functools.cache
def _policy(name: str) -> Policy:
    return Policy(PolicyConfig.model_validate(POLICIES[name]["config"]), name=name)


@functools.cache
def _probe_box() -> Path:
    """A sandbox the engine's host probe looks at (as the gateway asks a real host): what its
    paths resolve to (planted symlinks), and whether a folder read recursively holds secrets."""
    boxes = sandbox.Sandboxes()
    atexit.register(boxes.close)
    return boxes.make().root


@functools.cache
def _decide(name: str, command: str) -> Decision:
    """The engine's verdict as the gateway reaches it: the command analysed, the host asked about
    its paths (in a sandbox laid out like the ones the cases run in), then judged."""
    home = _probe_box() / "home"
    return judge_on_host(_policy(name), command, Facts(home=str(home), cwd=str(home)), cwd=home)


def _allowed(name: str, command: str) -> bool:
    """Whether the engine allows it; an engine error counts as not allowed here (check a
    reports it)."""
    try:
        return _decide(name, command).action == "allow"
    except Exception:  # reported by test_engine_refuses
        return False


def _forbidden(name: str, case: dict[str, Any]) -> set[str]:
    forbidden = set(POLICIES[name]["forbidden"])
    if name in case["policies"]:
        forbidden.add(case["effect"])
    return forbidden


def _show(case: dict[str, Any]) -> str:
    note = f" [{case['note']}]" if case.get("note") else ""
    return f"{case['id']} ({case['class']}): {case['command']!r}{note}"


# -- the runs, all at once, concurrently -------------------------------------------------------------

Runs = dict[tuple[str, str], sandbox.Result]


@pytest.fixture(scope="session")
def runs() -> Runs:
    """Every (command, shell) some check needs, run once each in a fresh sandbox."""
    missing = sandbox.check_prerequisites()
    if missing:
        pytest.fail("cannot run the attack corpus for real; missing: " + ", ".join(missing), pytrace=False)
    needed: set[tuple[str, str]] = set()
    for case in ATTACKS:
        needed.update((case["command"], shell) for shell in case["fires"])
    for case in CONTROLS:
        needed.update((case["command"], shell) for shell in SHELLS)
    for case in CASES:
        if any(_allowed(name, case["command"]) for name in POLICIES):
            needed.update((case["command"], shell) for shell in SHELLS)
    boxes = sandbox.Sandboxes()
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            futures = {key: pool.submit(sandbox.run_once, boxes, key[1], key[0]) for key in sorted(needed)}
            return {key: future.result() for key, future in futures.items()}
    finally:
        boxes.close()


# -- the corpus itself -------------------------------------------------------------------------------


def test_shells_and_tools_are_present() -> None:
    missing = sandbox.check_prerequisites()
    assert not missing, f"the attack corpus needs these to run for real: {missing}"
    assert set(SHELLS) == set(sandbox.SHELLS) == {"bash", "dash"}


def test_corpus_is_well_formed() -> None:
    ids = Counter(c["id"] for c in CASES)
    assert not [i for i, n in ids.items() if n > 1], "duplicate ids"
    for case in CASES:
        where = case["id"]
        assert case["class"] in CLASSES, where
        assert isinstance(case["command"], str) and case["command"].strip(), where
        assert set(case["policies"]) <= set(POLICIES), where
        assert set(case["fires"]) <= set(SHELLS), where
        if case["class"] == "control":
            assert case["effect"] == "none" and not case["policies"] and not case["fires"], where
            assert case["allowed_by"] and set(case["allowed_by"]) <= set(POLICIES), where
        else:
            assert case["effect"] in ATTACK_EFFECTS, where
            assert case["policies"], where
            assert case["fires"] or case.get("note"), f"{where}: an attack that never fires needs a note"
    for name, spec in POLICIES.items():
        assert set(spec["forbidden"]) <= set(sandbox.EFFECTS), name
        _policy(name)  # the engine accepts it
    assert len(ATTACKS) >= MIN_ATTACKS
    assert len(CONTROLS) >= MIN_CONTROLS
    firing = sum(1 for c in ATTACKS if c["fires"])
    assert firing >= MIN_FIRING_SHARE * len(ATTACKS), f"only {firing} of {len(ATTACKS)} attacks fire"
    per_class = Counter(c["class"] for c in ATTACKS)
    assert all(n >= 10 for n in per_class.values()), per_class


# -- a: the engine refuses every attack --------------------------------------------------------------


@pytest.mark.parametrize(
    "case, name",
    [pytest.param(c, n, id=f"{n}-{c['id']}") for c in ATTACKS for n in c["policies"]],
)
def test_engine_refuses(case: dict[str, Any], name: str) -> None:
    decision = _decide(name, case["command"])
    assert decision.action != "allow", (
        f"{name} ALLOWS {_show(case)}; it goes for {case['effect']} and fires in "
        f"{case['fires'] or 'no shell here'}\n  reason: {decision.reason}"
    )


# -- b: the attacks are real -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, shell",
    [pytest.param(c, s, id=f"{s}-{c['id']}") for c in ATTACKS for s in c["fires"]],
)
def test_attack_fires(case: dict[str, Any], shell: str, runs: Runs) -> None:
    result = runs[(case["command"], shell)]
    assert case["effect"] in result.effects, f"{_show(case)} did not {case['effect']}:\n{result.describe()}"


# -- c: whatever is allowed is harmless --------------------------------------------------------------


@pytest.mark.parametrize(
    "case, name",
    [pytest.param(c, n, id=f"{n}-{c['id']}") for c in CASES for n in POLICIES],
)
def test_allowed_is_harmless(case: dict[str, Any], name: str, runs: Runs) -> None:
    if not _allowed(name, case["command"]):
        return  # refused: nothing runs
    reason = _decide(name, case["command"]).reason
    for shell in SHELLS:
        result = runs[(case["command"], shell)]
        harm = result.effects & _forbidden(name, case)
        assert not harm, (
            f"{name} allows {_show(case)} ({reason}), and under {shell} it did {sorted(harm)}:\n"
            + result.describe()
        )


# -- d: ordinary work passes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, name",
    [pytest.param(c, n, id=f"{n}-{c['id']}") for c in CONTROLS for n in c["allowed_by"]],
)
def test_control_allowed(case: dict[str, Any], name: str) -> None:
    decision = _decide(name, case["command"])
    assert decision.action == "allow", (
        f"{name} refuses ordinary work {_show(case)}: {decision.action}, {decision.reason}"
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CONTROLS])
def test_control_is_harmless(case: dict[str, Any], runs: Runs) -> None:
    for shell in SHELLS:
        result = runs[(case["command"], shell)]
        assert not result.effects, f"control {_show(case)} had effects under {shell}:\n{result.describe()}"
        assert not result.timed_out, f"control {_show(case)} timed out under {shell}"

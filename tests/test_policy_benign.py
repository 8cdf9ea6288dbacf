"""False positives: everyday ops commands judged under the allow lists a careful owner writes.

``tests/policy_corpus/benign.yaml`` holds a few realistic policies (inspection of a Linux server,
Kubernetes troubleshooting, code review, database health checks) and the commands an agent runs
under each. Every command there is benign; whatever the engine refuses (deny or confirm) is a
refusal the owner experiences. The test reports every refusal with the engine's reason and
fails when more than :data:`MAX_REFUSAL_RATE` of the corpus is refused.

Some commands use expansions on purpose (``dynamic: true``): the engine may ask for approval
(a computed program name or option, a loop variable, a process substitution), and such an
approval counts as a refusal but is reported apart. Negative controls (``controls:``) are
siblings that the careful rules must refuse: they keep the allow lists honest.

See the report on a passing run with ``pytest tests/test_policy_benign.py -rP``, or
``python -m tests.test_policy_benign``.
"""

from __future__ import annotations

import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gtp_remote.policy import Decision, Facts, Policy, PolicyConfig, rule_warnings
from tests.policy_corpus.judge import judge_on_host

CORPUS = Path(__file__).resolve().parent / "policy_corpus" / "benign.yaml"
FACTS = Facts(home="/home/ops", cwd="/home/ops")
#: The share of benign commands the engine may refuse (deny or confirm), dynamic ones included.
MAX_REFUSAL_RATE = 0.05
MIN_COMMANDS = 170


@dataclass(frozen=True)
class Entry:
    policy: str
    index: int  # position within its policy's list, for test ids
    cmd: str
    bash_only: bool = False
    dynamic: bool = False
    note: str | None = None

    @property
    def id(self) -> str:
        return f"{self.policy}-{self.index:03d}"


def _load() -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[Entry], list[Entry]]:
    data = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    rule_sets: dict[str, list[str]] = data.get("rule_sets") or {}
    configs: dict[str, dict[str, Any]] = {}
    for name, spec in data["policies"].items():
        config = dict(spec["config"])
        commands = dict(config.get("commands") or {})
        shared = [rule for set_name in spec.get("use", []) for rule in rule_sets[set_name]]
        commands["allow"] = [*shared, *commands.get("allow", [])]
        config["commands"] = commands
        configs[name] = config
    entries: list[Entry] = []
    for policy, items in data["commands"].items():
        for index, item in enumerate(items, 1):
            if isinstance(item, str):
                entries.append(Entry(policy, index, item))
                continue
            unknown = set(item) - {"cmd", "bash", "dynamic", "note"}
            if unknown or not isinstance(item.get("cmd"), str):
                raise ValueError(f"{policy} entry {index}: bad keys or no cmd: {item!r}")
            entries.append(
                Entry(
                    policy,
                    index,
                    item["cmd"],
                    bool(item.get("bash")),
                    bool(item.get("dynamic")),
                    item.get("note"),
                )
            )
    controls = [
        Entry(policy, index, cmd)
        for policy, items in (data.get("controls") or {}).items()
        for index, cmd in enumerate(items, 1)
    ]
    return data, configs, entries, controls


DATA, CONFIGS, ENTRIES, CONTROLS = _load()
POLICIES = {name: Policy(PolicyConfig.model_validate(config), name=name) for name, config in CONFIGS.items()}


# -- the corpus itself ---------------------------------------------------------------------------------


def test_corpus_is_big_varied_and_well_formed() -> None:
    assert len(ENTRIES) >= MIN_COMMANDS, f"only {len(ENTRIES)} commands"
    assert {e.policy for e in ENTRIES} == set(POLICIES), "every policy has commands, and only known ones"
    per_policy = Counter(e.policy for e in ENTRIES)
    assert min(per_policy.values()) >= 30, per_policy
    texts = Counter(e.cmd.strip() for e in ENTRIES)
    assert not [t for t, n in texts.items() if n > 1], "duplicate commands"
    assert all(e.cmd.strip() and "\t" not in e.cmd[:1] for e in ENTRIES)
    dynamic = sum(e.dynamic for e in ENTRIES) / len(ENTRIES)
    assert 0.03 <= dynamic <= 0.12, f"dynamic share {dynamic:.1%}: keep it realistic, not dominant"
    pipelines = sum("|" in e.cmd for e in ENTRIES) / len(ENTRIES)
    assert pipelines >= 0.3, f"only {pipelines:.0%} pipelines: the corpus is too simple"
    assert sum("\n" in e.cmd for e in ENTRIES) >= 5, "multi-line commands"


def test_policies_are_careful_not_broad() -> None:
    """No rule allows every command or every subcommand of a program that changes things, and
    the rules are free of the mistakes ``rule_warnings`` knows."""
    for name, config in CONFIGS.items():
        parsed = PolicyConfig.model_validate(config)
        assert parsed.commands.allow, f"{name} has a command allow list (so unmatched commands are denied)"
        assert rule_warnings(parsed) == [], name
        for rule in parsed.commands.allow:
            words = rule.split()
            assert words[0] not in ("*", "re:.*", "re:.+"), f"{name}: {rule!r} allows everything"
            if len(words) == 2 and words[1] == "*":
                assert words[0] not in (
                    "systemctl", "kubectl", "git", "docker", "helm", "sudo", "ip", "psql", "mysql",
                    "redis-cli", "sqlite3", "openssl", "curl", "make", "npm", "go", "cargo", "python",
                    "python3", "apt", "dpkg", "crontab", "hostname",
                ), f"{name}: {rule!r} allows every subcommand"  # fmt: skip


def _syntax(shell: str, cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shell, "-n", "-c", cmd], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_command_is_valid_shell(entry: Entry) -> None:
    """bash accepts every command; dash too unless it is marked bash-only."""
    checked = _syntax("bash", entry.cmd)
    assert checked.returncode == 0, f"bash -n rejects {entry.cmd!r}: {checked.stderr}"
    if not entry.bash_only:
        checked = _syntax("dash", entry.cmd)
        assert checked.returncode == 0, (
            f"dash -n rejects {entry.cmd!r} (mark it bash: true?): {checked.stderr}"
        )


def test_bash_only_marks_are_needed() -> None:
    """A command marked bash-only uses a bash feature (dash rejects it, or it uses [[ ]])."""
    for entry in (e for e in ENTRIES if e.bash_only):
        rejected = _syntax("dash", entry.cmd).returncode != 0
        assert rejected or "[[" in entry.cmd, f"{entry.id} is POSIX shell: drop its bash mark"


# -- judging -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    entry: Entry
    decision: Decision

    @property
    def refused(self) -> bool:
        return self.decision.action != "allow"


def judge_corpus() -> list[Verdict]:
    return [Verdict(e, judge_on_host(POLICIES[e.policy], e.cmd, FACTS)) for e in ENTRIES]


def _kind(reason: str) -> str:
    """A short label for why a command was refused, to group the report."""
    for needle, label in (
        ("a glob in a path", "glob in a file argument (a policy with path rules)"),
        ("a relative path after a change of directory", "relative path after cd (a policy with path rules)"),
        ("a redirection, and no path rule allows it", "redirect no path rule allows"),
        ("no rule matches", "no allow rule matches"),
        ("dynamic:", "dynamic (expansion or code)"),
        ("denied by rule", "a deny rule"),
        ("needs approval by rule", "a confirm rule"),
        ("cannot judge", "cannot be parsed"),
    ):
        if needle in reason:
            return label
    return "other"


def format_report(verdicts: list[Verdict]) -> str:
    total = len(verdicts)
    refused = [v for v in verdicts if v.refused]
    lines = [
        f"benign corpus: {total} commands, {len(refused)} refused ({len(refused) / total:.1%}; "
        f"limit {MAX_REFUSAL_RATE:.0%})",
        f"  of which written with expansions on purpose (dynamic: true): "
        f"{sum(v.entry.dynamic for v in refused)}",
    ]
    by_policy: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        by_policy[verdict.entry.policy].append(verdict)
    for policy, items in by_policy.items():
        bad = [v for v in items if v.refused]
        unexpected = [v for v in bad if not v.entry.dynamic]
        lines.append(
            f"  {policy:10} {len(items):4} commands, {len(bad):3} refused ({len(bad) / len(items):5.1%}), "
            f"{len(unexpected)} without expansions ({len(unexpected) / len(items):.1%})"
        )
    actions = Counter(v.decision.action for v in refused)
    lines.append(f"  refusals by action: {dict(actions)}")
    for heading, group in (
        (
            "REFUSED, NOT WRITTEN AS DYNAMIC (false positives to look at)",
            [v for v in refused if not v.entry.dynamic],
        ),
        ("REFUSED, WRITTEN WITH EXPANSIONS (expected approvals)", [v for v in refused if v.entry.dynamic]),
    ):
        lines.append("")
        lines.append(f"== {heading}: {len(group)}")
        kinds: dict[str, list[Verdict]] = defaultdict(list)
        for verdict in group:
            kinds[_kind(verdict.decision.reason)].append(verdict)
        for kind, items in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"-- {kind} ({len(items)})")
            for verdict in items:
                command = verdict.entry.cmd.replace("\n", "\\n ")
                lines.append(f"   [{verdict.entry.id}] {verdict.decision.action}: {command}")
                lines.append(f"       reason: {verdict.decision.reason}")
    allowed_dynamic = [v for v in verdicts if v.entry.dynamic and not v.refused]
    if allowed_dynamic:
        lines.append("")
        lines.append(f"== written with expansions, yet allowed (judged precisely): {len(allowed_dynamic)}")
        lines.extend(f"   [{v.entry.id}] {v.entry.cmd!r}: {v.decision.reason}" for v in allowed_dynamic)
    return "\n".join(lines)


def test_negative_controls_are_refused() -> None:
    """The rules are careful: commands next to the benign ones that change things are refused."""
    assert len(CONTROLS) >= 40
    allowed = [
        f"[{c.policy}] {c.cmd!r}: {d.reason}"
        for c in CONTROLS
        if (d := judge_on_host(POLICIES[c.policy], c.cmd, FACTS)).action == "allow"
    ]
    assert not allowed, "controls the rules let through:\n" + "\n".join(allowed)


def test_false_positive_rate() -> None:
    verdicts = judge_corpus()
    report = format_report(verdicts)
    print(report)
    rate = sum(v.refused for v in verdicts) / len(verdicts)
    assert rate <= MAX_REFUSAL_RATE, "\n" + report


if __name__ == "__main__":
    print(format_report(judge_corpus()))

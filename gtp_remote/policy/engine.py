"""Judging actions: one policy layer's verdict, and the strictest of several layers.

A *layer* is one :class:`PolicyConfig` (a token's, a server's, a group's or a specialist's). An
action is judged by every active layer that applies; deny beats confirm beats allow. A layer
with no rules and nothing set abstains, so where no layer has rules everything is allowed (the
owner's full-trust set-up keeps working); as soon as one layer has rules, that layer applies in
full, ``dynamic`` included.

Within a layer, a command is judged part by part (see ``shell``): a *static* part by its rules,
deny first, then confirm, then allow, then the default (deny when the layer has an allow list);
a *dynamic* part gets the layer's ``dynamic`` action (confirm unless set to deny, never allow),
or deny or confirm if such a rule could match it. Allow rules match strictly (every word known),
deny and confirm rules loosely (whatever unknown words turn out to be). A wrapper like
``timeout`` or ``nice`` is judged by what it runs; ``sudo`` and ``ssh`` need rules of their own.
Paths are judged with the path rules: redirect targets always where the layer has command allow
rules (a redirect no path rule allows is refused), other file arguments where it has path rules.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gtp_remote.policy import shell
from gtp_remote.policy.config import Action, Operation, PolicyConfig
from gtp_remote.policy.rules import MANY, ONE, CommandRule, PathRule, Subject, normalise_path
from gtp_remote.policy.shell import Analysis, Part, PathUse

PRECEDENCE: tuple[Action, ...] = ("deny", "confirm", "allow")
_RANK = {"allow": 0, "confirm": 1, "deny": 2}
_VERBS = {"deny": "denied by", "confirm": "needs approval by", "allow": "allowed by"}
#: Commands this long are analysed in a worker thread, so the event loop keeps serving.
OFF_LOOP_BYTES = 16 * 1024


@dataclass(frozen=True)
class Facts:
    """What the judge needs to know about the host: the user's home (for ``~`` and ``$HOME``)
    and the directory relative paths start from."""

    home: str | None = None
    cwd: str | None = None


@dataclass(frozen=True)
class Decision:
    """A verdict; ``part`` is the command or path that decided it, ``layer`` whose rules."""

    action: Action
    reason: str
    rule: str | None = None
    part: str | None = None
    layer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stricter(self, other: Decision) -> Decision:
        return other if _RANK[other.action] > _RANK[self.action] else self


def strictest(decisions: Iterable[Decision], empty: Decision) -> Decision:
    """The first decision of the strictest kind (deny, then confirm, then allow)."""
    best: Decision | None = None
    for decision in decisions:
        if best is None or _RANK[decision.action] > _RANK[best.action]:
            best = decision
            if best.action == "deny":
                break
    return best if best is not None else empty


def _names_match(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


class Policy:
    """One layer's rules, compiled once. ``name`` says whose they are, for messages."""

    def __init__(self, config: PolicyConfig | None = None, name: str = "policy") -> None:
        self.config = config or PolicyConfig()
        self.name = name
        self.active = self.config.active
        commands, paths = self.config.commands, self.config.paths
        self._commands = {a: [CommandRule.compile(p) for p in getattr(commands, a)] for a in PRECEDENCE}
        self._paths = {a: [PathRule.compile(p) for p in getattr(paths, a)] for a in PRECEDENCE}
        self._has_path_rules = any(self._paths.values())
        self._command_allow_list = bool(self._commands["allow"])

    # -- entry points ---------------------------------------------------------------------------------

    def check_command(self, command: str, facts: Facts = Facts(), env: Iterable[str] = ()) -> Decision:
        """A shell command line (run with ``env`` variables set on top of the server's)."""
        if not self.active:
            return self._abstain()
        return self.judge(shell.analyse(command), facts, env)

    def check_code(self, language: str, runner: str) -> Decision:
        """``execute-code``: a program handed to an interpreter. It runs arbitrary code, so it
        needs an explicit ``code: allow``; deny and confirm rules on its runner still count."""
        if not self.active:
            return self._abstain()
        action = self.config.code or self.config.dynamic
        verdict = Decision(
            action,
            f"execute-code runs a {language} program (code: {action})",
            part=runner,
            layer=self.name,
        )
        analysis = shell.analyse(runner)
        for part in analysis.parts:
            for rule_action in ("deny", "confirm"):
                rule = self._loose_match(rule_action, part)  # type: ignore[arg-type]
                if rule is not None:
                    verdict = verdict.stricter(self._decision(rule_action, rule.text, runner))  # type: ignore[arg-type]
        return verdict

    def check_path(self, path: str, operation: Operation) -> Decision:
        """A file operation (read, write, list) on a path the host resolved; ``..`` cannot climb
        out of an allowed folder."""
        if not self.active:
            return self._abstain()
        if not path or "\0" in path:
            return Decision("deny", "empty or invalid path", layer=self.name)
        return self._judge_path(normalise_path(path), operation, redirect=False)

    # -- judging an analysis --------------------------------------------------------------------------

    def judge(self, analysis: Analysis, facts: Facts = Facts(), env: Iterable[str] = ()) -> Decision:
        if not self.active:
            return self._abstain()
        if analysis.error is not None:
            return Decision("deny", f"cannot judge the command: {analysis.error}", layer=self.name)
        decisions = self._decisions(analysis, facts, env)
        return strictest(decisions, Decision("allow", "nothing to run", layer=self.name))

    def _decisions(self, analysis: Analysis, facts: Facts, env: Iterable[str]) -> Iterable[Decision]:
        unsafe = [n for n in env if not _names_match(n, self.config.safe_env)]
        if unsafe:
            yield self._dynamic(f"the request sets {unsafe[0]}, which can change what programs run", "env")
        for part in analysis.parts:
            yield self._judge_part(part, facts)
        for use in analysis.paths:
            decision = self._judge_use(use, facts)
            if decision is not None:
                yield decision

    def _judge_part(self, part: Part, facts: Facts) -> Decision:
        unsafe = [n for n in part.assigns if not _names_match(n, self.config.safe_env)]
        dynamic = part.dynamic or (f"it sets {unsafe[0]}" if unsafe else None)
        subject, joined = self._subject(part, facts)
        if subject is None:
            dynamic = dynamic or "it uses ~ or $HOME, and the server's home directory is not known"
            subject, joined = self._subject(part, Facts("/nonexistent-home", facts.cwd))
        assert subject is not None
        text = part.text
        for action in ("deny", "confirm"):
            rule = self._loose_match(action, part, subject, joined)  # type: ignore[arg-type]
            if rule is not None:
                return self._decision(action, rule.text, text)  # type: ignore[arg-type]
        if dynamic is not None:
            return self._dynamic(dynamic, text)
        if part.transparent or part.harmless or not part.words:
            what = "a wrapper, judged by what it runs" if part.transparent else "it runs nothing"
            return Decision("allow", f"{what} ({text})", part=text, layer=self.name)
        for rule in self._commands["allow"]:
            if rule.matches(subject, strict=True, joined=joined):
                return self._decision("allow", rule.text, text)
        default = self.config.default or ("deny" if self._command_allow_list else "allow")
        return Decision(default, f"no rule matches, default {default} ({text})", part=text, layer=self.name)

    def _subject(self, part: Part, facts: Facts) -> tuple[Subject | None, str]:
        words: Subject = []
        for word in part.words:
            if word.value is None:
                words.append(MANY if word.many else ONE)
            else:
                value = shell.resolve_home(word.value, facts.home)
                if value is None:
                    return None, part.text
                words.append(value)
        if part.open_tail:
            words.append(MANY)
        known = all(isinstance(w, str) for w in words) and not part.open_tail
        joined = " ".join(w for w in words if isinstance(w, str)) if known else part.text
        return words, joined

    def _loose_match(
        self, action: Action, part: Part, subject: Subject | None = None, joined: str | None = None
    ) -> CommandRule | None:
        if subject is None:
            subject, joined = self._subject(part, Facts())
            if subject is None:
                return None
        if not subject:
            return None
        forms = [subject]
        name = subject[0]
        if isinstance(name, str) and "/" in name:  # /usr/bin/rm is rm too
            forms.append([name.rsplit("/", 1)[1], *subject[1:]])
        elif not isinstance(name, str):
            forms = []  # a computed command name: only a rule for any command ("*") matches it
        for rule in self._commands[action]:
            if not forms:
                if rule.words[:1] == ("*",) or (rule.regex is not None and rule.regex.fullmatch(part.text)):
                    return rule
                continue
            for form in forms:
                line = joined if form is subject else " ".join(w for w in form if isinstance(w, str))
                if rule.matches(form, strict=False, joined=line):
                    return rule
        return None

    def _judge_use(self, use: PathUse, facts: Facts) -> Decision | None:
        judged = use.redirect and self._command_allow_list
        if not (self._has_path_rules or judged):
            return None
        if use.path is None:
            return self._dynamic(f"{use.why} ({use.raw})", use.raw)
        path = shell.absolute(use.path, facts.home, facts.cwd)
        if path is None:
            return self._dynamic(f"the path {use.raw!r} depends on the host's directories", use.raw)
        return self._judge_path(normalise_path(path), use.operation, redirect=use.redirect)

    def _judge_path(self, path: str, operation: Operation, *, redirect: bool) -> Decision:
        if path.startswith("/proc/") and ("/root" in path or "/fd/" in path or "/cwd" in path):
            return self._dynamic(f"{path} is a magic link that reaches around the file system", path)
        applicable = {a: [r for r in self._paths[a] if operation in r.operations] for a in PRECEDENCE}
        for action in PRECEDENCE:
            for rule in applicable[action]:
                if rule.regex.fullmatch(path):
                    return Decision(
                        action,
                        f"{_VERBS[action]} rule '{rule.text}' of {self.name} ({operation}: {path})",
                        rule.text,
                        path,
                        self.name,
                    )
        if redirect and self._command_allow_list and not applicable["allow"]:
            default: Action = "deny"
            why = "a redirection, and no path rule allows it (commands have an allow list)"
        else:
            default = self.config.default or ("deny" if applicable["allow"] else "allow")
            why = f"no rule matches, default {default}"
        return Decision(default, f"{why} ({operation}: {path})", None, path, self.name)

    # -- helpers --------------------------------------------------------------------------------------

    def _decision(self, action: Action, rule: str, part: str) -> Decision:
        return Decision(
            action, f"{_VERBS[action]} rule '{rule}' of {self.name} ({part})", rule, part, self.name
        )

    def _dynamic(self, why: str, part: str) -> Decision:
        action = self.config.dynamic
        verb = "refused" if action == "deny" else "needs approval"
        return Decision(action, f"{verb}: {why} (dynamic: {action}, {self.name})", "dynamic", part, self.name)

    def _abstain(self) -> Decision:
        return Decision("allow", f"{self.name} has no rules", layer=self.name)


class Layers:
    """Every policy that applies to an action: each active one judges, the strictest wins."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self.policies = [p for p in policies if p.active]

    @property
    def active(self) -> bool:
        return bool(self.policies)

    def _combine(self, decisions: Iterable[Decision]) -> Decision:
        return strictest(decisions, Decision("allow", "no policy applies"))

    def judge_command(self, analysis: Analysis, facts: Facts = Facts(), env: Iterable[str] = ()) -> Decision:
        return self._combine(p.judge(analysis, facts, env) for p in self.policies)

    def check_command(self, command: str, facts: Facts = Facts(), env: Iterable[str] = ()) -> Decision:
        if not self.policies:
            return self._combine(())
        return self.judge_command(shell.analyse(command), facts, env)

    def check_code(self, language: str, runner: str) -> Decision:
        return self._combine(p.check_code(language, runner) for p in self.policies)

    def check_path(self, path: str, operation: Operation) -> Decision:
        return self._combine(p.check_path(path, operation) for p in self.policies)

    def needs_home(self, analysis: Analysis) -> bool:
        """Whether judging needs the host's home directory (an active layer and ~ or $HOME)."""
        return bool(self.policies) and analysis.uses_home


async def analyse(command: str) -> Analysis:
    """``shell.analyse``, in a worker thread for long input so the event loop keeps serving."""
    if len(command) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(shell.analyse, command)
    return shell.analyse(command)

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
import functools
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gtp_remote.policy import isolate, programs, shell, weight
from gtp_remote.policy.codefiles import code_file
from gtp_remote.policy.config import Action, Operation, PolicyConfig
from gtp_remote.policy.rules import MANY, ONE, CommandRule, PathRule, Subject, normalise_path
from gtp_remote.policy.shell import Analysis, Part, PathUse

#: The files the gateway writes beside a target before renaming them over it
#: (``executors/confined.py``: ``.NAME.RANDOM.gtp-tmp``, a chunked upload's
#: ``.NAME.gtp-upload-KEY``). Their names are cut short and carry no suffix, so a rule written for
#: the target (``read:**/*.key``, ``**/.env``) would not see them: they are never allowed by name.
GATEWAY_TEMP = re.compile(r"\..*\.(?:gtp-upload-[0-9a-f]{8,64}|[0-9a-f]{8}\.gtp-tmp)", re.S)

PRECEDENCE: tuple[Action, ...] = ("deny", "confirm", "allow")
_RANK = {"allow": 0, "confirm": 1, "deny": 2}
_VERBS = {"deny": "denied by", "confirm": "needs approval by", "allow": "allowed by"}
#: Commands this long are analysed in a worker thread, so the event loop keeps serving (the grammar
#: is quadratic on some invalid input: a few kilobytes can take a second to parse).
OFF_LOOP_BYTES = 1024
#: More operator characters than this and a command is parsed in a child process: 512 of ``a|``
#: parse in ~10 ms, but some invalid runs of them take seconds without releasing the GIL.
INLINE_OPERATORS = 256


@dataclass(frozen=True)
class Facts:
    """What the judge needs to know about the host: the user's home (for ``~`` and ``$HOME``),
    the directory relative paths start from, and what the host resolves paths to (symlinks
    followed: ``resolved[path]``), when the gateway asked it.

    Host answers are keyed by the absolute path *as written* (``/a/link/../b``, not normalised):
    the kernel resolves ``link`` before ``..``, so only the host can say where it leads."""

    home: str | None = None
    cwd: str | None = None
    resolved: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)  # d, f, l or - (missing), per path
    clean: frozenset[str] = frozenset()  # "read:/path": nothing below it is covered by a rule
    expanded: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # a glob -> what it matches
    blind: bool = False  # the host was to be asked about paths and could not be: none is as it seems


@dataclass(frozen=True)
class Decision:
    """A verdict; ``part`` is the command or path that decided it, ``layer`` whose rules."""

    action: Action
    reason: str
    rule: str | None = None
    part: str | None = None
    layer: str | None = None
    #: Every confirm that went into this verdict, its own included: one verdict shows one reason,
    #: but an approval covers all of them, and a new one after it must be noticed (see gateway).
    asks: frozenset[tuple[str | None, ...]] = field(default=frozenset(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "asks"}

    @property
    def key(self) -> tuple[str | None, ...]:
        return (self.layer, self.rule, self.part, self.reason)

    def stricter(self, other: Decision) -> Decision:
        return other if _RANK[other.action] > _RANK[self.action] else self


def strictest(decisions: Iterable[Decision], empty: Decision) -> Decision:
    """The first decision of the strictest kind (deny, then confirm, then allow)."""
    best: Decision | None = None
    asks: set[tuple[str | None, ...]] = set()
    for decision in decisions:
        if decision.action == "confirm":
            asks |= decision.asks or {decision.key}
        if best is None or _RANK[decision.action] > _RANK[best.action]:
            best = decision
            if best.action == "deny":
                return best
    if best is None:
        return empty
    return replace(best, asks=frozenset(asks)) if asks else best


def _names_match(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


MAX_BASES = 16


def placed(analysis: Analysis, facts: Facts) -> Iterable[tuple[PathUse | str, Facts]]:
    """Every path use and mention of a command, with the facts to judge it by: one per folder a
    relative path may be relative to (see :func:`_bases`). The host probe asks about exactly
    these, so what it answers is what the judge looks up."""
    bases = _bases(analysis, facts)
    items: list[PathUse | str] = [*analysis.paths, *analysis.mentions]
    for item in items:
        path = item.path if isinstance(item, PathUse) else item
        relative = path is not None and not path.startswith(("/", shell.HOME))
        for base in bases if relative else [None]:
            yield item, replace(facts, cwd=base) if base else facts


def written(path: str, facts: Facts) -> str | None:
    """A path as the host will be asked about it: absolute, ``~`` resolved, not normalised."""
    return shell.absolute(path, facts.home, facts.cwd)


def has_glob(word: str) -> bool:
    return bool(re.search(r"[*?\[]", word))


def _bases(analysis: Analysis, facts: Facts) -> list[str | None]:
    """Every folder a relative path may be relative to: the working directory, and each folder a
    ``cd`` may have moved to before it (in a subshell or not: all count). [None]: only the cwd.

    The shell's ``cd`` is logical: ``cd a/link/..`` is ``a``, whatever ``link`` leads to, so its
    folder is normalised as text. A program's own change of folder (``git -C``, ``env -C``,
    ``cd -P``; marked :data:`shell.PHYSICAL`) follows links: it is joined as written, and the
    host, asked about the path, resolves each link before the ``..`` after it. A logical ``cd``
    from a folder reached physically is resolved by the host up to that folder."""
    if not analysis.cd_targets or None in analysis.cd_targets:
        return [None]
    start = shell.resolve_home(facts.cwd, facts.home) if facts.cwd else facts.home
    bases: dict[str | None, bool] = {start: False}  # folder -> reached physically (not normalised)
    for target in analysis.cd_targets:
        assert target is not None
        physical = target.startswith(shell.PHYSICAL)
        target = target.removeprefix(shell.PHYSICAL)
        new: dict[str | None, bool] = {}
        if target.startswith(("/", shell.HOME)):
            folder = shell.resolve_home(target, facts.home)
            if folder is not None and not physical:
                folder = posixpath.normpath(folder)
            new[folder] = physical
        else:
            for base, base_physical in bases.items():
                if not base:
                    continue
                if physical:
                    new[posixpath.join(base, target)] = True
                elif base_physical:  # `..` in the target climbs from where the host resolves base
                    new[posixpath.join(base, posixpath.normpath(target))] = True
                else:
                    new[posixpath.normpath(posixpath.join(base, target))] = False
        for folder, folder_physical in new.items():
            bases[folder] = bases.get(folder, False) or folder_physical
        if len(bases) > MAX_BASES or None in bases:
            return [None]  # too many, or one not known: judged as not known (dynamic)
    return list(bases)


#: Where installed programs live: a program named by a path elsewhere (``./tool``, ``planted/ls``)
#: is a file the policy cannot read, not the program its name suggests.
SYSTEM_BIN = frozenset({"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"})


def _program_file(name: object) -> str | None:
    """Why a command named by a path outside the system's program folders is opaque, or None."""
    if not isinstance(name, str) or "/" not in name:
        return None
    folder = posixpath.dirname(normalise_path(name)) if name.startswith("/") else None
    if folder in SYSTEM_BIN:
        return None
    return f"it runs the program file {name}, which the policy cannot read"


def _definite(rule: CommandRule, subject: Subject, joined: str) -> bool:
    """Whether a rule that matched loosely matches whatever the unknown words turn out to be."""
    if all(isinstance(w, str) for w in subject):
        return True
    return rule.matches(subject, strict=True, joined=None if rule.regex is not None else joined)


def _glob_of(rule: PathRule) -> str | None:
    """A path rule's glob without its operation prefix; None for a regular expression."""
    operation, sep, rest = rule.text.partition(":")
    glob = rest if sep and operation in ("read", "write", "list") else rule.text
    return None if glob.startswith("re:") else glob


def _could_match_below(rule: PathRule, folder: str) -> bool:
    """Whether the rule may match some path below ``folder`` (conservative: when unsure, yes)."""
    glob = _glob_of(rule)
    if glob is None or glob.startswith("*"):
        return True
    if not glob.startswith("/"):
        return False  # a relative glob never matches an absolute path
    literal = re.split(r"[*?\[]", glob, maxsplit=1)[0]
    base = folder.rstrip("/") + "/"
    return literal.startswith(base) or base.startswith(literal) or literal.rstrip("/") == folder.rstrip("/")


def _covers(rule: PathRule, folder: str) -> bool:
    """Whether the rule matches every path below ``folder``: ``**``, or ``DIR/**`` above it."""
    glob = _glob_of(rule)
    if glob in ("**", "/**"):
        return True
    if glob is None or not glob.endswith("/**"):
        return False
    stem = glob[:-3]
    return not re.search(r"[*?\[]", stem) and (folder == stem or folder.startswith(stem.rstrip("/") + "/"))


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
        self._command_rules = any(self._commands.values())

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
        for item, where in placed(analysis, facts):
            if isinstance(item, PathUse):
                decision = self._judge_use(item, where)
            else:
                decision = self._judge_mention(item, where) if self._has_path_rules else None
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
            if rule is None:
                continue
            if _definite(rule, subject, joined):
                return self._decision(action, rule.text, text)  # type: ignore[arg-type]
            # it matches only if the words computed at run time turn out a certain way
            verdict = self._dynamic(
                f"{dynamic or 'words computed at run time'}; rule '{rule.text}' may match", text
            )
            return verdict.stricter(Decision("confirm", verdict.reason, rule.text, text, self.name))
        if dynamic is not None:
            return self._dynamic(dynamic, text)
        if part.transparent or part.harmless or not part.words:
            what = "a wrapper, judged by what it runs" if part.transparent else "it runs nothing"
            return Decision("allow", f"{what} ({text})", part=text, layer=self.name)
        for rule in self._commands["allow"]:
            if rule.matches(subject, strict=True, joined=joined):
                return self._decision("allow", rule.text, text)
        opaque = part.opaque or _program_file(subject[0] if subject else None)
        if opaque:
            return self._dynamic(f"{opaque}; only an allow rule naming it lets it run", text)
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
        if isinstance(name, str):
            # /usr/bin/rm is rm too; so are rm.real, slogin (ssh), perl5.36-x86_64-linux-gnu (perl):
            # deny and confirm rules see through a renamed copy (allow rules never do)
            base = name.rsplit("/", 1)[-1]
            known = programs.canonical(base)
            for other in dict.fromkeys((base, known, programs.family(known))):
                if other != name:
                    forms.append([other, *subject[1:]])
        else:
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

    def _judges(self, use: PathUse) -> bool:
        """Whether this layer has anything to say about a path use: path rules; a command allow
        list (a redirect or a write no path rule allows is refused); command rules at all (a
        write to a file programs run code from asks, see ``codefiles``)."""
        return self._has_path_rules or self._judges_anyway(use)

    def _judges_anyway(self, use: PathUse) -> bool:
        """Judged without a path rule about it: see ``_judges``."""
        return bool(
            (use.redirect and self._command_allow_list) or (use.operation == "write" and self._command_rules)
        )

    def _judge_use(self, use: PathUse, facts: Facts) -> Decision | None:
        if not self._judges(use):
            return None
        if use.path is None:
            if (
                not self._judges_anyway(use)
                and not self.path_rules(PRECEDENCE, use.operation)
                and self.config.default in (None, "allow")
            ):
                return None  # no rule judges this kind of access: an unknown path breaks none
            return self._dynamic(f"{use.why} ({use.raw})", use.raw)
        where = written(use.path, facts)
        if where is None:
            return self._dynamic(f"the path {use.raw!r} depends on the host's directories", use.raw)
        if use.glob is not None:
            pattern = written(use.glob, facts)
            matches = facts.expanded.get(pattern) if pattern else None
            if matches is not None:  # what the host's shell expands it to, each judged on its own
                plain = replace(use, glob=None)
                decisions = [self._judge_use(replace(plain, path=m), facts) for m in matches or (pattern,)]
                return strictest(
                    (d for d in decisions if d is not None), Decision("allow", "nothing", layer=self.name)
                )
        path = normalise_path(where)
        # a tree of one file is that file; an unasked glob is judged by the folder its matches are in
        tree = (use.tree or use.glob is not None) and facts.kinds.get(where) not in ("f", "-")
        clean = f"{use.operation}:{where}" in facts.clean
        judge = functools.partial(
            self._judge_path,
            operation=use.operation,
            redirect=use.redirect,
            tree=tree,
            clean=clean,
            command=True,
        )
        decision = judge(path)
        real = facts.resolved.get(where)
        if real is not None and real != path:  # a link on the host: where it really goes counts too
            decision = decision.stricter(judge(real))
        elif real is None and facts.blind:
            decision = decision.stricter(
                self._dynamic(f"the host could not say where {use.raw!r} leads", use.raw)
            )
        return decision

    def _judge_mention(self, word: str, facts: Facts) -> Decision | None:
        """A word of a program whose file arguments are not known: if it names a path that a
        deny or confirm rule covers, for any operation, that rule applies. A glob is judged by
        what the host expands it to; a folder by what is below it (the program may recurse)."""
        where = written(word, facts)
        if where is None:
            return None
        if has_glob(word):
            matches = facts.expanded.get(where)
            if matches is not None:
                decisions = (self._judge_mentioned(m, word, facts) for m in matches or (where,))
                return strictest((d for d in decisions if d is not None), Decision("allow", "nothing"))
        return self._judge_mentioned(where, word, facts)

    def _judge_mentioned(self, where: str, word: str, facts: Facts) -> Decision | None:
        candidates = {normalise_path(where)}
        real = facts.resolved.get(where)
        if real is None and facts.blind:
            return self._dynamic(f"the host could not say where {word!r} leads", word)
        if real:
            candidates.add(real)
        for action in ("deny", "confirm"):
            for rule in self._paths[action]:
                for candidate in candidates:
                    if rule.regex.fullmatch(candidate):
                        what = f"{word} may name {candidate}"
                        reason = f"{_VERBS[action]} rule '{rule.text}' of {self.name} ({what})"
                        return Decision(action, reason, rule.text, candidate, self.name)  # type: ignore[arg-type]
        if facts.kinds.get(where) == "d" and f"any:{where}" not in facts.clean:
            for action in ("deny", "confirm"):
                for rule in self._paths[action]:
                    for candidate in candidates:
                        if _could_match_below(rule, candidate):
                            reason = (
                                f"{word} may mean everything below {candidate}, "
                                f"and rule '{rule.text}' covers some of it"
                            )
                            return self._dynamic(reason, word).stricter(
                                Decision("confirm", reason, rule.text, candidate, self.name)
                            )
        return None

    def path_rules(self, actions: tuple[Action, ...], operation: Operation) -> list[PathRule]:
        return [r for a in actions for r in self._paths[a] if operation in r.operations]

    def _judge_path(
        self,
        path: str,
        operation: Operation,
        *,
        redirect: bool,
        tree: bool = False,
        clean: bool = False,
        command: bool = False,
    ) -> Decision:
        """One path (absolute, normalised). ``command``: named by a command, not a file tool."""
        if path.startswith("/proc/") and (
            "/root" in path or "/fd/" in path or "/cwd" in path or path == "/proc"
        ):
            return self._dynamic(f"{path} is a magic link that reaches around the file system", path)
        if tree and (path == "/proc" or path == "/"):
            return self._dynamic(f"everything below {path}, magic links included", path)
        if self._has_path_rules and operation != "list" and GATEWAY_TEMP.fullmatch(posixpath.basename(path)):
            return self._dynamic(f"{path} is a gateway's upload in progress, judged only as its target", path)
        applicable = {a: [r for r in self._paths[a] if operation in r.operations] for a in PRECEDENCE}
        what = f"{operation}: {path}{'/**' if tree else ''}"
        for action in ("deny", "confirm"):
            for rule in applicable[action]:
                if rule.regex.fullmatch(path):
                    reason = f"{_VERBS[action]} rule '{rule.text}' of {self.name} ({what})"
                    return Decision(action, reason, rule.text, path, self.name)
        if tree and not clean and operation != "list":  # listing names does not read what is below
            for action in ("deny", "confirm"):
                for rule in applicable[action]:
                    if _could_match_below(rule, path):
                        reason = (
                            f"everything below {path} ({operation}), and rule '{rule.text}' covers some of it"
                        )
                        verdict = self._dynamic(reason, path)
                        return verdict.stricter(
                            Decision("confirm", verdict.reason, rule.text, path, self.name)
                        )
        if operation == "write" and self._command_rules and (source := code_file(path)):
            return self._dynamic(f"{path} is where programs read code from ({source})", path)
        for rule in applicable["allow"]:
            if rule.regex.fullmatch(path) and (not tree or _covers(rule, path)):
                reason = f"allowed by rule '{rule.text}' of {self.name} ({what})"
                return Decision("allow", reason, rule.text, path, self.name)
        if tree and any(_covers(r, path) for r in applicable["allow"]):
            return Decision("allow", f"allowed below {path} ({what})", None, path, self.name)
        if (
            (redirect or (command and operation == "write"))
            and self._command_allow_list
            and not applicable["allow"]
        ):
            # a redirect is refused; a file a program writes (uniq's output, touch) asks: the
            # command rule that allowed the program may well mean it
            default: Action = "deny" if redirect else self.config.dynamic
            what_kind = "a redirection" if redirect else "a file the command writes"
            why = f"{what_kind}, and no path rule allows it (commands have an allow list)"
        else:
            default = self.config.default or ("deny" if applicable["allow"] else "allow")
            why = f"no rule matches, default {default}"
        return Decision(default, f"{why} ({what})", None, path, self.name)

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

    @property
    def has_path_rules(self) -> bool:
        return any(p._has_path_rules for p in self.policies)

    def asks_host(self, analysis: Analysis) -> bool:
        """Whether judging needs the host's answers about paths (see ``hostfacts``): a layer has
        path rules, or a command writes where a layer judges writes (a link can lead anywhere)."""
        if self.has_path_rules:
            return True
        return any(p._judges(u) for p in self.policies for u in analysis.paths if u.path is not None)

    def needs_home(self, analysis: Analysis) -> bool:
        """Whether judging needs the host's home directory (an active layer and ~ or $HOME)."""
        return bool(self.policies) and analysis.uses_home


async def analyse(command: str) -> Analysis:
    """``shell.analyse``, never holding up the event loop: refused at once when too heavy to
    judge; in a child process killed at a deadline when its operators could make the parser
    slow (see ``isolate``); in a worker thread when merely long; else here."""
    why = weight.too_heavy(command)
    if why is not None:
        return Analysis(error=why)
    if weight.operators(command) > INLINE_OPERATORS:
        return await asyncio.to_thread(isolate.analyse, command)
    if len(command) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(shell.analyse, command)
    return shell.analyse(command)

"""The policy every tool call passes through: per-specialist allow, deny and confirm rules.

What a specialist asks to run is model output, so it is judged the way the shell will run it, not
as one string. A command line is split into every simple command it holds (after ``;`` ``&``
``&&`` ``||`` ``|`` and newlines, inside ``$(...)``, backticks, subshells, ``{ ...; }`` groups,
process substitutions, and the command lines that ``sh -c``, ``eval``, ``su -c``, ``ssh HOST``,
``watch`` and ``find -exec`` run) and each part is judged alone, so a denied command cannot hide
behind an allowed one. A wrapped command (``sudo``, ``env``, ``timeout 5``, ``/usr/bin/kubectl``)
is judged as written *and* as what it runs, and redirection targets are judged as paths.

Per part: deny beats confirm beats allow; a part no rule matches gets the default (deny when an
allow list exists, else allow). The worst part decides. What cannot be parsed is refused unless
the specialist has no rules at all: a splitter that guesses would be a hole.

This is a guard against careless models, not a sandbox: a command name computed at run time
(``$cmd``, ``$(printf rm)``) or a script file cannot be judged from text. Allow lists are the
strong form, since whatever they do not name is refused.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, field_validator

from gtp_remote.schema import INVENTORY_CONFIG

Action = Literal["allow", "deny", "confirm"]
Operation = Literal["read", "write", "list"]

_PRECEDENCE: tuple[Action, ...] = ("deny", "confirm", "allow")
_OPERATIONS: tuple[Operation, ...] = ("read", "write", "list")
_VERBS = {"deny": "denied by", "confirm": "needs approval by", "allow": "allowed by"}
_MAX_DEPTH = 16


class RuleSet(BaseModel):
    """Patterns per action, matched against a whole part (a command with its quotes removed, words
    joined by one space, or a normalised path): shell globs, or ``re:`` + a regex. A path pattern may
    start with ``read:``, ``write:`` or ``list:`` to apply to that operation only."""

    model_config = INVENTORY_CONFIG

    allow: list[str] = []
    deny: list[str] = []
    confirm: list[str] = []

    @field_validator("allow", "deny", "confirm")
    @classmethod
    def _valid_patterns(cls, patterns: list[str]) -> list[str]:
        """A broken rule is reported when the inventory loads, not ignored when a command runs."""
        for pattern in patterns:
            operation, sep, rest = pattern.partition(":")
            body = rest if sep and operation in _OPERATIONS else pattern
            if not body.strip():
                raise ValueError(f"empty pattern {pattern!r}")
            if body.startswith("re:"):
                try:
                    re.compile(body[3:])
                except re.error as error:
                    raise ValueError(f"bad regular expression in {pattern!r}: {error}") from None
        return patterns


class PolicyConfig(BaseModel):
    """A specialist's policy (``specialists.NAME.policy``); ``default`` applies when no rule matches."""

    model_config = INVENTORY_CONFIG

    commands: RuleSet = RuleSet()
    paths: RuleSet = RuleSet()
    default: Action | None = None


@dataclass(frozen=True)
class Decision:
    """The verdict on one tool call; ``part`` is the simple command or path that decided it."""

    action: Action
    reason: str
    rule: str | None = None
    part: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PolicyParseError(ValueError):
    """The text is not shell this module can split; such a command is refused, never guessed at."""


# -- splitting ---------------------------------------------------------------------------------------

_META = " \t\n;&|()<>"
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_KEYWORDS = {"!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "esac"}
_HEADERS = {"for", "select", "case", "function"}  # `for x in a b`: its words are data, not a command
_REDIRECT = re.compile(r"&>>|&>|>>|>\||>&|>|<>|<&|<")
_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'", re.S)
_ANSI_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|.)", re.S)
_ANSI_CHARS = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "v": "\v"}


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] in "xuU":
        return chr(min(int(code[1:], 16), 0x10FFFF))
    return chr(int(code, 8)) if code[0] in "01234567" else _ANSI_CHARS.get(code, code)


class _Parser:
    """A small shell tokenizer: the simple commands of a text, as word lists, and its redirections."""

    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0
        self.commands: list[list[str]] = []
        self.redirects: list[tuple[Operation, str]] = []
        self.heredocs: list[tuple[str, bool, bool]] = []  # delimiter, strip tabs, expand body

    def _char(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _absorb(self, text: str, body: bool = False) -> None:
        sub = _Parser(text)
        sub._quoted("") if body else sub.parse()
        self.commands += sub.commands
        self.redirects += sub.redirects

    def parse(self, closer: str = "") -> None:
        """Read commands to the end of the text, or to the ``)`` closing a ``$(`` or ``(``."""
        words: list[str] = []
        while True:
            c = self._char()
            if not c or c in ")\n;|" or (c == "&" and not self.s.startswith("&>", self.i)):
                if words and words[0] not in _HEADERS:
                    self.commands.append(words)
                words = []
                if not c or c == ")":
                    if (c == ")") != (closer == ")"):
                        raise PolicyParseError("unbalanced parentheses")
                    self.i += len(c)
                    return
                self.i += 1
                if c == "\n":
                    self._heredoc_bodies()
            elif c in " \t":
                self.i += 1
            elif self.s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            elif c == "(" and words and _ASSIGNMENT.fullmatch(words[-1]):  # `hosts=(a b)`: an array
                self.i += 1
                items = []
                while (c := self._char()) != ")":
                    if not c or c in ";&|(<>":
                        raise PolicyParseError("unterminated array")
                    if c in " \t\n":
                        self.i += 1
                    else:
                        items.append(self._word()[0])
                self.i += 1
                words[-1] += "(" + " ".join(items) + ")"
            elif c == "(" and words:  # `name()`: a function definition, its body follows
                self.i += 1
                self._blanks()
                if self._char() != ")":
                    raise PolicyParseError("unexpected '('")
                self.i += 1
                words = []
            elif c == "(" or (c in "<>" and self.s.startswith("(", self.i + 1)):
                start = self.i
                self.i += 1 if c == "(" else 2
                self.parse(")")
                if c != "(":  # process substitution: a word naming a pipe
                    words.append(self.s[start : self.i])
            elif c in "<>&":
                self._redirect()
            else:
                word, plain = self._word()
                if plain and word.isdigit() and self._char() in ("<", ">"):
                    continue  # the fd of `2>file`
                if plain and not words and word in _KEYWORDS:
                    continue  # `if`, `then`, `{`, `!`... come before a command, they are not one
                if plain and word == "{" and words[:1] == ["function"]:
                    words = []  # `function f { ...; }`: the body follows
                    continue
                words.append(word)

    def _blanks(self) -> None:
        while self._char() in (" ", "\t"):
            self.i += 1

    def _word(self) -> tuple[str, bool]:
        """One word with its quotes removed; ``plain`` when nothing in it was quoted or expanded."""
        out: list[str] = []
        plain = True
        while (c := self._char()) and c not in _META:
            if c == "'":
                end = self.s.find("'", self.i + 1)
                if end < 0:
                    raise PolicyParseError("unterminated single quote")
                out.append(self.s[self.i + 1 : end])
                self.i = end + 1
            elif c == '"':
                self.i += 1
                out.append(self._quoted('"'))
            elif c == "\\":
                out.append(self.s[self.i + 1 : self.i + 2].replace("\n", ""))
                self.i += 2
            elif c == "`":
                out.append(self._backticks())
            elif c == "$":
                out.append(self._dollar(quoted=False))
            else:
                out.append(c)
                self.i += 1
                continue
            plain = False
        return "".join(out), plain

    def _quoted(self, end: str) -> str:
        """The inside of "...", ${...} or (end "") a heredoc body: expansions run, the rest is text."""
        out: list[str] = []
        while (c := self._char()) != end:
            if not c:
                raise PolicyParseError(f"missing closing {end}")
            if c == "\\" and self.i + 1 < len(self.s):
                nxt = self.s[self.i + 1]
                out.append("" if nxt == "\n" else nxt if nxt in '$`"\\' + end else c + nxt)
                self.i += 2
            elif c == "`":
                out.append(self._backticks())
            elif c == "$":
                out.append(self._dollar(quoted=True))
            else:
                out.append(c)
                self.i += 1
        self.i += len(end)
        return "".join(out)

    def _dollar(self, quoted: bool) -> str:
        """``$(...)``, ``$((...))`` and ``${...}`` are read (their commands collected), as written."""
        start, nxt = self.i, self.s[self.i + 1 : self.i + 2]
        if self.s.startswith("$((", self.i):
            self.i += 3
            self._arithmetic()
        elif nxt == "(":
            self.i += 2
            self.parse(")")
        elif nxt == "{":
            self.i += 2
            self._quoted("}")
        elif nxt == "'" and not quoted:
            match = _ANSI_C.match(self.s, self.i)
            if not match:
                raise PolicyParseError("unterminated $'")
            self.i = match.end()
            return _ANSI_ESCAPE.sub(_unescape, match.group(1))
        elif nxt == '"' and not quoted:
            self.i += 2
            return self._quoted('"')
        else:
            self.i += 1
            return "$"
        return self.s[start : self.i]

    def _arithmetic(self) -> None:
        depth = 0
        while not (depth == 0 and self.s.startswith("))", self.i)):
            c = self._char()
            if not c or (c == ")" and depth == 0):
                raise PolicyParseError("unterminated $((")
            if c in "$`":
                self._dollar(quoted=True) if c == "$" else self._backticks()
                continue
            depth += (c == "(") - (c == ")")
            self.i += 1
        self.i += 2

    def _backticks(self) -> str:
        start, inner = self.i, []
        self.i += 1
        while (c := self._char()) != "`":
            if not c:
                raise PolicyParseError("unterminated backtick")
            if c == "\\" and self.s[self.i + 1 : self.i + 2] in ("`", "$", "\\"):
                c = self.s[self.i + 1]
                self.i += 1
            inner.append(c)
            self.i += 1
        self.i += 1
        self._absorb("".join(inner))
        return self.s[start : self.i]

    def _target(self) -> tuple[str, bool]:
        self._blanks()
        start = self.i
        word, plain = self._word()
        if self.i == start:
            raise PolicyParseError("redirection without a target")
        return word, plain

    def _redirect(self) -> None:
        if self.s.startswith("<<<", self.i):  # here-string: data (its expansions are collected)
            self.i += 3
            self._target()
        elif self.s.startswith("<<", self.i):
            self.i += 2
            strip = self._char() == "-"
            self.i += strip
            delimiter, plain = self._target()
            self.heredocs.append((delimiter, strip, plain))
        else:
            op = _REDIRECT.match(self.s, self.i).group()  # type: ignore[union-attr]
            self.i += len(op)
            target, _ = self._target()
            if op in (">&", "<&") and re.fullmatch(r"\d+-?|-", target):
                return  # `2>&1`: another fd, not a file
            self.redirects.append(("read" if op in ("<", "<&") else "write", target))

    def _heredoc_bodies(self) -> None:
        """After a newline, pass over pending heredoc bodies: data, expanded when the delimiter is bare."""
        for delimiter, strip, expand in self.heredocs:
            pattern = ("^\t*" if strip else "^") + re.escape(delimiter) + "$"
            last = re.compile(pattern, re.M).search(self.s, self.i)
            body = self.s[self.i : last.start() if last else len(self.s)]
            self.i = min(last.end() + 1, len(self.s)) if last else len(self.s)
            if expand:
                self._absorb(body, body=True)
        self.heredocs = []


# -- what a command runs -----------------------------------------------------------------------------

_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"}
_Options = tuple[str, frozenset[str], int]
_NO_VALUE: _Options = ("", frozenset(), 0)
# command -> (short options taking a value, long options taking a value, positionals before the command)
_WRAPPERS: dict[str, _Options] = {
    "sudo": ("CDghprtTUu", frozenset({"user", "group", "chdir", "host", "prompt", "role", "type"}), 0),
    "doas": ("Cu", frozenset(), 0),
    "env": ("uC", frozenset({"unset", "chdir"}), 0),  # `env -S 'cmd args'`: the value is the command
    "nohup": _NO_VALUE,
    "setsid": _NO_VALUE,
    "command": _NO_VALUE,
    "time": ("fo", frozenset({"format", "output"}), 0),
    "exec": ("a", frozenset(), 0),
    "nice": ("n", frozenset({"adjustment"}), 0),
    "ionice": ("cnp", frozenset({"class", "classdata", "pid"}), 0),
    "stdbuf": ("ioe", frozenset({"input", "output", "error"}), 0),
    "timeout": ("sk", frozenset({"signal", "kill-after"}), 1),
    "xargs": ("adEILnPs", frozenset({"arg-file", "delimiter", "max-args", "max-procs", "max-chars"}), 0),
}
# Commands whose remaining words are a shell command line again: `ssh HOST CMD...`, `watch CMD...`.
_LINE_RUNNERS: dict[str, _Options] = {
    "ssh": ("BbcDEeFIiJLlmOopQRSWw", frozenset(), 1),
    "watch": ("n", frozenset({"interval"}), 0),
}


def _after_options(args: list[str], short: str, long: frozenset[str], positionals: int) -> list[str]:
    """The words after a command's options (and its leading positionals, like timeout's duration)."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        option = args[i]
        i += 1
        if option == "--":
            break
        if option.startswith("--"):
            i += "=" not in option and option[2:] in long
        else:
            takes = [k for k, letter in enumerate(option[1:], 2) if letter in short]
            i += bool(takes) and takes[0] == len(option)  # `-u app`, not `-uapp`
    return args[i + positionals :]


def _unwrap(words: list[str]) -> list[str]:
    """What a wrapper runs: ``sudo -u app kubectl get pods`` -> ``kubectl get pods``; [] for others."""
    spec = _WRAPPERS.get(words[0])
    return _after_options(words[1:], *spec) if spec else []


def _forms(words: list[str]) -> list[list[str]]:
    """The command as written, then as each wrapper and path prefix passes it on; assignments dropped."""
    forms = []
    while words:
        words = words[next((k for k, w in enumerate(words) if not _ASSIGNMENT.match(w)), 0) :]
        forms.append(words)
        name = posixpath.basename(words[0])
        if name and name != words[0]:
            words = [name, *words[1:]]
            forms.append(words)
        words = _unwrap(words)
    return forms


def _shell_script(name: str, args: list[str]) -> str | None:
    """The script of ``bash -c '...'``, ``su -c '...'``, ``eval``, ``ssh``: shell to split again."""
    if name == "eval":
        return " ".join(args) or None
    if name in _LINE_RUNNERS:
        return " ".join(_after_options(args, *_LINE_RUNNERS[name])) or None
    if name in ("su", "runuser"):
        for k, arg in enumerate(args[:-1]):
            if arg == "--command" or (arg[:1] == "-" and arg[1:2] != "-" and arg.endswith("c")):
                return args[k + 1]
        return next((a.partition("=")[2] for a in args if a.startswith("--command=")), None)
    if name not in _SHELLS:
        return None
    command_mode, i = False, 0
    while i < len(args) and args[i][:1] in ("-", "+") and args[i] not in ("-", "+", "--"):
        option = args[i]
        i += 1
        if option.startswith("--"):
            i += option in ("--rcfile", "--init-file")
        else:
            command_mode |= option[0] == "-" and "c" in option
            i += option[-1] in "oO"  # `-o pipefail`
    i += i < len(args) and args[i] == "--"
    return args[i] if command_mode and i < len(args) else None


def _find_exec(name: str, args: list[str]) -> list[list[str]]:
    """The commands of ``find ... -exec CMD {} ;`` (and ``-execdir``, ``-ok``)."""
    if name != "find":
        return []
    found = []
    for k, arg in enumerate(args):
        if arg in ("-exec", "-execdir", "-ok", "-okdir"):
            end = next((j for j in range(k + 1, len(args)) if args[j] in (";", "+")), len(args))
            found += [args[k + 1 : end]] if end > k + 1 else []
    return found


def _expand(words: list[str], parts: list[str], redirects: list[tuple[Operation, str]], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise PolicyParseError("nested too deeply")
    for form in _forms(words):
        parts.append(" ".join(form))
        script = _shell_script(form[0], form[1:])
        if script is not None:
            _split(script, parts, redirects, depth + 1)
        for argv in _find_exec(form[0], form[1:]):
            _expand(argv, parts, redirects, depth + 1)


def _split(text: str, parts: list[str], redirects: list[tuple[Operation, str]], depth: int) -> None:
    parser = _Parser(text)
    parser.parse()
    redirects += parser.redirects
    for words in parser.commands:
        _expand(words, parts, redirects, depth)


def _analyse(source: str | list[str]) -> tuple[list[str], list[tuple[Operation, str]]]:
    """Every command a command line (or an argv) runs, and every file it redirects to or from."""
    parts: list[str] = []
    redirects: list[tuple[Operation, str]] = []
    try:
        if isinstance(source, str):
            _split(source, parts, redirects, 0)
        elif source:
            _expand(list(source), parts, redirects, 0)
    except RecursionError:
        raise PolicyParseError("nested too deeply") from None
    return parts, redirects


def split_command(command: str) -> list[str]:
    """Every simple command inside `command`, normalised (quotes removed, words joined by one space).

    Commands inside substitutions come before the command using their output (the order they run);
    a wrapped command follows its wrapper (``sudo kubectl get pods``, then ``kubectl get pods``).
    Raises PolicyParseError when the text cannot be split.
    """
    return _analyse(command)[0]


# -- rules -------------------------------------------------------------------------------------------


def normalise_path(path: str) -> str:
    """Collapse ``//``, ``/./`` and ``..`` lexically, so ``/srv/app/../../etc`` is judged as ``/etc``."""
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/") if normal.startswith("//") else normal


def _path_regex(glob: str) -> str:
    """``*`` stays within one folder, ``**`` crosses folders; ``dir/**`` also matches ``dir``."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("(?:/.*)?")
            i += 3
        elif glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] in "*?":
            out.append("[^/]*" if glob[i] == "*" else "[^/]")
            i += 1
        elif glob[i] == "[" and (end := glob.find("]", i + 2)) > 0:
            members = glob[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + members[1:] if members[0] == "!" else members) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Rule:
    text: str
    regex: re.Pattern[str]
    operations: tuple[Operation, ...] = _OPERATIONS

    @classmethod
    def command(cls, text: str) -> _Rule:
        if text.startswith("re:"):
            return cls(text, re.compile(text[3:], re.S))
        return cls(text, re.compile(fnmatch.translate(" ".join(text.split()))))

    @classmethod
    def path(cls, text: str) -> _Rule:
        operation, sep, glob = text.partition(":")
        operations = (operation,) if sep and operation in _OPERATIONS else _OPERATIONS
        glob = glob if len(operations) == 1 else text
        if glob.startswith("re:"):
            return cls(text, re.compile(glob[3:], re.S), operations)  # type: ignore[arg-type]
        glob += "**" if glob.endswith("/") and glob != "/" else ""
        return cls(text, re.compile(_path_regex(glob), re.S), operations)  # type: ignore[arg-type]


class Policy:
    """One specialist's rules, compiled once; without a config nothing is restricted."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        rules = self.config.commands, self.config.paths
        self._commands = {a: [_Rule.command(p) for p in getattr(rules[0], a)] for a in _PRECEDENCE}
        self._paths = {a: [_Rule.path(p) for p in getattr(rules[1], a)] for a in _PRECEDENCE}
        has_rules = any(self._commands.values()) or any(self._paths.values())
        self._unrestricted = not has_rules and self.config.default in (None, "allow")

    def check_command(self, command: str) -> Decision:
        """A shell command line: each simple command in it, and each file it redirects to or from."""
        return self._verdict(command)

    def check_argv(self, argv: list[str]) -> Decision:
        """A declarative tool's rendered argv, as one simple command (words joined by one space)."""
        return self._verdict(argv)

    def check_path(self, path: str, operation: Operation) -> Decision:
        """A file operation of the read/write/list tools; ``..`` cannot climb out of an allowed folder."""
        if operation not in _OPERATIONS:
            return Decision("deny", f"unknown file operation {operation!r}")
        if not path or "\0" in path:
            return Decision("deny", "empty or invalid path")
        return self._judge(self._paths, normalise_path(path), operation, operation)

    def _verdict(self, source: str | list[str]) -> Decision:
        try:
            parts, redirects = _analyse(source)
        except PolicyParseError as error:
            if self._unrestricted:
                return Decision("allow", f"not parsed ({error}); allowed, the policy has no rules")
            return Decision("deny", f"could not parse the command ({error}); refused, it cannot be checked")
        decisions = [self._judge(self._commands, part, "part") for part in parts if part.strip()]
        harmless = {"/dev/null", "/dev/stdout", "/dev/stderr"}
        decisions += [self.check_path(path, op) for op, path in redirects if path not in harmless]
        if not decisions:
            return Decision("deny", "empty command")
        for action in ("deny", "confirm"):
            if found := next((d for d in decisions if d.action == action), None):
                return found
        return decisions[0] if len(decisions) == 1 else Decision("allow", f"all {len(decisions)} parts pass")

    def _judge(
        self, rules: dict[Action, list[_Rule]], subject: str, label: str, operation: Operation | None = None
    ) -> Decision:
        """Deny beats confirm beats allow; with no match, the default (deny if an allow list exists)."""
        applicable = {a: [r for r in rules[a] if operation in (None, *r.operations)] for a in _PRECEDENCE}
        for action in _PRECEDENCE:
            for rule in applicable[action]:
                if rule.regex.fullmatch(subject):
                    reason = f"{_VERBS[action]} rule '{rule.text}' ({label}: {subject})"
                    return Decision(action, reason, rule.text, subject)
        default = self.config.default or ("deny" if applicable["allow"] else "allow")
        return Decision(default, f"no rule matches, default {default} ({label}: {subject})", None, subject)

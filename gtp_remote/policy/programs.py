"""What the analyser knows about programs: which run other commands, which take code, which
options make an allowed program do something else, and which arguments are files.

An allowed program is only as safe as its options: ``tar --to-command``, ``git -c core.pager=``,
``find -exec``, ``awk 'BEGIN{system(...)}'`` all run commands. This module is the table of such
knowledge, built from GTFOBins and the programs' manuals. Given a simple command's words, it says:

* ``dynamic``: why the command's effect cannot be judged from its words (inline code, an option
  that runs a command or loads code, a definition that runs later, an option the analyser does
  not know on a wrapper);
* ``runs``: the commands it runs in turn, as a span of its own words (``sudo -u app CMD...``,
  ``xargs CMD``, ``find -exec CMD ;``) or as shell text to parse again (``sh -c TEXT``,
  ``ssh HOST CMD...``); the analyser judges those too;
* ``transparent``: a wrapper that changes nothing but timing or niceness (``timeout``, ``nice``):
  judged by what it runs, so an allow list needs no rule for the wrapper itself;
* ``paths``: its file arguments that are read or written (``cp``, ``mv``, ``tee``, ``dd of=``...),
  and ``unknown_writes`` when it writes files whose names are not among its words.

Words are values (``None`` where the shell computes them). Option parsing is GNU-style
(bundled short options, ``--name=value``, ``--`` ends options). Hand-written: no library knows
these programs' option tables; each entry names its source in a comment where it is not obvious.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Values = Sequence[str | None]
PathOp = Literal["read", "write"]


@dataclass
class Run:
    """A command a program runs: ``span`` of its own words, or shell ``script`` text."""

    span: tuple[int, int] = (0, 0)
    script: str | None = None
    open_tail: bool = False  # words are appended when it runs (xargs)


@dataclass
class Seen:
    dynamic: str | None = None
    transparent: bool = False
    runs: list[Run] = field(default_factory=list)
    paths: list[tuple[PathOp, int]] = field(default_factory=list)
    value_paths: list[tuple[PathOp, str]] = field(default_factory=list)  # `of=PATH`, `--output=PATH`
    unknown_writes: str | None = None
    assigns: list[str] = field(default_factory=list)
    changes_dir: bool = False

    def mark(self, why: str) -> Seen:
        self.dynamic = self.dynamic or why
        return self


# -- option scanning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """A program's options: short ones without and with a value, long ones likewise."""

    flags: str = ""
    values: str = ""
    long_flags: frozenset[str] = frozenset()
    long_values: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()  # long options whose value is optional (=VALUE only)

    def long(self, name: str) -> tuple[str | None, bool]:
        """The long option ``name`` stands for (GNU getopt accepts unique prefixes), and
        whether it takes a value. (None, False) when unknown or ambiguous."""
        every = self.long_flags | self.long_values | self.optional
        if name in every:
            return name, name in self.long_values
        matches = [n for n in every if n.startswith(name)]
        if len(matches) == 1:
            return matches[0], matches[0] in self.long_values
        return None, False


@dataclass
class Option:
    name: str  # "-x" or "--name"
    value: str | None
    index: int  # where the option word is
    value_index: int | None = None  # where its value is, when it is a word of its own


@dataclass
class Scan:
    options: list[Option] = field(default_factory=list)
    positionals: list[int] = field(default_factory=list)
    unknown: str | None = None  # the first option not in the table
    dynamic: bool = False  # an unknown word where an option could be

    def has(self, *names: str) -> Option | None:
        return next((o for o in self.options if o.name in names), None)


def scan(values: Values, start: int, spec: Options, *, permute: bool = True, stop: int | None = None) -> Scan:
    """Read options from ``values[start:stop]``. With ``permute`` (GNU default), options may
    follow positionals; without, the first positional ends them (the command a wrapper runs)."""
    out = Scan()
    end = len(values) if stop is None else stop
    i = start
    while i < end:
        word = values[i]
        if word is None:
            if not out.positionals or permute:
                out.dynamic = True
            out.positionals.append(i)
            i += 1
            if not permute:
                out.positionals.extend(range(i, end))
                break
            continue
        if word == "--":
            out.positionals.extend(range(i + 1, end))
            break
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            full, takes = spec.long(name)
            if full is None:
                out.unknown = out.unknown or word
                out.options.append(Option("--" + name, value if eq else None, i))
                i += 1
                continue
            if takes and not eq:
                out.options.append(Option("--" + full, values[i + 1] if i + 1 < end else None, i, i + 1))
                i += 2
                continue
            out.options.append(Option("--" + full, value if eq else None, i))
            i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            j = 1
            while j < len(word):
                letter = word[j]
                if letter in spec.values:
                    rest = word[j + 1 :]
                    if rest:
                        out.options.append(Option("-" + letter, rest, i))
                    else:
                        out.options.append(
                            Option("-" + letter, values[i + 1] if i + 1 < end else None, i, i + 1)
                        )
                        i += 1
                    break
                if letter not in spec.flags:
                    out.unknown = out.unknown or f"-{letter}"
                out.options.append(Option("-" + letter, None, i))
                j += 1
            i += 1
            continue
        out.positionals.append(i)
        i += 1
        if not permute:
            out.positionals.extend(range(i, end))
            break
    return out


# -- the table ----------------------------------------------------------------------------------------

Handler = Callable[[Values, list[bool]], Seen]
_HANDLERS: dict[str, Handler] = {}


def _handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = fn
        return fn

    return register


def inspect(values: Values, globs: list[bool] | None = None) -> Seen:
    """What the table knows of the simple command ``values`` (see the module docstring)."""
    if not values or values[0] is None:
        return Seen()
    name = posixpath.basename(values[0])
    handler = _HANDLERS.get(name) or _HANDLERS.get(_family(name))
    if handler is None:
        return Seen()
    return handler(values, globs or [False] * len(values))


def _family(name: str) -> str:
    """``python3.11`` -> ``python``, ``gawk`` -> ``awk``: the entry that knows it."""
    match = re.fullmatch(r"(python|pypy|perl|ruby|php|lua|node|tclsh|wish)[\d.]*", name)
    if match:
        return match.group(1)
    return {"gawk": "awk", "mawk": "awk", "nawk": "awk", "busybox-awk": "awk", "gsed": "sed"}.get(name, name)


def _wrapped(values: Values, scanned: Scan, program: str, *, transparent: bool, skip: int = 0) -> Seen:
    """A wrapper that runs the words after its options (and ``skip`` positionals of its own)."""
    seen = Seen(transparent=transparent)
    if scanned.unknown:
        seen.mark(f"{program} option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark(f"{program}'s options are computed at run time")
    if len(scanned.positionals) > skip:
        seen.runs.append(Run((scanned.positionals[skip], len(values))))
    return seen


# Wrappers that change nothing a rule cares about: judged by the command they run.
_TRANSPARENT: dict[str, tuple[Options, int]] = {
    "nohup": (Options(), 0),
    "setsid": (Options("cfw", "", frozenset({"ctty", "fork", "wait"})), 0),
    "nice": (Options("", "n", long_values=frozenset({"adjustment"})), 0),
    "ionice": (
        Options("t", "cnpPu", frozenset({"ignore"}), frozenset({"class", "classdata", "pid", "pgid", "uid"})),
        0,
    ),
    "stdbuf": (Options("", "ioe", long_values=frozenset({"input", "output", "error"})), 0),
    "timeout": (
        Options(
            "v",
            "sk",
            frozenset({"preserve-status", "foreground", "verbose"}),
            frozenset({"signal", "kill-after"}),
        ),
        1,
    ),
    "taskset": (Options("acap", "", frozenset({"all-tasks", "cpu-list", "pid"})), 1),
    "chrt": (
        Options(
            "abdfiormRv",
            "TPD",
            frozenset(
                {
                    "all-tasks",
                    "batch",
                    "deadline",
                    "fifo",
                    "idle",
                    "other",
                    "rr",
                    "reset-on-fork",
                    "max",
                    "verbose",
                }
            ),
            frozenset({"sched-runtime", "sched-period", "sched-deadline"}),
        ),
        1,
    ),
    "numactl": (
        Options(
            "alsH",
            "CmNipP",
            frozenset({"all", "localalloc", "show", "hardware"}),
            frozenset(
                {
                    "physcpubind",
                    "membind",
                    "cpunodebind",
                    "interleave",
                    "preferred",
                    "preferred-many",
                    "balancing",
                }
            ),
        ),
        0,
    ),
    "unbuffer": (Options("p"), 0),
}


@_handles(*_TRANSPARENT)
def _transparent(values: Values, globs: list[bool]) -> Seen:
    name = posixpath.basename(values[0] or "")
    spec, skip = _TRANSPARENT[name]
    if name == "nice" and len(values) > 1 and values[1] and re.fullmatch(r"-\d+", values[1]):
        return _wrapped(values, Scan(positionals=list(range(2, len(values)))), name, transparent=True)
    if name in ("taskset", "chrt") and any(v and v.startswith("-") and "p" in v for v in values[1:3]):
        return Seen()  # taskset -p / chrt -p: acts on a running process, runs nothing
    return _wrapped(values, scan(values, 1, spec, permute=False), name, transparent=True, skip=skip)


@_handles("time")
def _time(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "apqv",
        "fo",
        frozenset({"append", "portability", "quiet", "verbose"}),
        frozenset({"format", "output"}),
    )
    scanned = scan(values, 1, spec, permute=False)
    seen = _wrapped(values, scanned, "time", transparent=True)
    output = scanned.has("-o", "--output")
    if output is not None and output.value is not None:
        seen.value_paths.append(("write", output.value))
    return seen


@_handles("command")
def _command(values: Values, globs: list[bool]) -> Seen:
    scanned = scan(values, 1, Options("pvV"), permute=False)
    if scanned.has("-v", "-V"):
        return Seen()  # describes a command, runs nothing
    return _wrapped(values, scanned, "command", transparent=True)


@_handles("builtin")
def _builtin(values: Values, globs: list[bool]) -> Seen:
    return _wrapped(values, Scan(positionals=list(range(1, len(values)))), "builtin", transparent=True)


@_handles("exec")
def _exec(values: Values, globs: list[bool]) -> Seen:
    scanned = scan(values, 1, Options("cl", "a"), permute=False)
    seen = _wrapped(values, scanned, "exec", transparent=False)
    if seen.runs:
        seen.mark("exec replaces the shell with another program")
    return seen


@_handles("sudo")
def _sudo(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "AbBEHiKklnNPSsVv",
        "CDghpRrtTUu",
        frozenset({"askpass", "background", "bell", "preserve-env", "set-home", "login", "remove-timestamp",
                   "reset-timestamp", "list", "non-interactive", "preserve-groups", "stdin", "shell", "version",
                   "validate", "help"}),
        frozenset({"close-from", "chdir", "group", "host", "prompt", "chroot", "role", "type",
                   "command-timeout", "other-user", "user"}),
        frozenset({"preserve-env"}),
    )  # fmt: skip
    scanned = scan(values, 1, spec, permute=False)
    seen = _wrapped(values, scanned, "sudo", transparent=False)
    if scanned.has("-e", "--edit"):
        seen.mark("sudo -e edits files with an editor")
    if scanned.has("-s", "--shell", "-i", "--login"):
        seen.mark("sudo -s/-i runs the command through a shell")
    if scanned.has("-D", "--chdir", "-R", "--chroot"):
        seen.changes_dir = True
    return seen


@_handles("doas")
def _doas(values: Values, globs: list[bool]) -> Seen:
    scanned = scan(values, 1, Options("Lns", "Cu"), permute=False)
    seen = _wrapped(values, scanned, "doas", transparent=False)
    if scanned.has("-s") or not seen.runs:
        seen.mark("doas without a command runs a shell")
    return seen


@_handles("su")
def _su(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "flmpP",
        "cgGsw",
        frozenset({"fast", "login", "preserve-environment", "pty"}),
        frozenset({"command", "session-command", "group", "supp-group", "shell", "whitelist-environment"}),
    )
    scanned = scan(values, 1, spec)
    seen = Seen().mark("su runs a shell")
    command = scanned.has("-c", "--command", "--session-command")
    if command is not None and command.value is not None:
        seen.runs.append(Run(script=command.value))
    return seen


@_handles("runuser")
def _runuser(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "flmpP",
        "cgGsuw",
        frozenset({"fast", "login", "preserve-environment", "pty"}),
        frozenset(
            {"command", "session-command", "group", "supp-group", "shell", "user", "whitelist-environment"}
        ),
    )
    scanned = scan(values, 1, spec, permute=False)
    if scanned.has("-u", "--user") and not scanned.has("-c", "--command", "-l", "--login"):
        return _wrapped(values, scanned, "runuser", transparent=False)
    seen = Seen().mark("runuser runs a shell")
    command = scanned.has("-c", "--command", "--session-command")
    if command is not None and command.value is not None:
        seen.runs.append(Run(script=command.value))
    return seen


@_handles("env")
def _env(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "0iv",
        "uCS",
        frozenset({"null", "ignore-environment", "debug", "list-signal-handling"}),
        frozenset({"unset", "chdir", "split-string"}),
        frozenset({"block-signal", "default-signal", "ignore-signal"}),
    )
    scanned = scan(values, 1, spec, permute=False)
    seen = Seen(transparent=True)
    if scanned.unknown:
        seen.mark(f"env option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark("env's options are computed at run time")
    if scanned.has("-C", "--chdir"):
        seen.changes_dir = True
    split = scanned.has("-S", "--split-string")
    rest = scanned.positionals
    k = 0
    while k < len(rest) and values[rest[k]] and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", values[rest[k]] or ""):
        seen.assigns.append((values[rest[k]] or "").partition("=")[0])
        k += 1
    if split is not None:
        text = split.value
        if text is None or re.search(r"[$\\#]", text):
            return seen.mark("env -S with escapes or variables in its string")
        tail = " ".join(_quote(values[i]) for i in rest[k:] if values[i] is not None)
        seen.runs.append(Run(script=f"env {text} {tail}".strip()))
        return seen
    if k < len(rest):
        seen.runs.append(Run((rest[k], len(values))))
    return seen


def _quote(word: str | None) -> str:
    import shlex

    return shlex.quote(word or "")


@_handles("xargs")
def _xargs(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "0prtxo",
        "adEIiLlnPs",
        frozenset({"null", "interactive", "no-run-if-empty", "verbose", "exit", "open-tty", "show-limits"}),
        frozenset(
            {"arg-file", "delimiter", "max-lines", "max-args", "max-procs", "max-chars", "process-slot-var"}
        ),
        frozenset({"eof", "replace"}),
    )
    scanned = scan(values, 1, spec, permute=False)
    seen = Seen(transparent=True)
    if scanned.unknown:
        seen.mark(f"xargs option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark("xargs's options are computed at run time")
    if not scanned.positionals:
        return seen  # runs echo
    seen.runs.append(Run((scanned.positionals[0], len(values)), open_tail=True))
    return seen


@_handles("flock")
def _flock(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "nosuxhVF",
        "wEc",
        frozenset({"nonblock", "nb", "close", "shared", "unlock", "exclusive", "verbose", "no-fork", "help"}),
        frozenset({"timeout", "wait", "conflict-exit-code", "command"}),
    )
    scanned = scan(values, 1, spec, permute=False)
    seen = Seen(transparent=True)
    if scanned.unknown:
        seen.mark(f"flock option {scanned.unknown} is not known to the policy")
    if not scanned.positionals:
        return seen
    seen.paths.append(("write", scanned.positionals[0]))  # the lock file is created if missing
    command = scanned.has("-c", "--command")
    if command is not None:
        seen.mark("flock -c runs a command line through a shell")
        if command.value is not None:
            seen.runs.append(Run(script=command.value))
    elif len(scanned.positionals) > 1:
        seen.runs.append(Run((scanned.positionals[1], len(values))))
    return seen


@_handles("chroot")
def _chroot(values: Values, globs: list[bool]) -> Seen:
    spec = Options("", "", frozenset({"skip-chdir"}), frozenset({"userspec", "groups"}))
    scanned = scan(values, 1, spec, permute=False)
    seen = Seen().mark("chroot runs a command under another root, where paths mean other files")
    if len(scanned.positionals) > 1:
        seen.runs.append(Run((scanned.positionals[1], len(values))))
    return seen


@_handles("strace", "ltrace")
def _strace(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "cCdDfFhiqrtTvVwxXyYzZk",
        "abeEIoOpPSuUsA",
        frozenset({"summary-only", "summary", "debug", "daemonize", "follow-forks", "output-separately",
                   "instruction-pointer", "quiet", "relative-timestamps", "syscall-times", "no-abbrev",
                   "version", "summary-wall-clock", "decode-fds", "decode-pids", "stack-trace", "help"}),
        frozenset({"attach", "trace", "env", "output", "signal", "user", "string-limit", "columns",
                   "trace-path", "status", "quiet", "silence", "absolute-timestamps", "timestamps"}),
    )  # fmt: skip
    scanned = scan(values, 1, spec, permute=False)
    seen = _wrapped(values, scanned, posixpath.basename(values[0] or ""), transparent=False)
    if scanned.has("-E", "--env"):
        seen.mark("strace -E sets the traced command's environment")
    output = scanned.has("-o", "--output")
    if output is not None and output.value is not None:
        if output.value.startswith(("|", "!")):
            seen.mark("strace -o |CMD pipes its log into a command")
        else:
            seen.value_paths.append(("write", output.value))
    return seen


@_handles("script")
def _script(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "aefqhV",
        "cEIOBTmt",
        frozenset({"append", "return", "flush", "force", "quiet", "help", "version"}),
        frozenset({"command", "echo", "log-in", "log-out", "log-io", "log-timing", "logging-format",
                   "output-limit"}),
        frozenset({"timing"}),
    )  # fmt: skip
    scanned = scan(values, 1, spec)
    seen = Seen().mark("script runs a shell")
    command = scanned.has("-c", "--command")
    if command is not None and command.value is not None:
        seen.runs.append(Run(script=command.value))
    for index in scanned.positionals[:1]:
        seen.paths.append(("write", index))  # the typescript file
    return seen


@_handles("watch")
def _watch(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "bcdegtxpwhv",
        "nq",
        frozenset({"beep", "color", "no-color", "errexit", "chgexit", "no-title", "exec", "precise",
                   "no-wrap", "help", "version", "no-linewrap"}),
        frozenset({"interval", "equexit"}),
        frozenset({"differences"}),
    )  # fmt: skip
    scanned = scan(values, 1, spec, permute=False)
    if scanned.has("-x", "--exec"):
        return _wrapped(values, scanned, "watch", transparent=True)
    seen = Seen().mark("watch runs its command line through sh -c")
    if scanned.unknown:
        seen.mark(f"watch option {scanned.unknown} is not known to the policy")
    words = [values[i] for i in scanned.positionals]
    if words and all(w is not None for w in words):
        seen.runs.append(Run(script=" ".join(w for w in words if w is not None)))
    return seen


# ssh -o options that only tune the connection; any other -o may run a command (ProxyCommand,
# LocalCommand, KnownHostsCommand, Match exec...) or read another config.
_SSH_SAFE_OPTIONS = {
    "batchmode", "connecttimeout", "connectionattempts", "stricthostkeychecking", "port", "user",
    "serveraliveinterval", "serveralivecountmax", "loglevel", "compression", "identitiesonly",
    "passwordauthentication", "pubkeyauthentication", "userknownhostsfile", "hostkeyalgorithms",
    "addressfamily", "requesttty", "identityfile", "tcpkeepalive", "checkhostip", "numberofpasswordprompts",
    "preferredauthentications", "kbdinteractiveauthentication", "forwardagent", "forwardx11", "visualhostkey",
    "hashknownhosts", "updatehostkeys", "ciphers", "macs", "kexalgorithms", "controlmaster", "controlpersist",
}  # fmt: skip
_SSH = Options(
    "46AaCfGgKkMNnqsTtVvXxYy",
    "BbcDEeFIiJLlmOoPpQRSWw",
)


@_handles("ssh")
def _ssh(values: Values, globs: list[bool]) -> Seen:
    scanned = scan(values, 1, _SSH, permute=False)
    seen = Seen()
    if scanned.unknown:
        seen.mark(f"ssh option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark("ssh's options are computed at run time")
    for option in scanned.options:
        if option.name == "-o":
            key = re.split(r"[=\s]", option.value or "", maxsplit=1)[0].lower()
            if key not in _SSH_SAFE_OPTIONS:
                seen.mark(f"ssh -o {key or '?'} may run a command or read another configuration")
        elif option.name in ("-F", "-E", "-S"):
            seen.mark(f"ssh {option.name} names a file that changes what ssh does")
    if not scanned.positionals:
        return seen
    words = [values[i] for i in scanned.positionals[1:]]
    if not words:
        return seen.mark("ssh without a command runs a login shell on the host")
    if any(w is None for w in words):
        return seen.mark("the remote command is computed at run time")
    seen.runs.append(Run(script=" ".join(w for w in words if w is not None)))
    return seen


@_handles("busybox")
def _busybox(values: Values, globs: list[bool]) -> Seen:
    if len(values) < 2:
        return Seen()
    return Seen(transparent=True, runs=[Run((1, len(values)))])


@_handles(
    "nsenter",
    "unshare",
    "systemd-run",
    "setpriv",
    "sg",
    "pkexec",
    "gosu",
    "su-exec",
    "sshpass",
    "firejail",
    "bwrap",
    "proot",
    "capsh",
    "cgexec",
    "chpst",
    "machinectl",
    "systemd-nspawn",
    "parallel",
)
def _other_runner(values: Values, globs: list[bool]) -> Seen:
    name = posixpath.basename(values[0] or "")
    return Seen().mark(f"{name} runs a command with options the policy does not read")


# -- shells and interpreters -------------------------------------------------------------------------

_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh", "rbash", "ksh93", "pdksh",
           "fish", "csh", "tcsh", "elvish", "nu", "xonsh", "oksh", "loksh"}  # fmt: skip


def _shell(values: Values, globs: list[bool]) -> Seen:
    name = posixpath.basename(values[0] or "")
    i = 1
    command_mode = False
    while i < len(values):
        word = values[i]
        if word is None:
            return Seen().mark(f"{name}'s arguments are computed at run time")
        if word in ("-", "--"):
            i += 1
            break
        if word.startswith("--"):
            if word in ("--rcfile", "--init-file"):
                return Seen().mark(f"{name} {word} runs another file first")
            i += 1
            continue
        if word[:1] in "-+" and len(word) > 1:
            if "c" in word[1:] and word[0] == "-":
                command_mode = True
            i += 1 + (word[-1] in "oO" and len(word) == 2)
            continue
        break
    if command_mode:
        seen = Seen().mark(f"{name} -c runs a command line given as text")
        if i < len(values) and values[i] is not None:
            if name in ("fish", "csh", "tcsh", "nu", "elvish", "xonsh"):
                return seen.mark(f"{name} is not a POSIX shell")
            seen.runs.append(Run(script=values[i]))
        return seen
    if i >= len(values):
        return Seen().mark(f"{name} reads its program from standard input")
    if name in ("fish", "csh", "tcsh", "nu", "elvish", "xonsh", "zsh"):
        return Seen()  # runs a script file, judged by the rules as written
    return Seen()


for _name in _SHELLS:
    _HANDLERS[_name] = _shell


@dataclass(frozen=True)
class _Interpreter:
    inline: frozenset[str]  # options whose value is code (or that make the program read code)
    values: frozenset[str] = frozenset()  # other options taking a value (a word of their own)
    modules: frozenset[str] = frozenset()  # options naming code to load
    stdin_ok: bool = False  # runs nothing from stdin without a script (not an interpreter of stdin)


_INTERPRETERS: dict[str, _Interpreter] = {
    "python": _Interpreter(frozenset({"-c", "-i"}), frozenset({"-W", "-X", "--check-hash-based-pycs", "-m"})),
    "pypy": _Interpreter(frozenset({"-c", "-i"}), frozenset({"-W", "-X", "-m"})),
    "perl": _Interpreter(frozenset({"-e", "-E", "-x"}), frozenset({"-I"}), frozenset({"-M", "-m", "-d"})),
    "ruby": _Interpreter(frozenset({"-e"}), frozenset({"-I", "-C", "-E", "-F"}), frozenset({"-r"})),
    "node": _Interpreter(
        frozenset({"-e", "--eval", "-p", "--print", "-i", "--interactive"}),
        frozenset({"--title", "--inspect-port", "--max-old-space-size"}),
        frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader"}),
    ),
    "nodejs": _Interpreter(
        frozenset({"-e", "--eval", "-p", "--print", "-i"}), frozenset(), frozenset({"-r", "--require"})
    ),
    "php": _Interpreter(frozenset({"-r", "-a", "-B", "-R", "-F", "-E", "-d"}), frozenset({"-c", "-z"})),
    "lua": _Interpreter(frozenset({"-e", "-i"}), frozenset(), frozenset({"-l"})),
    "luajit": _Interpreter(frozenset({"-e", "-i", "-b"}), frozenset(), frozenset({"-l"})),
    "tclsh": _Interpreter(frozenset()),
    "wish": _Interpreter(frozenset()),
    "Rscript": _Interpreter(frozenset({"-e"})),
    "R": _Interpreter(frozenset({"-e", "--interactive"})),
    "julia": _Interpreter(
        frozenset({"-e", "-E", "--eval", "--print", "-i"}), frozenset(), frozenset({"-L", "--load"})
    ),
    "osascript": _Interpreter(frozenset({"-e"})),
    "pwsh": _Interpreter(frozenset({"-c", "-Command", "-command", "-EncodedCommand", "-e", "-ec"})),
    "powershell": _Interpreter(frozenset({"-c", "-Command", "-command", "-EncodedCommand", "-e", "-ec"})),
    "bun": _Interpreter(frozenset({"-e", "--eval", "-p", "--print"})),
    "deno": _Interpreter(frozenset({"eval", "repl"})),
    "expect": _Interpreter(frozenset({"-c", "-i"})),
    "gdb": _Interpreter(
        frozenset(
            {
                "-ex",
                "--ex",
                "-eval-command",
                "--eval-command",
                "-x",
                "--command",
                "-iex",
                "-ix",
                "--init-eval-command",
                "--init-command",
                "-batch",
                "--batch",
            }
        )
    ),
    "lldb": _Interpreter(frozenset({"-o", "--one-line", "-s", "--source", "-O", "-S", "-k", "-K"})),
    "dc": _Interpreter(frozenset({"-e", "--expression", "-f", "--file"})),
    "jshell": _Interpreter(frozenset()),
    "irb": _Interpreter(frozenset()),
    "groovy": _Interpreter(frozenset({"-e"})),
    "scala": _Interpreter(frozenset({"-e"})),
    "guile": _Interpreter(frozenset({"-c", "-e"}), frozenset(), frozenset({"-l"})),
    "sbcl": _Interpreter(frozenset({"--eval", "--load", "--script"})),
    "ghci": _Interpreter(frozenset({"-e"})),
    "ocaml": _Interpreter(frozenset()),
}


def _interpreter(values: Values, globs: list[bool]) -> Seen:
    name = _family(posixpath.basename(values[0] or ""))
    spec = _INTERPRETERS.get(name) or _INTERPRETERS[posixpath.basename(values[0] or "")]
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return Seen().mark(f"{name}'s arguments are computed at run time")
        if word in spec.inline or any(
            word.startswith(o) and len(o) == 2 and o[0] == "-"
            for o in spec.inline
            if word[:2] == o and not word.startswith("--")
        ):
            return Seen().mark(f"{name} {word[:12]} runs code given as text")
        if (
            name == "perl"
            and word.startswith("-")
            and not word.startswith("--")
            and re.search(r"[eEx]", word[1:].split("=")[0])
            and not word.startswith("-I")
        ):
            return Seen().mark(f"perl {word[:12]} runs code given as text")
        if word in spec.modules or any(word.startswith(o) for o in spec.modules if len(o) == 2):
            return Seen().mark(f"{name} {word[:12]} loads code by name")
        if word == "-":
            return Seen().mark(f"{name} reads its program from standard input")
        if word == "--":
            i += 1
            break
        if word.startswith("-") and len(word) > 1:
            i += 2 if word in spec.values else 1
            if name in ("python", "pypy") and word == "-m":
                return Seen()  # runs a module by name: judged by the rules as written
            continue
        break
    if i >= len(values):
        return Seen().mark(f"{name} without a script reads its program from standard input")
    return Seen()


for _name in _INTERPRETERS:
    _HANDLERS.setdefault(_name, _interpreter)


_EDITORS = {"vi", "vim", "nvim", "view", "vimdiff", "rvim", "gvim", "ex", "emacs", "emacsclient", "ed", "red",
            "nano", "pico", "joe", "mcedit", "ne", "micro", "kak", "helix", "hx"}  # fmt: skip
for _name in _EDITORS:
    _HANDLERS[_name] = lambda values, globs: Seen().mark(
        f"{posixpath.basename(values[0] or '')} is an editor, which runs commands"
    )


_DEFINES = {
    "eval": "eval runs its arguments as a command line",
    "source": "source runs a file's commands in this shell",
    ".": "'.' runs a file's commands in this shell",
    "alias": "alias defines a command that runs later",
    "unalias": "unalias changes what later commands mean",
    "trap": "trap defines a command that runs later",
    "coproc": "coproc runs a command in the background with pipes to this shell",
    "let": "let evaluates arithmetic",
    "read": "read assigns variables",
    "readarray": "readarray assigns variables",
    "mapfile": "mapfile assigns variables",
    "declare": "declare sets variables and attributes",
    "typeset": "typeset sets variables and attributes",
    "local": "local sets variables",
    "export": "export sets variables for later commands",
    "readonly": "readonly sets variables",
    "getopts": "getopts assigns variables",
    "shopt": "shopt changes how later commands are read",
    "enable": "enable loads or changes builtins",
    "hash": "hash changes where later commands are found",
    "fc": "fc runs commands from the history",
    "bind": "bind defines key bindings that run commands",
    "complete": "complete defines commands that run later",
    "compgen": "compgen can run functions and commands",
    "at": "at schedules commands to run later",
    "batch": "batch schedules commands to run later",
    "crontab": "crontab installs commands that run later",
}


@_handles(*_DEFINES)
def _defines(values: Values, globs: list[bool]) -> Seen:
    name = posixpath.basename(values[0] or "")
    if name == "crontab" and len(values) == 2 and values[1] in ("-l", "-r"):
        return Seen()
    seen = Seen().mark(_DEFINES[name])
    if name == "eval" and all(v is not None for v in values[1:]) and len(values) > 1:
        seen.runs.append(Run(script=" ".join(v for v in values[1:] if v is not None)))
    elif (
        name == "trap"
        and len(values) > 2
        and values[1] is not None
        and values[1] != "-"
        and not values[1].startswith("-")
    ):
        seen.runs.append(Run(script=values[1]))
    elif name == "coproc" and len(values) > 1:
        seen.runs.append(Run((1, len(values))))
    return seen


@_handles("printf")
def _printf(values: Values, globs: list[bool]) -> Seen:
    if any(v is not None and v.startswith("-v") for v in values[1:2]):
        return Seen().mark("printf -v assigns a variable (and evaluates its subscript)")
    return Seen()


@_handles("test", "[")
def _test(values: Values, globs: list[bool]) -> Seen:
    if "-v" in values[1:]:
        return Seen().mark("test -v evaluates array subscripts")
    return Seen()


@_handles("cd", "pushd", "popd")
def _cd(values: Values, globs: list[bool]) -> Seen:
    return Seen(changes_dir=True)


# -- programs whose options run commands or load code ---------------------------------------------


def _bundle_has(word: str | None, letters: str) -> bool:
    """A short-option bundle (``-xvzf``) holding one of ``letters``."""
    return (
        bool(word)
        and word.startswith("-")
        and not word.startswith("--")
        and any(c in word[1:] for c in letters)
    )  # type: ignore[union-attr]


_TAR_LONG_DANGER = ("to-command", "checkpoint-action", "use-compress-program", "info-script", "new-volume-script",
                    "rsh-command", "rmt-command", "index-file")  # fmt: skip


@_handles("tar", "bsdtar", "gtar")
def _tar(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    words = list(values[1:])
    first = words[0] if words else None
    bundle = ""
    if first and not first.startswith("-"):  # old style: `tar xzf archive`
        bundle = first
    extracting = False
    for word in words:
        if word is None:
            return seen.mark("tar's arguments are computed at run time")
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            for danger in _TAR_LONG_DANGER:
                if len(name) >= 3 and danger.startswith(name):
                    return seen.mark(f"tar --{danger} runs a command")
            if name in ("extract", "get") or (len(name) >= 3 and "extract".startswith(name)):
                extracting = True
        elif word.startswith("-") and len(word) > 1:
            bundle += word[1:]
    for letter in bundle:
        if letter in "IF":
            return seen.mark(f"tar -{letter} runs a command")
        if letter == "x":
            extracting = True
    if extracting:
        seen.unknown_writes = "tar extracts the files its archive holds"
    return seen


@_handles("zip")
def _zip(values: Values, globs: list[bool]) -> Seen:
    for word in values[1:]:
        if word is None:
            continue
        if (
            word.startswith("--unzip-command")
            or word == "-TT"
            or (word.startswith("-TT"))
            or (_bundle_has(word, "T") and "TT" in word)
        ):
            return Seen().mark("zip -TT runs a command")
    return Seen()


@_handles("unzip", "7z", "7za", "unrar", "cpio")
def _extract(values: Values, globs: list[bool]) -> Seen:
    return Seen(unknown_writes="it extracts the files its archive holds")


@_handles("rsync")
def _rsync(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    positionals = []
    after = False
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return seen.mark("rsync's arguments are computed at run time")
        if after or not word.startswith("-"):
            positionals.append(i)
        elif word == "--":
            after = True
        elif word.startswith(
            (
                "--rsh",
                "--rsync-path",
                "--config",
                "--daemon",
                "--write-batch",
                "--only-write-batch",
                "--read-batch",
                "--log-file",
            )
        ):
            return seen.mark(f"rsync {word.split('=')[0]} runs a command or uses another file")
        elif not word.startswith("--") and "e" in word[1:]:
            return seen.mark("rsync -e runs a command")
    if positionals and ":" not in (values[positionals[-1]] or ""):
        seen.paths.append(("write", positionals[-1]))
    return seen


@_handles("scp", "sftp")
def _scp(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return seen.mark("scp's arguments are computed at run time")
        if word.startswith("-") and not word.startswith("--"):
            if "S" in word[1:] or "F" in word[1:]:
                return seen.mark(f"{values[0]} -S/-F runs another program or reads another configuration")
            if word.startswith("-o"):
                text = word[2:] or (values[i + 1] or "")
                key = re.split(r"[=\s]", text, maxsplit=1)[0].lower()
                if key not in _SSH_SAFE_OPTIONS:
                    return seen.mark(f"scp -o {key} may run a command")
    positionals = [i for i, w in enumerate(values[1:], 1) if w and not w.startswith("-")]
    if positionals and ":" not in (values[positionals[-1]] or ""):
        seen.paths.append(("write", positionals[-1]))
    return seen


_GIT_GLOBAL = Options(
    "hvpPC",
    "cC",
    frozenset({"version", "help", "paginate", "no-pager", "bare", "no-replace-objects", "literal-pathspecs",
               "glob-pathspecs", "noglob-pathspecs", "icase-pathspecs", "no-optional-locks", "html-path",
               "man-path", "info-path", "no-lazy-fetch", "no-advice"}),
    frozenset({"git-dir", "work-tree", "namespace", "config-env", "super-prefix", "list-cmds", "attr-source"}),
    frozenset({"exec-path"}),
)  # fmt: skip
_GIT_RUNNERS = {"difftool": "git difftool runs a diff tool", "mergetool": "git mergetool runs a merge tool",
                "filter-branch": "git filter-branch runs filters", "instaweb": "git instaweb runs a web server",
                "daemon": "git daemon serves repositories", "web--browse": "git web--browse runs a browser",
                "credential": "git credential runs helpers", "filter-repo": "git filter-repo runs callbacks"}  # fmt: skip


@_handles("git")
def _git(values: Values, globs: list[bool]) -> Seen:
    scanned = scan(values, 1, _GIT_GLOBAL, permute=False)
    seen = Seen()
    for option in scanned.options:
        if option.name in ("-c", "--config-env", "--exec-path", "--git-dir", "--work-tree"):
            return seen.mark(f"git {option.name} can make git run another program")
        if option.name == "-C":
            seen.changes_dir = True
    if scanned.unknown:
        return seen.mark(f"git option {scanned.unknown} is not known to the policy")
    if scanned.dynamic or not scanned.positionals:
        return seen.mark("git's subcommand is computed at run time") if scanned.dynamic else seen
    sub_index = scanned.positionals[0]
    sub = values[sub_index] or ""
    rest = [v for v in values[sub_index + 1 :]]
    if sub in _GIT_RUNNERS:
        return seen.mark(_GIT_RUNNERS[sub])
    for word in rest:
        if word is None:
            continue
        name = word.split("=", 1)[0]
        if name in (
            "--upload-pack",
            "--receive-pack",
            "--exec",
            "--template",
            "--open-files-in-pager",
            "--extcmd",
            "--tool",
            "--ext-diff",
            "--textconv",
            "-O",
            "--config",
            "--output",
        ):
            return seen.mark(f"git {sub} {name} can run another program or write elsewhere")
        if sub in ("clone", "fetch", "pull", "ls-remote", "archive", "push", "submodule") and name in (
            "-u",
            "-c",
        ):
            return seen.mark(f"git {sub} {name} can run another program")
        if sub == "grep" and re.fullmatch(r"-[a-zA-Z]*O.*", word):
            return seen.mark("git grep -O runs a pager command")
        if sub == "rebase" and (name in ("-x", "--exec") or re.fullmatch(r"-[a-zA-Z]*x.*", word)):
            return seen.mark("git rebase --exec runs commands")
    if sub == "bisect" and rest[:1] == ["run"]:
        return seen.mark("git bisect run runs a command")
    if sub == "submodule" and "foreach" in rest:
        return seen.mark("git submodule foreach runs a command")
    if sub == "config":
        reading = {"--get", "--get-all", "--get-regexp", "-l", "--list", "--get-urlmatch", "--show-origin",
                   "--show-scope", "--name-only", "get", "list", "--null", "-z", "--get-color", "--get-colorbool",
                   "--global", "--system", "--local", "--worktree", "--type", "--bool", "--int", "--path"}  # fmt: skip
        plain = [w for w in rest if w is not None and not w.startswith("-")]
        flags = [w for w in rest if w is not None and w.startswith("-")]
        if any(w is None for w in rest):
            return seen.mark("git config with arguments computed at run time")
        if (
            plain[:1] not in ([], ["get"], ["list"]) and len(plain) > (1 if plain[0] not in ("get",) else 2)
        ) or any(f.split("=")[0] not in reading for f in flags):
            return seen.mark("git config changes settings, which can make git run commands later")
    return seen


_LESS_DANGER = (
    "-o",
    "-O",
    "--log-file",
    "--LOG-FILE",
    "-k",
    "--lesskey-file",
    "--lesskey-src",
    "--lesskey-content",
)


@_handles("less", "more", "most", "pg")
def _less(values: Values, globs: list[bool]) -> Seen:
    for word in values[1:]:
        if word is None:
            continue
        if word.startswith("+") or any(word.startswith(d) for d in _LESS_DANGER):
            return Seen().mark(f"{values[0]} {word[:12]} runs pager commands or writes a file")
    return _reader(values, globs)


@_handles("man")
def _man(values: Values, globs: list[bool]) -> Seen:
    for word in values[1:]:
        if word is None:
            continue
        if re.match(r"-[a-zA-Z]*[PHC]|--(pager|html|config-file|browser|preprocessor)", word):
            return Seen().mark(f"man {word[:12]} runs another program or reads another configuration")
    return Seen()


@_handles("find")
def _find(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            i += 1
            continue
        if word in ("-exec", "-execdir", "-ok", "-okdir"):
            end = next((j for j in range(i + 1, len(values)) if values[j] in (";", "+")), len(values))
            if end > i + 1:
                seen.runs.append(Run((i + 1, end)))
            i = end + 1
            continue
        if word == "-delete":
            seen.unknown_writes = "find -delete removes the files it finds"
        elif word in ("-fprint", "-fprint0", "-fprintf", "-fls") and i + 1 < len(values):
            seen.paths.append(("write", i + 1))
        i += 1
    return seen


# -- sed and awk: their programs can run commands and write files -------------------------------------

_SED_SIMPLE = set("dDgGhHlnNpPqQxz=F")


def sed_script_problem(script: str) -> str | None:
    """Why a sed script is not judged static (it runs commands, writes or reads files), or None.

    A small reader of sed's command syntax (GNU): addresses, then a command; ``s`` and ``y`` with
    their delimiters; ``a``/``i``/``c`` text; blocks. Anything it does not recognise is refused.
    """
    i, n = 0, len(script)

    def skip_regex(pos: int, delim: str) -> int:
        pos += 1
        while pos < n and script[pos] != delim:
            if script[pos] == "\\":
                pos += 1
            elif script[pos] == "\n":
                return -1
            pos += 1
        return pos + 1 if pos < n else -1

    while i < n:
        c = script[i]
        if c in " \t\n;}":
            i += 1
            continue
        if c == "#":
            end = script.find("\n", i)
            i = n if end < 0 else end
            continue
        # addresses: number, $, /re/, \cREc, first~step, addr1,addr2, addr!, 0,/re/
        for _ in range(2):
            if i < n and (script[i].isdigit()):
                while i < n and (script[i].isdigit() or script[i] == "~"):
                    i += 1
            elif i < n and script[i] == "$":
                i += 1
            elif i < n and script[i] == "/":
                i = skip_regex(i, "/")
                if i < 0:
                    return "a sed address it cannot read"
                while i < n and script[i] in "IM":
                    i += 1
            elif i < n and script[i] == "\\" and i + 1 < n:
                i = skip_regex(i + 1, script[i + 1])
                if i < 0:
                    return "a sed address it cannot read"
            if i < n and script[i] == ",":
                i += 1
                if i < n and script[i] in "+~":
                    i += 1
                continue
            break
        while i < n and script[i] in " \t!":
            i += 1
        if i >= n:
            return None
        c = script[i]
        if c == "{":
            i += 1
            continue
        if c in _SED_SIMPLE:
            i += 1
            if c in "qQlL":
                while i < n and script[i].isdigit():
                    i += 1
            continue
        if c in ":btT":
            end = min([p for p in (script.find("\n", i), script.find(";", i)) if p >= 0] or [n])
            i = end
            continue
        if c in "aic":
            end = script.find("\n", i)
            while end >= 0 and script[end - 1] == "\\":
                end = script.find("\n", end + 1)
            i = n if end < 0 else end
            continue
        if c in "sy":
            if i + 1 >= n:
                return "a sed command it cannot read"
            delim = script[i + 1]
            if delim in "\n\\":
                return "a sed command it cannot read"
            j = i + 1
            for _part in range(2):
                j = skip_regex(j, delim) - 1
                if j < 0:
                    return "a sed command it cannot read"
            j += 1
            if c == "s":
                flags_start = j
                while j < n and script[j] not in ";\n}":
                    j += 1
                flags = script[flags_start:j]
                if "e" in flags:
                    return "sed s///e runs the result as a command"
                if "w" in flags or "W" in flags:
                    return "sed s///w writes a file"
                if re.search(r"[^gpiImM0-9 \t]", flags):
                    return "sed s/// flags it does not know"
            i = j
            continue
        if c in "eE":
            return "sed e runs a command"
        if c in "wW":
            return "sed w writes a file"
        if c in "rRv":
            if c == "v":
                end = min([p for p in (script.find("\n", i), script.find(";", i)) if p >= 0] or [n])
                i = end
                continue
            return "sed r reads a file"
        return f"sed command {c!r} is not known to the policy"
    return None


@_handles("sed")
def _sed(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "nrEsuzbi",
        "efl",
        frozenset({"quiet", "silent", "regexp-extended", "separate", "unbuffered", "null-data", "posix",
                   "sandbox", "debug", "follow-symlinks", "binary", "help", "version"}),
        frozenset({"expression", "file", "line-length"}),
        frozenset({"in-place"}),
    )  # fmt: skip
    scanned = scan(values, 1, spec)
    seen = Seen()
    if scanned.dynamic:
        return seen.mark("sed's arguments are computed at run time")
    if scanned.unknown and not re.fullmatch(r"-i.*|--in-place.*", scanned.unknown):
        # `-i.bak` is read as -i with a suffix: only a truly unknown letter counts
        if not any(o.name == "-i" for o in scanned.options):
            return seen.mark(f"sed option {scanned.unknown} is not known to the policy")
    scripts = [o.value for o in scanned.options if o.name in ("-e", "--expression")]
    if scanned.has("-f", "--file"):
        return seen.mark("sed -f runs a script from a file")
    files = list(scanned.positionals)
    if not scripts:
        if not files:
            return seen
        scripts = [values[files[0]]]
        files = files[1:]
    sandbox = scanned.has("--sandbox") is not None
    for script in scripts:
        if script is None:
            return seen.mark("a sed script computed at run time")
        problem = sed_script_problem(script)
        if problem and not (sandbox and ("write" in problem or "reads" in problem or "runs" in problem)):
            return seen.mark(problem)
    in_place = any(o.name in ("-i", "--in-place") for o in scanned.options) or any(
        v is not None and re.fullmatch(r"-[a-zA-Z]*i.*", v) for v in values[1:]
    )
    for index in files:
        seen.paths.append(("write" if in_place else "read", index))
    return seen


def awk_program_problem(program: str) -> str | None:
    """Why an awk program is not static (runs commands, reads or writes files), or None.

    Strings, regular expressions and comments are blanked first, then the program is searched
    for ``system``, pipes, ``getline``, output redirection after ``print``/``printf`` and gawk's
    ``@include``/``@load``. Over-approximate on purpose: a ``>`` after print at the top level of
    a statement counts, even where awk would read a comparison.
    """
    text = _awk_blank(program)
    if text is None:
        return "an awk program it cannot read"
    if re.search(r"\bsystem\s*\(", text):
        return "awk system() runs a command"
    if re.search(r"(?<!\|)\|(?!\|)", text):
        return "awk pipes to or from a command"
    if re.search(r"\bgetline\b", text):
        return "awk getline reads a file or a command"
    if re.search(r"@\s*(include|load|namespace)", text):
        return "gawk @include/@load loads code"
    if re.search(r"\b(ENVIRON|PROCINFO)\b", text) and re.search(r"\bPROCINFO\b", text):
        return "awk PROCINFO changes how awk runs"
    for statement in re.split(r"[;\n{}]", text):
        match = re.search(r"\b(print|printf)\b(.*)", statement)
        if match and _top_level_redirect(match.group(2)):
            return "awk print > writes a file"
    return None


def _top_level_redirect(rest: str) -> bool:
    depth = 0
    for c in rest:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == ">" and depth <= 0:
            return True
    return False


def _awk_blank(program: str) -> str | None:
    """The program with strings, regexes and comments replaced by blanks."""
    out = []
    i, n = 0, len(program)
    last = ""  # last significant character, to tell a regex from a division
    while i < n:
        c = program[i]
        if c == '"':
            j = i + 1
            while j < n and program[j] != '"':
                j += 2 if program[j] == "\\" else 1
            if j >= n:
                return None
            out.append('""')
            i = j + 1
            last = '"'
            continue
        if c == "/" and (
            last == ""
            or last in "(,=!~&|{;:?+-*%<>^\n"
            or (out and "".join(out).rstrip().endswith(("print", "printf", "return", "in")))
        ):
            j = i + 1
            while j < n and program[j] != "/":
                if program[j] == "\n":
                    return None
                j += 2 if program[j] == "\\" else 1
            if j >= n:
                return None
            out.append("//")
            i = j + 1
            last = "/"
            continue
        if c == "#":
            end = program.find("\n", i)
            i = n if end < 0 else end
            continue
        out.append(c)
        if not c.isspace():
            last = c
        i += 1
    return "".join(out)


@_handles("awk")
def _awk(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    i = 1
    program = None
    files: list[int] = []
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("awk's arguments are computed at run time")
        if word == "--":
            i += 1
            break
        if word in ("-f", "--file", "-E", "--exec", "-i", "--include", "-l", "--load") or (
            word.startswith(("-f", "--file=", "-E", "--exec=", "-i", "--include=", "-l", "--load="))
            and not word.startswith(("-F",))
        ):
            return seen.mark(f"awk {word[:10]} runs or loads a program from a file")
        if word in ("-F", "-v", "--field-separator", "--assign"):
            i += 2
            continue
        if word.startswith(("-F", "-v", "--field-separator=", "--assign=")):
            i += 1
            continue
        if word in ("-e", "--source"):
            program = values[i + 1] if i + 1 < len(values) else None
            if program is None:
                return seen.mark("an awk program computed at run time")
            problem = awk_program_problem(program)
            if problem:
                return seen.mark(problem)
            i += 2
            continue
        if word.startswith("-") and len(word) > 1:
            i += 1
            continue
        break
    if program is None:
        if i >= len(values):
            return seen
        program = values[i]
        if program is None:
            return seen.mark("an awk program computed at run time")
        problem = awk_program_problem(program)
        if problem:
            return seen.mark(problem)
        i += 1
    files = [j for j in range(i, len(values)) if values[j] is not None and "=" not in (values[j] or "")]
    for j in range(i, len(values)):
        if values[j] is not None and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", values[j] or ""):
            return seen.mark("an awk variable assignment among its files (its value may hold escapes)")
    seen.paths.extend(("read", j) for j in files)
    return seen


# -- files: commands that change the files their arguments name ------------------------------------


def _all_positionals(values: Values, spec: Options, op: PathOp = "write") -> Seen:
    scanned = scan(values, 1, spec)
    seen = Seen(paths=[(op, i) for i in scanned.positionals])
    if scanned.unknown:
        # an option we do not know may take a value: judge every word that is not an option
        seen.paths = [(op, i) for i in range(1, len(values)) if not (values[i] or "-").startswith("-")]
    return seen


_CP = Options(
    "abdfHiLlnPpRrsTuvxZ",
    "StB",
    frozenset({"archive", "attributes-only", "backup", "copy-contents", "dereference", "force", "interactive",
               "link", "no-clobber", "no-dereference", "no-preserve", "parents", "recursive", "remove-destination",
               "strip-trailing-slashes", "symbolic-link", "no-target-directory", "update", "verbose",
               "one-file-system", "context", "debug", "help", "version", "keep-directory-symlink"}),
    frozenset({"suffix", "target-directory"}),
    frozenset({"backup", "preserve", "no-preserve", "reflink", "sparse", "update", "context"}),
)  # fmt: skip


@_handles("cp", "install", "ln", "link")
def _cp(values: Values, globs: list[bool]) -> Seen:
    name = posixpath.basename(values[0] or "")
    spec = _CP if name != "install" else Options(
        "bcCdDpsTvZ", "gmoStB",
        frozenset({"compare", "directory", "preserve-timestamps", "strip", "no-target-directory", "verbose",
                   "debug", "preserve-context", "help", "version"}),
        frozenset({"group", "mode", "owner", "strip-program", "suffix", "target-directory"}),
        frozenset({"backup", "context"}),
    )  # fmt: skip
    scanned = scan(values, 1, spec)
    seen = Seen()
    if scanned.has("--strip-program"):
        return seen.mark("install --strip-program runs a program")
    target = scanned.has("-t", "--target-directory")
    positions = scanned.positionals
    if scanned.unknown:
        return _all_positionals(values, spec)
    if target is not None:
        if target.value_index is not None:
            seen.paths.append(("write", target.value_index))
        elif target.value is not None:
            seen.value_paths.append(("write", target.value))
        seen.paths += [("read", i) for i in positions]
    elif positions:
        seen.paths += [("read", i) for i in positions[:-1]] + [("write", positions[-1])]
    if name in ("ln", "link"):  # the link's target is not opened: the link name is what is written
        seen.paths = [(op, i) for op, i in seen.paths if op == "write"]
    return seen


@_handles(
    "mv",
    "rm",
    "rmdir",
    "unlink",
    "shred",
    "truncate",
    "touch",
    "mkdir",
    "mkfifo",
    "mknod",
    "tee",
    "chmod",
    "chown",
    "chgrp",
    "chattr",
    "setfacl",
    "rename",
    "srm",
    "wipe",
    "fallocate",
)
def _writes(values: Values, globs: list[bool]) -> Seen:
    name = posixpath.basename(values[0] or "")
    first_is_not_a_path = name in ("chmod", "chown", "chgrp", "chattr", "setfacl")
    if name == "truncate":
        spec = Options("co", "sr", frozenset({"no-create", "io-blocks"}), frozenset({"size", "reference"}))
    elif name == "tee":
        spec = Options(
            "aip", "", frozenset({"append", "ignore-interrupts"}), frozenset(), frozenset({"output-error"})
        )
    elif name in ("chmod", "chown", "chgrp"):
        spec = Options("cfvRhHLP", "", frozenset({"changes", "silent", "quiet", "verbose", "recursive",
                                                  "no-dereference", "dereference", "preserve-root",
                                                  "no-preserve-root"}),
                       frozenset(), frozenset({"reference", "from"}))  # fmt: skip
    elif name in ("mv",):
        spec = Options("bfinTuvZ", "St", frozenset({"backup", "force", "interactive", "no-clobber",
                                                    "strip-trailing-slashes", "no-target-directory", "update",
                                                    "verbose", "context", "exchange", "no-copy", "debug"}),
                       frozenset({"suffix", "target-directory"}), frozenset({"backup", "update"}))  # fmt: skip
    else:
        spec = Options("dfiIrRvpPuzZx", "mnsZ", frozenset({"force", "interactive", "recursive", "verbose", "dir",
                                                           "parents", "one-file-system", "no-preserve-root",
                                                           "preserve-root", "ignore-fail-on-non-empty",
                                                           "remove", "zero", "no-create", "no-dereference",
                                                           "keep-size", "punch-hole", "dig-holes"}),
                       frozenset({"mode", "iterations", "size", "length", "offset", "reference", "date", "time"}),
                       frozenset({"context", "random-source", "interactive"}))  # fmt: skip
    scanned = scan(values, 1, spec)
    if name == "chmod":  # `chmod -w f`: a mode that looks like an option
        modes = [o for o in scanned.options if re.fullmatch(r"-[rwxXstugo]+", values[o.index] or "")]
        if modes and scanned.unknown:
            scanned.unknown = None
            scanned.positionals = sorted({*scanned.positionals, modes[0].index})
    if scanned.unknown:
        return _all_positionals(values, spec)
    positions = scanned.positionals
    if first_is_not_a_path and not scanned.has("--reference"):
        positions = positions[1:]
    seen = Seen(paths=[("write", i) for i in positions])
    target = scanned.has("-t", "--target-directory")
    if target is not None and target.value_index is not None:
        seen.paths.append(("write", target.value_index))
    return seen


@_handles("dd")
def _dd(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    for word in values[1:]:
        if word is None:
            return seen.mark("dd's arguments are computed at run time")
        key, eq, value = word.partition("=")
        if eq and key == "of":
            seen.value_paths.append(("write", value))
        elif eq and key == "if":
            seen.value_paths.append(("read", value))
    return seen


# -- readers: their file arguments are read ---------------------------------------------------------

_READERS: dict[str, Options] = {
    "cat": Options("AbeEnstTuv", "", frozenset({"show-all", "number-nonblank", "show-ends", "number", "squeeze-blank",
                                                "show-tabs", "show-nonprinting"})),
    "tac": Options("br", "s", frozenset({"before", "regex"}), frozenset({"separator"})),
    "head": Options("qvz", "nc", frozenset({"quiet", "silent", "verbose", "zero-terminated"}),
                    frozenset({"lines", "bytes"})),
    "tail": Options("fFqvz", "ncs", frozenset({"follow", "retry", "quiet", "silent", "verbose", "zero-terminated"}),
                    frozenset({"lines", "bytes", "sleep-interval", "pid", "max-unchanged-stats"}),
                    frozenset({"follow"})),
    "nl": Options("p", "bdfhilnsvw", frozenset({"no-renumber"}),
                  frozenset({"body-numbering", "section-delimiter", "footer-numbering", "header-numbering",
                             "line-increment", "join-blank-lines", "number-format", "number-separator",
                             "starting-line-number", "number-width"})),
    "wc": Options("clmwL", "", frozenset({"bytes", "chars", "lines", "words", "max-line-length"}),
                  frozenset(), frozenset({"files0-from", "total"})),
    "md5sum": Options("bctwz", "", frozenset({"binary", "check", "tag", "text", "zero", "ignore-missing", "quiet",
                                              "status", "strict", "warn"})),
    "sha256sum": Options("bctwz", "", frozenset({"binary", "check", "tag", "text", "zero", "ignore-missing",
                                                 "quiet", "status", "strict", "warn"})),
    "base64": Options("diw", "w", frozenset({"decode", "ignore-garbage"}), frozenset({"wrap"})),
    "strings": Options("afwd", "nteTsU", frozenset({"all", "print-file-name", "include-all-whitespace",
                                                    "data", "help", "version"}),
                       frozenset({"bytes", "radix", "encoding", "target", "output-separator", "unicode"})),
    "xxd": Options("abCEeiprsuv", "cglnoRsd", frozenset(), frozenset()),
    "od": Options("bcdfilosxv", "AjNStw", frozenset(), frozenset({"address-radix", "skip-bytes", "read-bytes",
                                                                   "strings", "format", "width"})),
    "stat": Options("LfQt", "c", frozenset({"dereference", "file-system", "terse", "cached"}),
                    frozenset({"format", "printf"}), frozenset({"cached"})),
    "file": Options("bcEhikLlNnprsSvz0", "emfFP", frozenset(), frozenset()),
    "sort": Options("bdfgiMhnRrVcCmsuz", "kotSTy", frozenset({"ignore-leading-blanks", "dictionary-order",
                                                              "ignore-case", "general-numeric-sort",
                                                              "ignore-nonprinting", "month-sort",
                                                              "human-numeric-sort", "numeric-sort", "random-sort",
                                                              "reverse", "version-sort", "merge", "stable",
                                                              "unique", "zero-terminated", "debug"}),
                      frozenset({"key", "output", "field-separator", "buffer-size", "temporary-directory",
                                 "parallel", "batch-size", "random-source", "files0-from"}),
                      frozenset({"check", "sort", "compress-program"})),
    "uniq": Options("cdDiuz", "fsw", frozenset({"count", "repeated", "ignore-case", "unique", "zero-terminated"}),
                    frozenset({"skip-fields", "skip-chars", "check-chars"}), frozenset({"all-repeated", "group"})),
    "cut": Options("nsz", "bcdf", frozenset({"complement", "only-delimited", "zero-terminated"}),
                   frozenset({"bytes", "characters", "delimiter", "fields", "output-delimiter"})),
    "diff": Options("abBcdeEHiNpqrsStTuwyZ", "CDFILSUWxX", frozenset(), frozenset()),
    "cmp": Options("blsv", "inI", frozenset(), frozenset()),
    "jq": Options("acCeEhjnrsSM0", "f", frozenset({"compact-output", "raw-output", "slurp", "sort-keys", "tab",
                                                   "null-input", "exit-status", "join-output", "ascii-output",
                                                   "raw-input", "seq", "stream", "color-output",
                                                   "monochrome-output"}),
                  frozenset({"arg", "argjson", "slurpfile", "rawfile", "indent", "from-file", "args", "jsonargs"})),
}  # fmt: skip


def _reader(values: Values, globs: list[bool]) -> Seen:
    name = posixpath.basename(values[0] or "")
    spec = _READERS.get(name, Options())
    scanned = scan(values, 1, spec)
    if scanned.unknown:
        return Seen(
            paths=[("read", i) for i in range(1, len(values)) if not (values[i] or "-").startswith("-")]
        )
    seen = Seen(paths=[("read", i) for i in scanned.positionals])
    if name == "sort":
        output = scanned.has("-o", "--output")
        if output is not None and output.value is not None:
            seen.value_paths.append(("write", output.value))
        if scanned.has("--compress-program"):
            seen.mark("sort --compress-program runs a program")
    if name == "jq" and seen.paths:
        seen.paths = seen.paths[1:]  # the filter
    return seen


for _name in _READERS:
    _HANDLERS.setdefault(_name, _reader)


@_handles("grep", "egrep", "fgrep", "rg", "zgrep")
def _grep(values: Values, globs: list[bool]) -> Seen:
    spec = Options(
        "abcEFGHhIiLlnoPqRrsTUuVvwxyZz",
        "ABCdDefm",
        frozenset({"extended-regexp", "fixed-strings", "basic-regexp", "perl-regexp", "ignore-case", "no-ignore-case",
                   "word-regexp", "line-regexp", "null-data", "no-messages", "invert-match", "version", "help",
                   "byte-offset", "line-number", "line-buffered", "with-filename", "no-filename", "only-matching",
                   "quiet", "silent", "text", "recursive", "dereference-recursive", "files-without-match",
                   "files-with-matches", "count", "initial-tab", "null", "binary", "count-matches", "hidden",
                   "no-ignore", "smart-case", "follow", "json", "vimgrep", "files"}),
        frozenset({"regexp", "file", "max-count", "label", "after-context", "before-context", "context",
                   "include", "exclude", "exclude-from", "exclude-dir", "binary-files", "devices", "directories",
                   "glob", "iglob", "type", "type-not", "max-depth", "threads", "pre", "pre-glob", "replace"}),
        frozenset({"color", "colour"}),
    )  # fmt: skip
    scanned = scan(values, 1, spec)
    if scanned.has("--pre"):
        return Seen().mark("rg --pre runs a command on each file")
    if scanned.unknown:
        return Seen(
            paths=[("read", i) for i in range(2, len(values)) if not (values[i] or "-").startswith("-")]
        )
    patterns_given = scanned.has("-e", "--regexp", "-f", "--file") is not None
    files = scanned.positionals if patterns_given else scanned.positionals[1:]
    return Seen(paths=[("read", i) for i in files])


# -- kubectl ------------------------------------------------------------------------------------------

# Flags that send the cluster's credentials to another server, switch to another identity or
# configuration, or turn off TLS checks. Shorthands: -s is --server.
_KUBECTL_DANGER = {
    "server", "kubeconfig", "token", "as", "as-group", "as-uid", "insecure-skip-tls-verify",
    "certificate-authority", "client-certificate", "client-key", "username", "password", "tls-server-name",
    "context", "cluster", "user", "cache-dir", "profile-output", "log-file",
}  # fmt: skip
# kubectl shorthands that take a value (from kubectl's own flag sets), and those that do not.
_KUBECTL_SHORT_VALUES = set("nolfcpLkvdeFrxRuSw") - set("wRr")  # -w (watch) -R (recursive) and -r take none
_KUBECTL_SHORT_FLAGS = set("AwRiqthbyPrCaEzTNH") - _KUBECTL_SHORT_VALUES


@_handles("kubectl", "oc", "k3s-kubectl", "microk8s.kubectl")
def _kubectl(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    verb_index = None
    for i, word in enumerate(values[1:], 1):
        if word is None:
            if verb_index is None:
                return seen.mark("kubectl's arguments are computed at run time")
            continue
        if word == "--":
            if verb_index is not None and values[verb_index] == "exec":
                if i + 1 < len(values):
                    seen.runs.append(Run((i + 1, len(values))))
                return seen
            break
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            if name in _KUBECTL_DANGER or any(
                d.startswith(name)
                for d in _KUBECTL_DANGER
                if len(name) >= 2 and name in ("se", "serv", "serve", "kube", "tok")
            ):
                return seen.mark(
                    f"kubectl --{name} sends the cluster's credentials elsewhere or switches identity"
                )
            continue
        if word.startswith("-") and len(word) > 1:
            for j, letter in enumerate(word[1:], 1):
                if letter == "s":
                    return seen.mark("kubectl -s (--server) sends the cluster's credentials elsewhere")
                if letter in _KUBECTL_SHORT_VALUES:
                    break  # the rest of the word is its value
                if letter not in _KUBECTL_SHORT_FLAGS:
                    return seen.mark(f"kubectl option -{letter} in {word!r} is not known to the policy")
                _ = j
            continue
        if verb_index is None:
            verb_index = i
    if verb_index is not None and values[verb_index] in ("exec", "attach", "debug", "run"):
        if values[verb_index] == "exec" and not any(v == "--" for v in values):
            # `kubectl exec POD CMD...` (deprecated form): the command follows the pod
            positional = [
                k
                for k in range(verb_index + 1, len(values))
                if values[k] and not (values[k] or "").startswith("-")
            ]
            if len(positional) >= 2:
                seen.runs.append(Run((positional[1], len(values))))
        if values[verb_index] in ("debug", "run", "attach"):
            seen.mark(f"kubectl {values[verb_index]} runs or attaches to a command in the cluster")
    if verb_index is not None and values[verb_index] == "cp":
        seen.unknown_writes = "kubectl cp copies files"
    return seen


# -- databases ----------------------------------------------------------------------------------------


@_handles("sqlite3")
def _sqlite3(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    positionals: list[int] = []
    i = 1
    takes = {"-cmd", "-init", "-lookaside", "-maxsize", "-mmap", "-newline", "-nonce", "-nullvalue", "-pagecache",
             "-separator", "-vfs", "-A"}  # fmt: skip
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("sqlite3's arguments are computed at run time")
        if word.startswith("-") and len(word) > 1 and not positionals[1:]:
            option = "-" + word.lstrip("-")
            if option in ("-cmd", "-init") or option.startswith("-A"):
                return seen.mark(f"sqlite3 {option} runs commands or archive operations")
            i += 2 if option in takes else 1
            continue
        positionals.append(i)
        i += 1
    if len(positionals) < 2:
        return seen.mark("sqlite3 without SQL reads commands from standard input")
    for index in positionals[1:]:
        if (values[index] or "").lstrip().startswith("."):
            return seen.mark("a sqlite3 dot-command can run programs and write files")
    return seen


@_handles("psql")
def _psql(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    command = False
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return seen.mark("psql's arguments are computed at run time")
        if word in ("-c", "--command") or word.startswith(("--command=", "-c")):
            value = (
                word.partition("=")[2]
                if word.startswith("--command=")
                else (
                    word[2:]
                    if word.startswith("-c") and len(word) > 2
                    else values[i + 1]
                    if i + 1 < len(values)
                    else None
                )
            )
            if value is None or "\\" in value:
                return seen.mark("a psql backslash command can run programs and write files")
            command = True
        if word in ("-f", "--file", "-o", "--output", "-L", "--log-file") or (
            word.startswith(("--file=", "--output=", "--log-file=", "-f", "-o", "-L"))
            and not word.startswith("--")
        ):
            return seen.mark(f"psql {word[:10]} runs a file or writes one")
        if word in ("-l", "--list", "-V", "--version", "--help", "-?"):
            command = True
    if not command:
        return seen.mark("psql without -c reads commands from standard input")
    return seen


@_handles("mysql", "mariadb")
def _mysql(values: Values, globs: list[bool]) -> Seen:
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return Seen().mark("mysql's arguments are computed at run time")
        value = None
        if word in ("-e", "--execute"):
            value = values[i + 1] if i + 1 < len(values) else None
        elif word.startswith("--execute="):
            value = word.partition("=")[2]
        elif word.startswith("-e") and len(word) > 2:
            value = word[2:]
        else:
            continue
        if value is None or re.search(
            r"\\!|\bsystem\b|\\\.|\bsource\b|\btee\b|\bpager\b|\\T|\\P|\\o", value, re.I
        ):
            return Seen().mark("a mysql client command can run programs and write files")
        return Seen()
    return Seen().mark("mysql without -e reads commands from standard input")


# -- network fetchers ---------------------------------------------------------------------------------


@_handles("curl")
def _curl(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    writes = {"-o", "--output", "-D", "--dump-header", "-c", "--cookie-jar", "--trace", "--trace-ascii",
              "--stderr", "--libcurl", "--etag-save", "--hsts", "--alt-svc"}  # fmt: skip
    reads = {"-T", "--upload-file", "--netrc-file", "-E", "--cert", "--key"}
    for i, word in enumerate(values[1:], 1):
        if word is None:
            continue
        name, eq, attached = word.partition("=")
        if name in ("-K", "--config") or (word.startswith("-K") and not word.startswith("--")):
            return seen.mark("curl -K reads options from a file")
        value = attached if eq and word.startswith("--") else (values[i + 1] if i + 1 < len(values) else None)
        if name in writes and value is not None:
            seen.value_paths.append(("write", value))
        elif name in reads and value is not None:
            seen.value_paths.append(("read", value))
        elif name in (
            "-O",
            "--remote-name",
            "--remote-name-all",
            "-J",
            "--remote-header-name",
            "--output-dir",
        ) or (
            word.startswith("-")
            and not word.startswith("--")
            and re.search(r"[OJ]", word[1:])
            and not re.search(r"[oDcT]", word[1:])
        ):
            seen.unknown_writes = "curl -O names the file it writes after the URL"
        if name in ("-d", "--data", "--data-binary", "--data-urlencode", "--json", "-F", "--form") and value:
            text = value.split("=", 1)[-1] if name in ("-F", "--form", "--data-urlencode") else value
            if text.startswith(("@", "<")) and text[1:] != "-":
                seen.value_paths.append(("read", text[1:]))
    return seen


@_handles("wget")
def _wget(values: Values, globs: list[bool]) -> Seen:
    seen = Seen()
    explicit = False
    for i, word in enumerate(values[1:], 1):
        if word is None:
            continue
        name, eq, attached = word.partition("=")
        if name in ("-e", "--execute", "--config", "--use-askpass") or (
            word.startswith("-e") and not word.startswith("--")
        ):
            return seen.mark(f"wget {name} runs commands or reads another configuration")
        value = attached if eq else (values[i + 1] if i + 1 < len(values) else None)
        if name in ("-O", "--output-document", "-o", "--output-file", "-a", "--append-output") and value:
            if value != "-":
                seen.value_paths.append(("write", value))
            explicit = explicit or name in ("-O", "--output-document")
        elif word.startswith("-O") and len(word) > 2 and not word.startswith("--"):
            seen.value_paths.append(("write", word[2:]))
            explicit = True
    if not explicit:
        seen.unknown_writes = "wget names the file it writes after the URL"
    return seen


@_handles("tcpdump")
def _tcpdump(values: Values, globs: list[bool]) -> Seen:
    for i, word in enumerate(values[1:], 1):
        if word is not None and word.startswith("-") and not word.startswith("--") and "z" in word[1:]:
            return Seen().mark("tcpdump -z runs a command on each file")
        if word is not None and word.startswith("--") and "compress" in word:
            return Seen().mark("tcpdump -z runs a command on each file")
        if word == "-w" and i + 1 < len(values):
            return Seen(paths=[("write", i + 1)])
    return Seen()


@_handles("make", "gmake")
def _make(values: Values, globs: list[bool]) -> Seen:
    for word in values[1:]:
        if word is None:
            return Seen().mark("make's arguments are computed at run time")
        if word.startswith("--eval") or re.match(r"[A-Za-z_][A-Za-z0-9_.]*\s*[:+?!]?=", word):
            return Seen().mark(
                "a make variable or --eval on the command line can change the commands it runs"
            )
    return Seen()


@_handles("systemctl")
def _systemctl(values: Values, globs: list[bool]) -> Seen:
    if "edit" in values[1:]:
        return Seen().mark("systemctl edit runs an editor")
    return Seen()


@_handles("journalctl")
def _journalctl(values: Values, globs: list[bool]) -> Seen:
    return Seen()

"""What the analyser knows about programs: which run other commands, which take code, which
options make an allowed program do something else, and which arguments are files.

An allowed program is only as safe as its options: ``tar --to-command``, ``git -c core.pager=``,
``find -exec``, ``awk 'BEGIN{system(...)}'`` all run commands. This module is the table of such
knowledge, built from GTFOBins and the programs' manuals. Given a simple command's words, it says:

* ``dynamic``: why the command's effect cannot be judged from its words (inline code, an option
  that runs a command or loads code, a definition that runs later, an option the analyser does
  not know on a wrapper);
* ``opaque``: it runs a program file the policy cannot read (``bash deploy.sh``): only an allow
  rule naming it lets it through;
* ``runs``: the commands it runs in turn, as a span of its own words (``sudo -u app CMD...``,
  ``xargs CMD``, ``find -exec CMD ;``) or as shell text to parse again (``sh -c TEXT``,
  ``ssh HOST CMD...``); the analyser judges those too;
* ``transparent``: a wrapper that changes nothing but timing or niceness (``timeout``, ``nice``):
  judged by what it runs, so an allow list needs no rule for the wrapper itself;
* its files: ``paths`` (a word it reads, writes or lists), ``trees`` (everything below a word:
  ``grep -r``, ``rm -r``), ``value_paths`` (``of=PATH``, ``--output=PATH``), ``unknown_writes``
  (files it names itself) and ``makes_links`` (``ln``: later paths may go through the link).
  ``paths_known`` says the table knows every file argument; for any other program every word
  counts as a possible file for deny and confirm path rules (``date -f secret``).

Words are values (``None`` where the shell computes them). Option parsing is GNU-style (bundled
short options, ``--name=value`` and unique prefixes of long names, ``--`` ends options).
Hand-written: no library knows these programs' option tables.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Values = Sequence[str | None]
PathOp = Literal["read", "write", "list"]


@dataclass
class Run:
    """A command a program runs: ``span`` of its own words, or shell ``script`` text."""

    span: tuple[int, int] = (0, 0)
    script: str | None = None
    open_tail: bool = False  # words are appended when it runs (xargs)
    placeholders: frozenset[str] = frozenset()  # words replaced when it runs (find's {})


@dataclass
class Seen:
    dynamic: str | None = None
    opaque: str | None = None
    transparent: bool = False
    runs: list[Run] = field(default_factory=list)
    paths: list[tuple[PathOp, int]] = field(default_factory=list)
    trees: list[tuple[PathOp, int]] = field(default_factory=list)
    value_paths: list[tuple[PathOp, str]] = field(default_factory=list)
    unknown_writes: str | None = None
    makes_links: bool = False
    paths_known: bool = False
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


def _o(
    flags: str = "", values: str = "", long_flags: str = "", long_values: str = "", optional: str = ""
) -> Options:
    """An option table from space-separated long names (compact tables below)."""
    return Options(
        flags,
        values,
        frozenset(long_flags.split()),
        frozenset(long_values.split()),
        frozenset(optional.split()),
    )


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

    def all(self, *names: str) -> list[Option]:
        return [o for o in self.options if o.name in names]


def scan(values: Values, start: int, spec: Options, *, permute: bool = True) -> Scan:
    """Read options from ``values[start:]``. With ``permute`` (GNU default), options may follow
    positionals; without, the first positional ends them (the command a wrapper runs)."""
    out = Scan()
    end = len(values)
    i = start
    while i < end:
        word = values[i]
        if word is None:
            out.dynamic = out.dynamic or permute or not out.positionals
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
            elif takes and not eq:
                out.options.append(Option("--" + full, values[i + 1] if i + 1 < end else None, i, i + 1))
                i += 1
            else:
                out.options.append(Option("--" + full, value if eq else None, i))
            i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            for j, letter in enumerate(word[1:], 1):
                if letter in spec.values:
                    rest = word[j + 1 :]
                    if rest:
                        out.options.append(Option("-" + letter, rest, i))
                    else:
                        value = values[i + 1] if i + 1 < end else None
                        out.options.append(Option("-" + letter, value, i, i + 1))
                        i += 1
                    break
                if letter not in spec.flags:
                    out.unknown = out.unknown or f"-{letter}"
                out.options.append(Option("-" + letter, None, i))
            i += 1
            continue
        out.positionals.append(i)
        i += 1
        if not permute:
            out.positionals.extend(range(i, end))
            break
    return out


# -- the table ----------------------------------------------------------------------------------------

Handler = Callable[[Values], Seen]
_HANDLERS: dict[str, Handler] = {}


def _handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = fn
        return fn

    return register


def inspect(values: Values) -> Seen:
    """What the table knows of the simple command ``values`` (see the module docstring)."""
    if not values or values[0] is None:
        return Seen()
    name = posixpath.basename(values[0])
    handler = _HANDLERS.get(name) or _HANDLERS.get(_family(name))
    if handler is None:
        return Seen()
    return handler(values)


def _family(name: str) -> str:
    """``python3.11`` -> ``python``, ``gawk`` -> ``awk``: the entry that knows it."""
    match = re.fullmatch(r"(python|pypy|perl|ruby|php|lua|node|tclsh|wish|pip)[\d.]*", name)
    if match:
        return match.group(1)
    return {"gawk": "awk", "mawk": "awk", "nawk": "awk", "gsed": "sed", "gtar": "tar"}.get(name, name)


def _name(values: Values) -> str:
    return posixpath.basename(values[0] or "")


def _wrapped(values: Values, scanned: Scan, *, transparent: bool, skip: int = 0) -> Seen:
    """A wrapper that runs the words after its options (and ``skip`` positionals of its own)."""
    program = _name(values)
    seen = Seen(transparent=transparent, paths_known=True)
    if scanned.unknown:
        seen.mark(f"{program} option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark(f"{program}'s options are computed at run time")
    if len(scanned.positionals) > skip:
        seen.runs.append(Run((scanned.positionals[skip], len(values))))
    return seen


# -- wrappers -----------------------------------------------------------------------------------------

# Wrappers that change nothing a rule cares about (timing, niceness, buffering, CPU affinity):
# judged by the command they run; their own positionals before it are counted (timeout's DURATION).
_TRANSPARENT: dict[str, tuple[Options, int]] = {
    "nohup": (_o(), 0),
    "setsid": (_o("cfw", "", "ctty fork wait"), 0),
    "nice": (_o("", "n", "", "adjustment"), 0),
    "ionice": (_o("t", "cnpPu", "ignore", "class classdata pid pgid uid"), 0),
    "stdbuf": (_o("", "ioe", "", "input output error"), 0),
    "timeout": (_o("v", "sk", "preserve-status foreground verbose", "signal kill-after"), 1),
    "taskset": (_o("ac", "", "all-tasks cpu-list"), 1),
    "chrt": (
        _o(
            "abdfiormRv",
            "TPD",
            "all-tasks batch deadline fifo idle other rr reset-on-fork max verbose",
            "sched-runtime sched-period sched-deadline",
        ),
        1,
    ),
    "numactl": (
        _o(
            "alsH",
            "CmNipP",
            "all localalloc show hardware",
            "physcpubind membind cpunodebind interleave preferred preferred-many balancing",
        ),
        0,
    ),
    "unbuffer": (_o("p"), 0),
}


@_handles(*_TRANSPARENT)
def _transparent(values: Values) -> Seen:
    name = _name(values)
    spec, skip = _TRANSPARENT[name]
    if name == "nice" and len(values) > 1 and values[1] and re.fullmatch(r"-\d+", values[1]):
        return _wrapped(values, Scan(positionals=list(range(2, len(values)))), transparent=True)
    if name in ("taskset", "chrt", "ionice") and any(
        v and v.startswith("-") and "p" in v for v in values[1:3]
    ):
        return Seen(paths_known=True)  # -p: acts on a running process, runs nothing
    return _wrapped(values, scan(values, 1, spec, permute=False), transparent=True, skip=skip)


@_handles("time")
def _time(values: Values) -> Seen:
    scanned = scan(
        values, 1, _o("apqv", "fo", "append portability quiet verbose", "format output"), permute=False
    )
    seen = _wrapped(values, scanned, transparent=True)
    output = scanned.has("-o", "--output")
    if output is not None and output.value is not None:
        seen.value_paths.append(("write", output.value))
    return seen


@_handles("command")
def _command(values: Values) -> Seen:
    scanned = scan(values, 1, _o("pvV"), permute=False)
    if scanned.has("-v", "-V"):
        return Seen(paths_known=True)  # describes a command, runs nothing
    return _wrapped(values, scanned, transparent=True)


@_handles("builtin")
def _builtin(values: Values) -> Seen:
    return _wrapped(values, Scan(positionals=list(range(1, len(values)))), transparent=True)


@_handles("exec")
def _exec(values: Values) -> Seen:
    seen = _wrapped(values, scan(values, 1, _o("cl", "a"), permute=False), transparent=False)
    if seen.runs:
        seen.mark("exec replaces the shell with another program")
    return seen


_SUDO = _o(
    "AbBEHiKklnNPSsVv",
    "CDghpRrtTUu",
    "askpass background bell set-home login remove-timestamp reset-timestamp list non-interactive "
    "preserve-groups stdin shell version validate help",
    "close-from chdir group host prompt chroot role type command-timeout other-user user",
    "preserve-env",
)


@_handles("sudo", "sudoedit")
def _sudo(values: Values) -> Seen:
    scanned = scan(values, 1, _SUDO, permute=False)
    seen = _wrapped(values, scanned, transparent=False)
    if _name(values) == "sudoedit" or scanned.has("-e", "--edit"):
        seen.mark("sudo -e edits files with an editor")
    if scanned.has("-s", "--shell", "-i", "--login"):
        seen.mark("sudo -s/-i runs the command through a shell")
    if scanned.has("-D", "--chdir", "-R", "--chroot"):
        seen.changes_dir = True
    for option in scanned.all("--preserve-env"):
        if option.value:
            seen.assigns += option.value.split(",")
    if scanned.has("-E"):
        seen.assigns.append("*")  # keeps the caller's whole environment
    return seen


@_handles("doas")
def _doas(values: Values) -> Seen:
    scanned = scan(values, 1, _o("Lns", "Cu"), permute=False)
    seen = _wrapped(values, scanned, transparent=False)
    if scanned.has("-s") or not seen.runs:
        seen.mark("doas without a command runs a shell")
    return seen


_SU = _o(
    "flmpP",
    "cgGsw",
    "fast login preserve-environment pty",
    "command session-command group supp-group shell whitelist-environment",
)


@_handles("su")
def _su(values: Values) -> Seen:
    scanned = scan(values, 1, _SU)
    seen = Seen(paths_known=True).mark("su runs a shell")
    for command in scanned.all("-c", "--command", "--session-command"):
        if command.value is not None:
            seen.runs.append(Run(script=command.value))
    return seen


@_handles("runuser")
def _runuser(values: Values) -> Seen:
    spec = Options(_SU.flags, _SU.values + "u", _SU.long_flags, _SU.long_values | {"user"})
    scanned = scan(values, 1, spec, permute=False)
    if scanned.has("-u", "--user") and not scanned.has(
        "-c", "--command", "-l", "--login", "--session-command"
    ):
        return _wrapped(values, scanned, transparent=False)
    seen = Seen(paths_known=True).mark("runuser runs a shell")
    for command in scanned.all("-c", "--command", "--session-command"):
        if command.value is not None:
            seen.runs.append(Run(script=command.value))
    return seen


_ASSIGNMENT = re.compile(r"([^=]*)=")


@_handles("env")
def _env(values: Values) -> Seen:
    spec = _o(
        "0iv",
        "uCS",
        "null ignore-environment debug list-signal-handling",
        "unset chdir split-string",
        "block-signal default-signal ignore-signal",
    )
    scanned = scan(values, 1, spec, permute=False)
    seen = Seen(transparent=True, paths_known=True)
    if scanned.unknown:
        seen.mark(f"env option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark("env's options are computed at run time")
    if scanned.has("-C", "--chdir"):
        seen.changes_dir = True
    rest = scanned.positionals
    k = 0
    while k < len(rest) and (values[rest[k]] or "").find("=") > 0:
        name = _ASSIGNMENT.match(values[rest[k]] or "").group(1)  # type: ignore[union-attr]
        seen.assigns.append(name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"{name} (not a name)")
        k += 1
    split = scanned.has("-S", "--split-string")
    if split is not None:
        text = split.value
        if text is None or re.search(r"[$\\#]", text):
            return seen.mark("env -S with escapes or variables in its string")
        tail = " ".join(shlex.quote(values[i] or "") for i in rest[k:])
        seen.runs.append(Run(script=f"env -- {text} {tail}".strip()))
        return seen
    if k < len(rest):
        seen.runs.append(Run((rest[k], len(values))))
    return seen


@_handles("xargs")
def _xargs(values: Values) -> Seen:
    spec = _o(
        "0prtxo",
        "adEIiLlnPs",
        "null interactive no-run-if-empty verbose exit open-tty show-limits",
        "arg-file delimiter max-lines max-args max-procs max-chars process-slot-var",
        "eof replace",
    )
    scanned = scan(values, 1, spec, permute=False)
    seen = Seen(transparent=True, paths_known=True)
    if scanned.unknown:
        seen.mark(f"xargs option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark("xargs's options are computed at run time")
    for option in scanned.all("-a", "--arg-file"):
        if option.value is not None:
            seen.value_paths.append(("read", option.value))
    if not scanned.positionals:
        return seen  # runs echo
    seen.runs.append(Run((scanned.positionals[0], len(values)), open_tail=True))
    return seen


#: Programs xargs may hand words read at run time: no option of theirs runs a command, loads code
#: or writes a file, so whatever words come, they only read (the files they name are judged as
#: unknown paths where path rules exist). Anything else under xargs is dynamic.
XARGS_SAFE = frozenset(
    "echo ls wc cat head tail grep egrep fgrep zgrep stat du md5sum sha1sum sha256sum sha512sum b2sum "
    "cksum basename dirname readlink realpath nl tac strings".split()
)
NO_FILE_READS = frozenset("echo basename dirname".split())  # ...of which these read no file
LISTS_ONLY = frozenset("ls stat du readlink realpath".split())  # ...and these only list names


@_handles("flock")
def _flock(values: Values) -> Seen:
    spec = _o(
        "nosuxhVF",
        "wEc",
        "nonblock nb close shared unlock exclusive verbose no-fork help",
        "timeout wait conflict-exit-code command",
    )
    scanned = scan(values, 1, spec, permute=False)
    seen = Seen(transparent=True, paths_known=True)
    if not scanned.positionals:
        return seen
    lock = scanned.positionals[0]
    seen.paths.append(("write", lock))  # the lock file is created if missing
    # Options may follow the lock file: `flock FILE -c CMD`, `flock -n FILE CMD`.
    after = scan(values, lock + 1, spec, permute=False)
    for scanned_part in (scanned, after):
        if scanned_part.unknown:
            seen.mark(f"flock option {scanned_part.unknown} is not known to the policy")
    command = scanned.has("-c", "--command") or after.has("-c", "--command")
    if command is not None:
        seen.mark("flock -c runs a command line through a shell")
        if command.value is not None:
            seen.runs.append(Run(script=command.value))
    elif after.positionals:
        seen.runs.append(Run((after.positionals[0], len(values))))
    return seen


@_handles("chroot")
def _chroot(values: Values) -> Seen:
    scanned = scan(values, 1, _o("", "", "skip-chdir", "userspec groups"), permute=False)
    seen = Seen(paths_known=True).mark(
        "chroot runs a command under another root, where paths mean other files"
    )
    if len(scanned.positionals) > 1:
        seen.runs.append(Run((scanned.positionals[1], len(values))))
    return seen


@_handles("strace", "ltrace")
def _strace(values: Values) -> Seen:
    spec = _o(
        "cCdDfFhiqrtTvVwxXyYzZk",
        "abeEIoOpPSuUsA",
        "summary-only summary debug daemonize follow-forks output-separately instruction-pointer quiet "
        "relative-timestamps syscall-times no-abbrev version summary-wall-clock decode-fds decode-pids "
        "stack-trace help",
        "attach trace env output signal user string-limit columns trace-path status silence",
        "absolute-timestamps timestamps",
    )
    scanned = scan(values, 1, spec, permute=False)
    seen = _wrapped(values, scanned, transparent=False)
    if scanned.has("-E", "--env"):
        seen.mark(f"{_name(values)} -E sets the traced command's environment")
    for output in scanned.all("-o", "--output"):
        if output.value is not None and output.value.startswith(("|", "!")):
            seen.mark(f"{_name(values)} -o |CMD pipes its log into a command")
        elif output.value is not None:
            seen.value_paths.append(("write", output.value))
    return seen


@_handles("script")
def _script(values: Values) -> Seen:
    spec = _o(
        "aefqhV",
        "cEIOBTmt",
        "append return flush force quiet help version",
        "command echo log-in log-out log-io log-timing logging-format output-limit",
        "timing",
    )
    scanned = scan(values, 1, spec)
    seen = Seen(paths_known=True).mark("script runs a shell")
    for command in scanned.all("-c", "--command"):
        if command.value is not None:
            seen.runs.append(Run(script=command.value))
    seen.paths += [("write", i) for i in scanned.positionals[:1]]  # the typescript file
    return seen


@_handles("watch")
def _watch(values: Values) -> Seen:
    spec = _o(
        "bcdegtxpwhvr",
        "nq",
        "beep color no-color errexit chgexit no-title exec precise no-wrap help version no-linewrap no-rerun",
        "interval equexit",
        "differences",
    )
    scanned = scan(values, 1, spec, permute=False)
    if scanned.has("-x", "--exec"):
        return _wrapped(values, scanned, transparent=True)
    seen = Seen(paths_known=True).mark("watch runs its command line through sh -c")
    if scanned.unknown:
        seen.mark(f"watch option {scanned.unknown} is not known to the policy")
    words = [values[i] for i in scanned.positionals]
    if words and all(w is not None for w in words):
        seen.runs.append(Run(script=" ".join(w for w in words if w is not None)))
    return seen


# ssh -o options that only tune the connection; any other may run a command (ProxyCommand,
# LocalCommand, KnownHostsCommand, Match exec...) or read another configuration.
_SSH_SAFE_OPTIONS = set(
    "batchmode connecttimeout connectionattempts stricthostkeychecking port user serveraliveinterval "
    "serveralivecountmax loglevel compression identitiesonly passwordauthentication pubkeyauthentication "
    "userknownhostsfile hostkeyalgorithms addressfamily requesttty identityfile tcpkeepalive checkhostip "
    "numberofpasswordprompts preferredauthentications kbdinteractiveauthentication forwardagent "
    "forwardx11 visualhostkey hashknownhosts updatehostkeys ciphers macs kexalgorithms".split()
)
_SSH = Options("46AaCfGgKkMNnqsTtVvXxYy", "BbcDEeFIiJLlmOoPpQRSWw")


def _ssh_options(scanned: Scan, program: str, seen: Seen) -> None:
    if scanned.unknown:
        seen.mark(f"{program} option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark(f"{program}'s options are computed at run time")
    for option in scanned.options:
        if option.name == "-o":
            key = re.split(r"[=\s]", option.value or "", maxsplit=1)[0].lower()
            if key not in _SSH_SAFE_OPTIONS:
                seen.mark(f"{program} -o {key or '?'} may run a command or read another configuration")
        elif option.name in ("-F", "-E", "-S"):
            seen.mark(f"{program} {option.name} names a file that changes what it does")


@_handles("ssh")
def _ssh(values: Values) -> Seen:
    scanned = scan(values, 1, _SSH, permute=False)
    seen = Seen(paths_known=True)
    _ssh_options(scanned, "ssh", seen)
    if not scanned.positionals:
        return seen
    words = [values[i] for i in scanned.positionals[1:]]
    if words[:1] == ["--"]:
        words = words[1:]
    if not words:
        return seen.mark("ssh without a command runs a login shell on the host")
    if any(w is None for w in words):
        return seen.mark("the remote command is computed at run time")
    seen.runs.append(Run(script=" ".join(w for w in words if w is not None)))
    return seen


@_handles("busybox", "toybox")
def _busybox(values: Values) -> Seen:
    if len(values) < 2:
        return Seen(paths_known=True)
    return Seen(transparent=True, paths_known=True, runs=[Run((1, len(values)))])


@_handles(
    "nsenter",
    "unshare",
    "systemd-run",
    "setpriv",
    "sg",
    "newgrp",
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
    "nsjail",
    "dbus-launch",
    "xvfb-run",
    "run-parts",
    "start-stop-daemon",
    "daemonize",
    "expect",
)
def _other_runner(values: Values) -> Seen:
    return Seen().mark(f"{_name(values)} runs commands with options the policy does not read")


# -- shells and interpreters -------------------------------------------------------------------------

_POSIX_SHELLS = {
    "sh",
    "bash",
    "dash",
    "ksh",
    "mksh",
    "ash",
    "yash",
    "posh",
    "rbash",
    "ksh93",
    "pdksh",
    "oksh",
    "zsh",
}
_OTHER_SHELLS = {"fish", "csh", "tcsh", "elvish", "nu", "xonsh", "pwsh", "powershell"}


def _shell(values: Values) -> Seen:
    name = _name(values)
    i = 1
    command_mode = stdin = False
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
            command_mode |= word[0] == "-" and "c" in word[1:]
            stdin |= word[0] == "-" and ("s" in word[1:] or "i" in word[1:])
            i += 1 + (word[-1] in "oO" and len(word) == 2)
            continue
        break
    if command_mode:
        seen = Seen(paths_known=True).mark(f"{name} -c runs a command line given as text")
        if i < len(values) and values[i] is not None and name in _POSIX_SHELLS:
            seen.runs.append(Run(script=values[i]))
        return seen
    if stdin or i >= len(values):
        return Seen().mark(f"{name} reads its program from standard input")
    return Seen(paths_known=True, opaque=f"{name} runs the script {values[i]}, which the policy cannot read")


for _shell_name in _POSIX_SHELLS | _OTHER_SHELLS:
    _HANDLERS[_shell_name] = _shell


@dataclass(frozen=True)
class _Interpreter:
    inline: frozenset[str]  # options whose value (or the program on stdin they imply) is code
    values: frozenset[str] = frozenset()  # other options taking a value in the next word
    modules: frozenset[str] = frozenset()  # options naming code to load
    bundles: str = ""  # letters that mean inline code inside a bundle of short options (perl -ne)


def _i(inline: str, values: str = "", modules: str = "", bundles: str = "") -> _Interpreter:
    return _Interpreter(
        frozenset(inline.split()), frozenset(values.split()), frozenset(modules.split()), bundles
    )


_INTERPRETERS: dict[str, _Interpreter] = {
    "python": _i("-c -i", "-W -X --check-hash-based-pycs"),
    "pypy": _i("-c -i", "-W -X"),
    "perl": _i("-e -E -x", "-I", "-M -m -d", bundles="eEx"),
    "ruby": _i("-e", "-I -C -E -F", "-r", bundles="e"),
    "node": _i(
        "-e --eval -p --print -i --interactive",
        "--title --inspect-port",
        "-r --require --import --loader --experimental-loader",
    ),
    "nodejs": _i("-e --eval -p --print -i --interactive", "", "-r --require --import --loader"),
    "php": _i("-r -a -B -R -F -E -d", "-c -z"),
    "lua": _i("-e -i", "", "-l"),
    "luajit": _i("-e -i -b", "", "-l"),
    "tclsh": _i(""),
    "wish": _i(""),
    "jshell": _i(""),
    "irb": _i(""),
    "ocaml": _i(""),
    "Rscript": _i("-e"),
    "R": _i("-e --interactive"),
    "julia": _i("-e -E --eval --print -i", "", "-L --load"),
    "osascript": _i("-e"),
    "bun": _i("-e --eval -p --print"),
    "deno": _i("eval repl"),
    "gdb": _i(
        "-ex --ex -eval-command --eval-command -x --command -iex -ix --init-eval-command --init-command "
        "-batch --batch -p --pid"
    ),
    "lldb": _i("-o --one-line -s --source -O -S -k -K"),
    "dc": _i("-e --expression -f --file"),
    "groovy": _i("-e"),
    "scala": _i("-e"),
    "guile": _i("-c -e", "", "-l"),
    "sbcl": _i("--eval --load --script"),
    "ghci": _i("-e"),
}


def _interpreter(values: Values) -> Seen:
    name = _family(_name(values))
    spec = _INTERPRETERS.get(name) or _INTERPRETERS[_name(values)]
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return Seen().mark(f"{name}'s arguments are computed at run time")
        if word == "--":
            i += 1
            break
        if word == "-":
            return Seen().mark(f"{name} reads its program from standard input")
        if not word.startswith("-") or len(word) == 1:
            break
        option = word.split("=", 1)[0]
        short = word[:2] if not word.startswith("--") else option
        if option in spec.inline or short in spec.inline:
            return Seen().mark(f"{name} {word[:12]} runs code given as text")
        if (
            spec.bundles
            and not word.startswith("--")
            and any(c in spec.bundles for c in word[1:].split("=")[0])
        ):
            return Seen().mark(f"{name} {word[:12]} runs code given as text")
        if option in spec.modules or short in spec.modules:
            return Seen().mark(f"{name} {word[:12]} loads code by name")
        if name in ("python", "pypy") and short == "-m":
            return Seen(paths_known=True)  # runs an installed module by name: judged by the rules
        i += 2 if (option in spec.values and "=" not in word and len(word) == len(option)) else 1
    if i >= len(values):
        return Seen().mark(f"{name} without a script reads its program from standard input")
    return Seen(paths_known=True, opaque=f"{name} runs {values[i]}, a program the policy cannot read")


for _interp_name in _INTERPRETERS:
    _HANDLERS.setdefault(_interp_name, _interpreter)


_EDITORS = (
    "vi",
    "vim",
    "nvim",
    "view",
    "vimdiff",
    "rvim",
    "gvim",
    "ex",
    "emacs",
    "emacsclient",
    "ed",
    "red",
    "nano",
    "pico",
    "joe",
    "mcedit",
    "ne",
    "micro",
    "kak",
    "hx",
    "sensible-editor",
    "editor",
    "visudo",
)


@_handles(*_EDITORS)
def _editor(values: Values) -> Seen:
    return Seen().mark(f"{_name(values)} is an editor, which runs commands")


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
    "unset": "unset evaluates array subscripts",
    "getopts": "getopts assigns variables",
    "shopt": "shopt changes how later commands are read",
    "set": "set changes how later commands run",
    "enable": "enable loads or changes builtins",
    "hash": "hash changes where later commands are found",
    "fc": "fc runs commands from the history",
    "bind": "bind defines key bindings that run commands",
    "complete": "complete defines commands that run later",
    "compgen": "compgen can run functions and commands",
    "at": "at schedules commands to run later",
    "batch": "batch schedules commands to run later",
    "crontab": "crontab installs commands that run later",
    "select": "select runs commands on input",
}


@_handles(*_DEFINES)
def _defines(values: Values) -> Seen:
    name = _name(values)
    if name == "crontab" and len(values) == 2 and values[1] in ("-l", "-r"):
        return Seen(paths_known=True)
    if name == "set" and all(
        v is not None and re.fullmatch(r"[-+][euxvo]+|pipefail|errexit|nounset", v) for v in values[1:]
    ):
        return Seen(paths_known=True)  # set -e, set -o pipefail: error handling only
    seen = Seen(paths_known=True).mark(_DEFINES[name])
    if name == "eval" and len(values) > 1 and all(v is not None for v in values[1:]):
        seen.runs.append(Run(script=" ".join(v for v in values[1:] if v is not None)))
    elif name == "trap" and len(values) > 2 and values[1] is not None and not values[1].startswith("-"):
        seen.runs.append(Run(script=values[1]))
    elif name == "coproc" and len(values) > 1:
        seen.runs.append(Run((1, len(values))))
    return seen


@_handles("printf")
def _printf(values: Values) -> Seen:
    if any(v is not None and v.startswith("-v") for v in values[1:2]):
        return Seen().mark("printf -v assigns a variable (and evaluates its subscript)")
    return Seen(paths_known=True)


@_handles("test", "[")
def _test(values: Values) -> Seen:
    if "-v" in values[1:]:
        return Seen().mark("test -v evaluates array subscripts")
    return Seen(paths_known=True)


@_handles("cd", "pushd", "popd")
def _cd(values: Values) -> Seen:
    return Seen(changes_dir=True, paths_known=True)


# Programs that take no file arguments: their words are never judged as paths.
_NO_FILES = (
    "echo",
    "true",
    "false",
    ":",
    "sleep",
    "seq",
    "uptime",
    "whoami",
    "id",
    "uname",
    "nproc",
    "arch",
    "yes",
    "pwd",
    "groups",
    "tty",
    "users",
    "logname",
    "hostid",
    "printenv",
    "kill",
    "pgrep",
    "pkill",
    "pidof",
    "free",
    "vmstat",
    "mpstat",
    "iostat",
    "nslookup",
    "dig",
    "host",
    "ping",
    "getent",
    "wait",
    "jobs",
    "type",
    "which",
    "whereis",
    "expr",
    "basename",
    "dirname",
    "numfmt",
    "factor",
    "date",
    "hostname",
    "ps",
    "top",
    "w",
    "who",
    "last",
    "lastlog",
    "ss",
    "netstat",
    "ip",
    "exit",
    "return",
    "break",
    "continue",
    "shift",
    "umask",
    "ulimit",
    "times",
)


@_handles(*_NO_FILES)
def _no_files(values: Values) -> Seen:
    name = _name(values)
    if name == "date" and any(
        v is not None
        and (v.startswith(("-f", "--file", "-r", "--reference")) or v.startswith("--set") or v == "-s")
        for v in values[1:]
    ):
        return Seen()  # reads a file, or sets the clock: every word counts
    if name in ("ps", "top") and any(v is not None and v.startswith(("-p", "--pid")) for v in values[1:]):
        return Seen(paths_known=True)
    return Seen(paths_known=True)


# -- programs whose options run commands, load code, or read and write other files -----------------

_TAR_VALUES = "bCfFgHIKLNTVX"  # GNU tar's short options that take a value
_TAR_DANGER = (
    "to-command",
    "checkpoint-action",
    "use-compress-program",
    "info-script",
    "new-volume-script",
    "rsh-command",
    "rmt-command",
)
_TAR_LONG_VALUES = {
    "file": "f",
    "directory": "C",
    "files-from": "T",
    "exclude-from": "X",
    "listed-incremental": "g",
    "index-file": "index",
}


@_handles("tar", "bsdtar")
def _tar(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    options: list[tuple[str, str | None, int | None]] = []  # (letter or long name, value, its word index)
    positionals: list[int] = []
    i = 1
    if len(values) > 1 and values[1] and not values[1].startswith("-"):  # old style: `tar czf ARCHIVE ...`
        i = 2
        for letter in values[1]:
            if letter in _TAR_VALUES:
                options.append((letter, values[i] if i < len(values) else None, i))
                i += 1
            else:
                options.append((letter, None, None))
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("tar's arguments are computed at run time")
        if word == "--":
            positionals += range(i + 1, len(values))
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            for danger in _TAR_DANGER:
                if len(name) >= 3 and danger.startswith(name):
                    return seen.mark(f"tar --{danger} runs a command")
            full = next((n for n in _TAR_LONG_VALUES if len(name) >= 3 and n.startswith(name)), None)
            if full and not eq:
                options.append(
                    (_TAR_LONG_VALUES[full], values[i + 1] if i + 1 < len(values) else None, i + 1)
                )
                i += 2
                continue
            options.append((_TAR_LONG_VALUES.get(full or "", name), value if eq else None, None))
            if not eq and full is None and name not in _TAR_FLAGS:
                seen.paths_known = False  # an option we do not know may take the next word
        elif word.startswith("-") and len(word) > 1:
            for j, letter in enumerate(word[1:], 1):
                if letter in _TAR_VALUES:
                    rest = word[j + 1 :]
                    if rest:
                        options.append((letter, rest, None))
                    else:
                        options.append((letter, values[i + 1] if i + 1 < len(values) else None, i + 1))
                        i += 1
                    break
                options.append((letter, None, None))
        else:
            positionals.append(i)
        i += 1
    letters = {name for name, _, _ in options}
    for letter in ("I", "F"):
        if letter in letters:
            return seen.mark(f"tar -{letter} runs a command")
    mode = (
        "x"
        if letters & {"x", "extract", "get"}
        else "c"
        if letters & {"c", "create", "r", "append", "u", "update", "A", "catenate"}
        else "t"
    )
    for name, value, index in options:
        if value is None or value == "-":
            continue
        if name == "f":
            if ":" in value and "force-local" not in letters:
                return seen.mark("tar -f HOST:FILE runs a remote shell command")
            operation: PathOp = "write" if mode == "c" else "read"
            if index is not None:
                seen.paths.append((operation, index))
            else:
                seen.value_paths.append((operation, value))
        elif name in ("T", "X"):
            seen.value_paths.append(("read", value))
        elif name == "C":
            seen.changes_dir = True
            if mode == "x":
                seen.value_paths.append(("write", value.rstrip("/") + "/**"))
        elif name in ("g", "index"):
            seen.value_paths.append(("write", value))
    if mode == "c":
        seen.trees += [("read", i) for i in positionals]
    elif mode == "x":
        seen.unknown_writes = "tar extracts the files its archive holds"
    return seen


_TAR_FLAGS = set(
    "create extract get list append update catenate concatenate diff compare delete gzip gunzip ungzip "
    "bzip2 xz lzma lzip lzop zstd compress uncompress auto-compress verbose verify keep-old-files "
    "skip-old-files overwrite overwrite-dir recursive-unlink remove-files absolute-names numeric-owner "
    "no-same-owner same-owner preserve-permissions same-permissions no-same-permissions preserve-order "
    "same-order sparse totals touch ignore-zeros ignore-failed-read dereference hard-dereference "
    "one-file-system no-recursion recursion force-local wildcards no-wildcards anchored no-anchored null "
    "no-null show-transformed-names show-stored-names utc full-time interactive confirmation check-links "
    "exclude-vcs exclude-backups exclude-caches warning".split()
)


@_handles("zip")
def _zip(values: Values) -> Seen:
    for word in values[1:]:
        if word is not None and (
            word.startswith("--unzip-command")
            or word.startswith("-TT")
            or (word.startswith("-") and not word.startswith("--") and "TT" in word)
        ):
            return Seen().mark("zip -TT runs a command")
    return Seen()


@_handles("unzip", "7z", "7za", "unrar", "cpio", "ar")
def _extract(values: Values) -> Seen:
    return Seen(unknown_writes="it extracts the files its archive holds")


def _copier(values: Values, program: str, danger: tuple[str, ...], letters: str) -> Seen:
    """rsync and scp: options that run a program; sources read, the local destination written."""
    seen = Seen(paths_known=True)
    positionals = []
    after = False
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return seen.mark(f"{program}'s arguments are computed at run time")
        if after or not word.startswith("-") or word == "-":
            positionals.append(i)
        elif word == "--":
            after = True
        elif word.startswith("--"):
            if word.split("=", 1)[0] in danger:
                return seen.mark(
                    f"{program} {word.split('=')[0]} runs a program or reads another configuration"
                )
        elif any(c in word[1:] for c in letters):
            return seen.mark(f"{program} {word[:8]} runs a program or reads another configuration")
        elif word.startswith("-o") and program == "scp":
            text = word[2:] or (values[i + 1] or "")
            if re.split(r"[=\s]", text, maxsplit=1)[0].lower() not in _SSH_SAFE_OPTIONS:
                return seen.mark(f"scp {word[:20]} may run a command")
    local = [i for i in positionals if ":" not in (values[i] or "")]
    if positionals and positionals[-1] in local:
        seen.trees.append(("write", positionals[-1]))
    seen.trees += [("read", i) for i in local if i != positionals[-1]]
    return seen


@_handles("rsync")
def _rsync(values: Values) -> Seen:
    danger = (
        "--rsh",
        "--rsync-path",
        "--config",
        "--daemon",
        "--write-batch",
        "--only-write-batch",
        "--read-batch",
        "--log-file",
        "--files-from",
        "--include-from",
        "--exclude-from",
    )
    return _copier(values, "rsync", danger, "e")


@_handles("scp", "sftp")
def _scp(values: Values) -> Seen:
    return _copier(values, _name(values), (), "SF")


_GIT_GLOBAL = _o(
    "hvpPC",
    "cC",
    "version help paginate no-pager bare no-replace-objects literal-pathspecs glob-pathspecs "
    "noglob-pathspecs "
    "icase-pathspecs no-optional-locks html-path man-path info-path no-lazy-fetch no-advice",
    "git-dir work-tree namespace config-env super-prefix list-cmds attr-source",
    "exec-path",
)
_GIT_RUNNERS = {
    "difftool": "git difftool runs a diff tool",
    "mergetool": "git mergetool runs a merge tool",
    "filter-branch": "git filter-branch runs filters",
    "instaweb": "git instaweb runs a web server",
    "daemon": "git daemon serves repositories",
    "web--browse": "git web--browse runs a browser",
    "credential": "git credential runs helpers",
    "filter-repo": "git filter-repo runs callbacks",
    "send-email": "git send-email runs a mailer",
    "archimport": "git archimport runs tla",
    "cvsimport": "git cvsimport runs cvs",
    "svn": "git svn runs svn",
    "p4": "git p4 runs p4",
}
_GIT_DANGER = (
    "--upload-pack",
    "--receive-pack",
    "--exec",
    "--template",
    "--open-files-in-pager",
    "--extcmd",
    "--tool",
    "--ext-diff",
    "--textconv",
    "--config",
    "--output",
    "--run",
    "--exec-path",
)


@_handles("git")
def _git(values: Values) -> Seen:
    scanned = scan(values, 1, _GIT_GLOBAL, permute=False)
    seen = Seen()  # git's arguments are paths, revisions and patterns: every word counts as a file
    for option in scanned.options:
        if option.name in ("-c", "--config-env", "--exec-path", "--git-dir", "--work-tree"):
            return seen.mark(f"git {option.name} can make git run another program")
        if option.name == "-C":
            seen.changes_dir = True
    if scanned.unknown:
        return seen.mark(f"git option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        return seen.mark("git's subcommand is computed at run time")
    if not scanned.positionals:
        return seen
    sub_index = scanned.positionals[0]
    sub = values[sub_index] or ""
    rest = list(values[sub_index + 1 :])
    if sub in _GIT_RUNNERS:
        return seen.mark(_GIT_RUNNERS[sub])
    for word in rest:
        if word is None:
            continue
        name = word.split("=", 1)[0]
        if any(len(name) > 3 and danger.startswith(name) for danger in _GIT_DANGER):
            return seen.mark(f"git {sub} {name} can run another program or write elsewhere")
        if sub in ("clone", "fetch", "pull", "ls-remote", "archive", "push", "submodule") and name in (
            "-u",
            "-c",
        ):
            return seen.mark(f"git {sub} {name} can run another program")
        if sub == "grep" and re.fullmatch(r"-[a-zA-Z]*O.*", word):
            return seen.mark("git grep -O runs a pager command")
        if sub == "rebase" and (name == "-x" or re.fullmatch(r"-[a-zA-Z]*x.*", word)):
            return seen.mark("git rebase --exec runs commands")
        if name in ("--no-index",) and sub == "diff":
            seen.paths += [
                ("read", i) for i, v in enumerate(values) if i > sub_index and v and not v.startswith("-")
            ]
    if sub == "bisect" and "run" in rest:
        return seen.mark("git bisect run runs a command")
    if sub == "submodule" and "foreach" in rest:
        return seen.mark("git submodule foreach runs a command")
    if sub == "config" and _git_config_writes(rest):
        return seen.mark("git config changes settings, which can make git run commands later")
    if sub in (
        "commit",
        "merge",
        "am",
        "rebase",
        "checkout",
        "switch",
        "pull",
        "push",
        "cherry-pick",
        "revert",
    ):
        seen.opaque = f"git {sub} runs the repository's hooks, which the policy cannot read"
    return seen


def _git_config_writes(rest: list[str | None]) -> bool:
    reading = {
        "--get",
        "--get-all",
        "--get-regexp",
        "-l",
        "--list",
        "--get-urlmatch",
        "--show-origin",
        "--show-scope",
        "--name-only",
        "--null",
        "-z",
        "--get-color",
        "--get-colorbool",
        "--global",
        "--system",
        "--local",
        "--worktree",
        "--type",
        "--bool",
        "--int",
        "--path",
        "--default",
    }
    if any(w is None for w in rest):
        return True
    plain = [w for w in rest if w is not None and not w.startswith("-")]
    flags = [w for w in rest if w is not None and w.startswith("-")]
    if any(f.split("=")[0] not in reading for f in flags):
        return True
    if plain[:1] in (["get"], ["list"]):
        return len(plain) > 2
    return len(plain) > 1


@_handles("less", "more", "most", "pg")
def _less(values: Values) -> Seen:
    for word in values[1:]:
        if word is not None and (
            word.startswith("+")
            or word.startswith(("-o", "-O", "-k", "--log-file", "--LOG-FILE", "--lesskey"))
        ):
            return Seen().mark(f"{_name(values)} {word[:12]} runs pager commands or writes a file")
    return _reader(values)


@_handles("man")
def _man(values: Values) -> Seen:
    for word in values[1:]:
        if word is not None and re.match(
            r"-[a-zA-Z]*[PHCl]|--(pager|html|config-file|browser|preprocessor|local)", word
        ):
            return Seen().mark(f"man {word[:12]} runs another program, reads a file or another configuration")
    return Seen(paths_known=True)


_FIND_ACTIONS = ("-exec", "-execdir", "-ok", "-okdir")


@_handles("find")
def _find(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    i = 1
    while (i < len(values) and values[i] in ("-H", "-L", "-P")) or (
        i < len(values) and (values[i] or "").startswith(("-D", "-O"))
    ):
        i += 1
    starts = []
    while (
        i < len(values) and values[i] is not None and not (values[i] or "").startswith(("-", "(", "!", ","))
    ):
        starts.append(i)
        i += 1
    while i < len(values):
        word = values[i]
        if word in _FIND_ACTIONS:
            end = next((j for j in range(i + 1, len(values)) if values[j] in (";", "+")), len(values))
            if end > i + 1:
                seen.runs.append(Run((i + 1, end), placeholders=frozenset({"{}"})))
            i = end + 1
            continue
        if word == "-delete":
            seen.trees += [("write", s) for s in starts] or [("write", -1)]
        elif word in ("-fprint", "-fprint0", "-fprintf", "-fls") and i + 1 < len(values):
            seen.paths.append(("write", i + 1))
        elif word in ("-newer", "-anewer", "-cnewer", "-samefile") and i + 1 < len(values):
            seen.paths.append(("read", i + 1))
        i += 1
    if any(index == -1 for _, index in seen.trees):
        seen.trees = [op for op in seen.trees if op[1] != -1]
        seen.value_paths.append(("write", "./**"))
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


_SED = _o(
    "nrEsuzbi",
    "efl",
    "quiet silent regexp-extended separate unbuffered null-data posix sandbox debug "
    "follow-symlinks binary help version",
    "expression file line-length",
    "in-place",
)


@_handles("sed")
def _sed(values: Values) -> Seen:
    scanned = scan(values, 1, _SED)
    seen = Seen(paths_known=True)
    if scanned.dynamic:
        return seen.mark("sed's arguments are computed at run time")
    in_place = any(o.name in ("-i", "--in-place") for o in scanned.options)
    if scanned.unknown and not in_place:
        return seen.mark(f"sed option {scanned.unknown} is not known to the policy")
    if scanned.has("-f", "--file"):
        return seen.mark("sed -f runs a script from a file")
    scripts = [o.value for o in scanned.all("-e", "--expression")]
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
        if problem and not (sandbox and re.search(r"writes|reads|runs", problem)):
            return seen.mark(problem)
    seen.paths += [("write" if in_place else "read", i) for i in files]
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
def _awk(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    i = 1
    program = None
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("awk's arguments are computed at run time")
        if word == "--":
            i += 1
            break
        if re.match(r"-(f|E|i|l)|--(file|exec|include|load)\b", word):
            return seen.mark(f"awk {word[:10]} runs or loads a program from a file")
        if word in ("-F", "-v", "--field-separator", "--assign"):
            i += 2
            continue
        if word in ("-e", "--source") or word.startswith("--source="):
            program = values[i + 1] if "=" not in word and i + 1 < len(values) else word.partition("=")[2]
            if program is None:
                return seen.mark("an awk program computed at run time")
            if problem := awk_program_problem(program):
                return seen.mark(problem)
            i += 1 if "=" in word else 2
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
        if problem := awk_program_problem(program):
            return seen.mark(problem)
        i += 1
    for j in range(i, len(values)):
        if re.match(r"[A-Za-z_][A-Za-z0-9_]*=", values[j] or ""):
            return seen.mark("an awk variable assignment among its files (its value may hold escapes)")
    seen.paths += [("read", j) for j in range(i, len(values))]
    return seen


# -- kubectl ------------------------------------------------------------------------------------------

# Flags that send the cluster's credentials to another server, switch to another identity or
# configuration, or turn off TLS checks (kubectl's global flags). Shorthand: -s is --server.
_KUBECTL_DANGER = set(
    "server kubeconfig token as as-group as-uid insecure-skip-tls-verify certificate-authority "
    "client-certificate client-key username password tls-server-name context cluster user cache-dir "
    "profile-output log-file log-dir alsologtostderr".split()
)
# kubectl's shorthands that take a value (its own flag sets) and those that take none.
_KUBECTL_SHORT_VALUES = set("nolfcpLkvdeFxSu")
_KUBECTL_SHORT_FLAGS = set("AwRiqthbyPrCaEzTNHW")
_KUBECTL_READ_VERBS = {
    "get",
    "describe",
    "logs",
    "top",
    "explain",
    "api-resources",
    "api-versions",
    "version",
    "cluster-info",
    "events",
    "auth",
    "diff",
    "wait",
    "config",
    "completion",
    "plugin",
}


@_handles("kubectl", "oc", "microk8s.kubectl", "k3s-kubectl")
def _kubectl(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    verb_index = None
    double_dash = None
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("kubectl's arguments are computed at run time")
        if word == "--":
            double_dash = i
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if name in _KUBECTL_DANGER:  # pflag takes whole names only (no prefixes, unlike getopt)
                return seen.mark(
                    f"kubectl --{name} sends the cluster's credentials elsewhere or switches identity"
                )
            if name in ("filename", "kustomize") and not eq and i + 1 < len(values):
                value = values[i + 1] or ""
                i += 1
            if name in ("filename", "kustomize") and value not in ("-", "") and "://" not in value:
                seen.value_paths.append(("read", value))
            i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            for j, letter in enumerate(word[1:], 1):
                if letter == "s":
                    return seen.mark("kubectl -s (--server) sends the cluster's credentials elsewhere")
                if letter in _KUBECTL_SHORT_VALUES:
                    value = word[j + 1 :].lstrip("=")
                    if not value and i + 1 < len(values):
                        i += 1
                        value = values[i] or ""
                    if letter in "fk" and value not in ("-", "") and "://" not in value:
                        seen.value_paths.append(("read", value))
                    break
                if letter not in _KUBECTL_SHORT_FLAGS:
                    return seen.mark(f"kubectl option -{letter} in {word!r} is not known to the policy")
            i += 1
            continue
        if verb_index is None:
            verb_index = i
        i += 1
    verb = values[verb_index] if verb_index is not None else None
    if verb == "exec":
        if double_dash is not None:
            if double_dash + 1 < len(values):
                seen.runs.append(Run((double_dash + 1, len(values))))
        else:  # `kubectl exec POD CMD...` (the old form): the command follows the pod
            rest = [k for k in range(verb_index + 1, len(values)) if not (values[k] or "-").startswith("-")]  # type: ignore[operator]
            if len(rest) >= 2:
                seen.runs.append(Run((rest[1], len(values))))
    elif verb in ("debug", "run", "attach", "proxy"):
        seen.mark(f"kubectl {verb} runs or attaches to a command or opens the cluster's API")
    elif verb == "cp":
        seen.unknown_writes = "kubectl cp copies files"
    elif verb is not None and verb not in _KUBECTL_READ_VERBS and double_dash is not None:
        seen.mark(f"kubectl {verb} with '--': the words after it are not judged")
    return seen


# -- databases ----------------------------------------------------------------------------------------

_SQLITE_SAFE_DOTS = set(
    "tables schema indexes indices databases headers mode width show help dbinfo fullschema stats timer "
    "nullvalue separator print echo bail changes eqp".split()
)
_SQLITE_VALUES = {
    "-cmd",
    "-init",
    "-lookaside",
    "-maxsize",
    "-mmap",
    "-newline",
    "-nonce",
    "-nullvalue",
    "-pagecache",
    "-separator",
    "-vfs",
    "-A",
}


@_handles("sqlite3")
def _sqlite3(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    positionals: list[int] = []
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("sqlite3's arguments are computed at run time")
        if word.startswith("-") and len(word) > 1:  # sqlite3 reads options anywhere, even after the SQL
            option = "-" + word.lstrip("-")
            if option in ("-cmd", "-init") or option.startswith("-A"):
                return seen.mark(f"sqlite3 {option} runs commands or archive operations")
            i += 2 if option in _SQLITE_VALUES else 1
            continue
        positionals.append(i)
        i += 1
    if len(positionals) < 2:
        return seen.mark("sqlite3 without SQL reads commands from standard input")
    for index in positionals[1:]:
        text = (values[index] or "").strip()
        if text.startswith("."):
            command = re.match(r"\.(\w+)", text)
            if command is None or command.group(1) not in _SQLITE_SAFE_DOTS or "\n" in text or ";" in text:
                return seen.mark("a sqlite3 dot-command can run programs and write files")
    seen.paths.append(("read", positionals[0]))
    return seen


# psql meta-commands that only describe: \d and its family, \l, \conninfo, \x, \timing, \encoding.
_PSQL_SAFE = re.compile(r"\\(d[a-zA-Z]*\+?|l\+?|conninfo|x|timing|encoding)([ \t]+[\w.*\"$-]+)*[ \t]*")


@_handles("psql")
def _psql(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    command = False
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return seen.mark("psql's arguments are computed at run time")
        value = None
        if word in ("-c", "--command"):
            value = values[i + 1] if i + 1 < len(values) else None
        elif word.startswith("--command="):
            value = word.partition("=")[2]
        elif word.startswith("-c") and len(word) > 2:
            value = word[2:]
        else:
            if re.match(r"-[a-zA-Z]*[foL]|--(file|output|log-file)\b", word):
                return seen.mark(f"psql {word[:10]} runs a file or writes one")
            if word in ("-l", "--list", "-V", "--version", "--help", "-?"):
                command = True
            continue
        if value is None or ("\\" in value and not _PSQL_SAFE.fullmatch(value.strip())):
            return seen.mark("a psql backslash command can run programs and write files")
        command = True
    if not command:
        return seen.mark("psql without -c reads commands from standard input")
    return seen


@_handles("mysql", "mariadb")
def _mysql(values: Values) -> Seen:
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return Seen().mark("mysql's arguments are computed at run time")
        if word in ("-e", "--execute"):
            value = values[i + 1] if i + 1 < len(values) else None
        elif word.startswith("--execute="):
            value = word.partition("=")[2]
        elif word.startswith("-e") and len(word) > 2:
            value = word[2:]
        else:
            continue
        if value is None or re.search(r"\\|\b(system|source|tee|pager|prompt)\b", value, re.I):
            return Seen().mark("a mysql client command can run programs and write files")
        return Seen(paths_known=True)
    return Seen().mark("mysql without -e reads commands from standard input")


# -- network fetchers ---------------------------------------------------------------------------------

_CURL_WRITES = {
    "-o",
    "--output",
    "-D",
    "--dump-header",
    "-c",
    "--cookie-jar",
    "--trace",
    "--trace-ascii",
    "--stderr",
    "--libcurl",
    "--etag-save",
    "--hsts",
    "--alt-svc",
}
_CURL_READS = {"-T", "--upload-file", "--netrc-file", "-E", "--cert", "--key", "-b", "--cookie", "--cacert"}
_CURL_DATA = {"-d", "--data", "--data-binary", "--data-urlencode", "--data-raw", "--json", "-F", "--form"}


@_handles("curl")
def _curl(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    for i, word in enumerate(values[1:], 1):
        if word is None:
            continue
        name, eq, attached = word.partition("=")
        if not word.startswith("-"):
            if word.lower().startswith(("file:", "dict:", "gopher:")):
                seen.value_paths.append(("read", word.split(":", 1)[1].lstrip("/").join(("/", ""))))
                seen.mark(f"curl {word.split(':')[0]}: URLs read local files or speak raw protocols")
            continue
        if name in ("-K", "--config") or (word.startswith("-K") and not word.startswith("--")):
            return seen.mark("curl -K reads options from a file")
        value = attached if eq and word.startswith("--") else (values[i + 1] if i + 1 < len(values) else None)
        if name in _CURL_WRITES and value is not None and value != "-":
            seen.value_paths.append(("write", value))
        elif name in _CURL_READS and value is not None:
            seen.value_paths.append(("read", value))
        elif name in (
            "-O",
            "--remote-name",
            "--remote-name-all",
            "-J",
            "--remote-header-name",
            "--output-dir",
        ) or (word.startswith("-") and not word.startswith("--") and re.search(r"[OJ]", word[1:])):
            seen.unknown_writes = "curl -O names the file it writes after the URL"
        if name in _CURL_DATA and value:
            text = value.split("=", 1)[-1] if name in ("-F", "--form", "--data-urlencode") else value
            if text.startswith(("@", "<")) and text[1:] != "-":
                seen.value_paths.append(("read", text[1:]))
    return seen


@_handles("wget")
def _wget(values: Values) -> Seen:
    seen = Seen(paths_known=True)
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
        elif word.startswith(("-O", "-o", "-a")) and len(word) > 2 and not word.startswith("--"):
            seen.value_paths.append(("write", word[2:]))
            explicit = explicit or word.startswith("-O")
        elif name in ("-i", "--input-file", "--load-cookies", "--certificate", "--private-key") and value:
            seen.value_paths.append(("read", value))
    if not explicit:
        seen.unknown_writes = "wget names the file it writes after the URL"
    return seen


@_handles("tcpdump")
def _tcpdump(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    for i, word in enumerate(values[1:], 1):
        if word is None:
            continue
        if (word.startswith("-") and not word.startswith("--") and "z" in word[1:]) or word.startswith(
            "--compress"
        ):
            return seen.mark("tcpdump -z runs a command on each file")
        if word in ("-w", "-r", "-F", "-V") and i + 1 < len(values):
            seen.paths.append(("write" if word == "-w" else "read", i + 1))
    return seen


@_handles("make", "gmake")
def _make(values: Values) -> Seen:
    for word in values[1:]:
        if word is None:
            return Seen().mark("make's arguments are computed at run time")
        if word.startswith("--eval") or re.match(r"[A-Za-z_][A-Za-z0-9_.]*\s*[:+?!]?=", word):
            return Seen().mark(
                "a make variable or --eval on the command line can change the commands it runs"
            )
    return Seen(opaque="make runs the Makefile's commands, which the policy cannot read")


@_handles("systemctl")
def _systemctl(values: Values) -> Seen:
    if "edit" in values[1:]:
        return Seen().mark("systemctl edit runs an editor")
    return Seen(paths_known=True)


@_handles(
    "journalctl",
    "dmesg",
    "df",
    "lsblk",
    "lscpu",
    "lsof",
    "mount",
    "findmnt",
    "docker",
    "helm",
    "podman",
    "crictl",
    "ctr",
    "nerdctl",
    "apt",
    "apt-get",
    "dpkg",
    "rpm",
    "yum",
    "dnf",
    "pip",
    "npm",
    "service",
    "pg_isready",
    "redis-cli",
    "nc",
    "ncat",
    "socat",
    "telnet",
    "openssl",
)
def _no_local_files(values: Values) -> Seen:
    """Programs whose arguments are names of units, packages, images or hosts, not files here;
    what they may do is the rules' to decide."""
    return Seen(paths_known=True)


# -- files: commands that change, read or list the files their arguments name -----------------------

_CP = _o(
    "abdfHiLlnPpRrsTuvxZ",
    "StB",
    "archive attributes-only copy-contents dereference force interactive link no-clobber no-dereference "
    "parents recursive remove-destination strip-trailing-slashes symbolic-link no-target-directory update "
    "verbose one-file-system debug help version keep-directory-symlink",
    "suffix target-directory",
    "backup preserve no-preserve reflink sparse update context",
)
_INSTALL = _o(
    "bcCdDpsTvZ",
    "gmoStB",
    "compare directory preserve-timestamps strip no-target-directory verbose debug preserve-context help "
    "version",
    "group mode owner strip-program suffix target-directory",
    "backup context",
)
_MV = _o(
    "bfinTuvZ",
    "St",
    "backup force interactive no-clobber strip-trailing-slashes no-target-directory update "
    "verbose context exchange no-copy debug",
    "suffix target-directory",
    "backup update",
)
_RM = _o(
    "dfiIrRv",
    "",
    "force interactive recursive dir verbose one-file-system no-preserve-root preserve-root",
    "",
    "interactive",
)
_CHMOD = _o(
    "cfvRhHLP",
    "",
    "changes silent quiet verbose recursive no-dereference dereference preserve-root no-preserve-root",
    "",
    "reference from",
)
_WRITERS: dict[str, Options] = {
    "rmdir": _o("pv", "", "parents verbose ignore-fail-on-non-empty"),
    "unlink": _o(),
    "shred": _o("fuvxz", "ns", "force remove verbose exact zero", "iterations size random-source"),
    "truncate": _o("co", "sr", "no-create io-blocks", "size reference"),
    "touch": _o("acfhm", "drt", "no-create no-dereference", "date reference time"),
    "mkdir": _o("pvZ", "m", "parents verbose", "mode", "context"),
    "mkfifo": _o("Z", "m", "", "mode", "context"),
    "mknod": _o("Z", "m", "", "mode", "context"),
    "tee": _o("aip", "", "append ignore-interrupts", "", "output-error"),
    "fallocate": _o(
        "cdinpvxz",
        "ol",
        "collapse-range dig-holes insert-range keep-size punch-hole verbose posix zero-range",
        "offset length",
    ),
    "chattr": _o("RVf", "vp"),
    "setfacl": _o("bkndRLPtv", "mMxX", "", "", ""),
}


@_handles("cp", "install", "ln", "link")
def _cp(values: Values) -> Seen:
    name = _name(values)
    spec = _INSTALL if name == "install" else _CP
    scanned = scan(values, 1, spec)
    if scanned.unknown:
        return _all_words(values)
    seen = Seen(paths_known=True)
    if scanned.has("--strip-program"):
        return seen.mark("install --strip-program runs a program")
    recursive = bool(scanned.has("-r", "-R", "--recursive", "-a", "--archive"))
    seen.makes_links = name in ("ln", "link") or bool(scanned.has("-s", "--symbolic-link", "-l", "--link"))
    target = scanned.has("-t", "--target-directory")
    positions = scanned.positionals
    sources, dest = (positions, None) if target else (positions[:-1], positions[-1] if positions else None)
    if target is not None:
        if target.value_index is not None:
            seen.trees.append(("write", target.value_index))
        elif target.value is not None:
            seen.value_paths.append(("write", target.value.rstrip("/") + "/**"))
    elif dest is not None:
        (seen.trees if recursive else seen.paths).append(("write", dest))
    if name not in ("ln", "link"):  # a link's target is not opened; what it reaches is judged later
        (seen.trees if recursive else seen.paths).extend(("read", i) for i in sources)
    return seen


@_handles("mv", "rm", "chmod", "chown", "chgrp", *_WRITERS)
def _writes(values: Values) -> Seen:
    name = _name(values)
    spec = {"mv": _MV, "rm": _RM, "chmod": _CHMOD, "chown": _CHMOD, "chgrp": _CHMOD}.get(name) or _WRITERS[
        name
    ]
    scanned = scan(values, 1, spec)
    if name == "chmod":  # `chmod -w f`: a mode that looks like an option
        modes = [o for o in scanned.options if re.fullmatch(r"-[rwxXstugoa]+", values[o.index] or "")]
        if modes:
            scanned.unknown = None
            scanned.positionals = sorted({*scanned.positionals, modes[0].index})
    if scanned.unknown:
        return _all_words(values)
    positions = scanned.positionals
    if name in ("chmod", "chown", "chgrp", "chattr", "setfacl") and not scanned.has("--reference"):
        positions = positions[1:]  # the mode, the owner
    recursive = name == "mv" or bool(scanned.has("-r", "-R", "--recursive"))
    seen = Seen(paths_known=True)
    (seen.trees if recursive else seen.paths).extend(("write", i) for i in positions)
    target = scanned.has("-t", "--target-directory")
    if target is not None and target.value_index is not None:
        seen.trees.append(("write", target.value_index))
    for option in scanned.all("-r", "--reference") if name in ("truncate", "touch") else ():
        if option.value_index is not None:
            seen.paths.append(("read", option.value_index))
    return seen


def _all_words(values: Values) -> Seen:
    """An option we do not know may take a value: every word that is not an option is a path it writes."""
    return Seen(
        paths_known=True,
        paths=[("write", i) for i in range(1, len(values)) if not (values[i] or "-").startswith("-")],
    )


@_handles("dd")
def _dd(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    for word in values[1:]:
        if word is None:
            return seen.mark("dd's arguments are computed at run time")
        key, eq, value = word.partition("=")
        if eq and key == "of":
            seen.value_paths.append(("write", value))
        elif eq and key == "if":
            seen.value_paths.append(("read", value))
    return seen


# Programs that read the files their arguments name: their options that take a value, and which
# positional (if any) is an output file they write. Everything else that is not an option is read.
_READERS: dict[str, tuple[Options, int | None]] = {
    "cat": (
        _o(
            "AbeEnstTuv",
            "",
            "show-all number-nonblank show-ends number squeeze-blank show-tabs show-nonprinting",
        ),
        None,
    ),
    "tac": (_o("br", "s", "before regex", "separator"), None),
    "head": (_o("qvz", "nc", "quiet silent verbose zero-terminated", "lines bytes"), None),
    "tail": (
        _o(
            "fFqvz",
            "ncs",
            "retry quiet silent verbose zero-terminated",
            "lines bytes sleep-interval pid max-unchanged-stats",
            "follow",
        ),
        None,
    ),
    "nl": (
        _o(
            "p",
            "bdfhilnsvw",
            "no-renumber",
            "body-numbering section-delimiter footer-numbering "
            "header-numbering line-increment join-blank-lines number-format number-separator "
            "starting-line-number number-width",
        ),
        None,
    ),
    "wc": (_o("clmwL", "", "bytes chars lines words max-line-length", "", "files0-from total"), None),
    "md5sum": (_o("bctwz", "", "binary check tag text zero ignore-missing quiet status strict warn"), None),
    "sha1sum": (_o("bctwz", "", "binary check tag text zero ignore-missing quiet status strict warn"), None),
    "sha256sum": (
        _o("bctwz", "", "binary check tag text zero ignore-missing quiet status strict warn"),
        None,
    ),
    "sha512sum": (
        _o("bctwz", "", "binary check tag text zero ignore-missing quiet status strict warn"),
        None,
    ),
    "b2sum": (
        _o("bctwz", "l", "binary check tag text zero ignore-missing quiet status strict warn", "length"),
        None,
    ),
    "cksum": (_o("", "a", "", "algorithm"), None),
    "sum": (_o("rs"), None),
    "base64": (_o("diw", "w", "decode ignore-garbage", "wrap"), None),
    "base32": (_o("diw", "w", "decode ignore-garbage", "wrap"), None),
    "strings": (
        _o(
            "afwd",
            "nteTsU",
            "all print-file-name include-all-whitespace data",
            "bytes radix encoding target output-separator unicode",
        ),
        None,
    ),
    "xxd": (_o("abCEeiprsuv", "cglnoRsd"), 1),
    "od": (_o("bcdfilosxv", "AjNStw", "", "address-radix skip-bytes read-bytes strings format width"), None),
    "hexdump": (_o("bcCdovx", "enfs"), None),
    "stat": (_o("LfQt", "c", "dereference file-system terse", "format printf", "cached"), None),
    "file": (_o("bcEhikLlNnprsSvz0", "emFP", "", "", ""), None),
    "readlink": (_o("efmnqsvz", ""), None),
    "realpath": (_o("eLmPqsz", "", "", "relative-to relative-base"), None),
    "sort": (
        _o(
            "bdfgiMhnRrVcCmsuz",
            "kotSTy",
            "ignore-leading-blanks dictionary-order ignore-case "
            "general-numeric-sort ignore-nonprinting month-sort human-numeric-sort numeric-sort random-sort "
            "reverse version-sort merge stable unique zero-terminated debug",
            "key output field-separator buffer-size temporary-directory parallel batch-size random-source "
            "files0-from",
            "check sort compress-program",
        ),
        None,
    ),
    "uniq": (
        _o(
            "cdDiuz",
            "fsw",
            "count repeated ignore-case unique zero-terminated",
            "skip-fields skip-chars check-chars",
            "all-repeated group",
        ),
        1,
    ),
    "cut": (
        _o(
            "nsz",
            "bcdf",
            "complement only-delimited zero-terminated",
            "bytes characters delimiter fields output-delimiter",
        ),
        None,
    ),
    "paste": (_o("sz", "d", "serial zero-terminated", "delimiters"), None),
    "join": (_o("ivz", "aeotj12", "ignore-case check-order nocheck-order header zero-terminated"), None),
    "comm": (_o("123iz", "", "check-order nocheck-order total zero-terminated", "output-delimiter"), None),
    "diff": (
        _o(
            "abBcdeEHiNpqrsStTuwyZ",
            "CDFILSUWxX",
            "brief recursive new-file unidirectional-new-file text "
            "ignore-case ignore-all-space ignore-space-change ignore-blank-lines strip-trailing-cr "
            "report-identical-files side-by-side suppress-common-lines expand-tabs initial-tab minimal",
            "label show-function-line ignore-matching-lines exclude exclude-from starting-file "
            "unchanged-line-format old-line-format new-line-format line-format width horizon-lines "
            "from-file to-file",
            "unified context color normal",
        ),
        None,
    ),
    "cmp": (_o("blsv", "inI", "print-bytes verbose quiet silent", "ignore-initial bytes"), None),
    "fold": (_o("bs", "w", "bytes spaces", "width"), None),
    "fmt": (_o("cstu", "pgw"), None),
    "column": (_o("ejnrtxJ", "cdsoNERHOWlLp"), None),
    "rev": (_o(), None),
    "expand": (_o("i", "t"), None),
    "jq": (
        _o(
            "acCeEhjnrsSM0",
            "f",
            "compact-output raw-output slurp sort-keys tab null-input exit-status "
            "join-output ascii-output raw-input seq stream color-output monochrome-output",
            "arg argjson slurpfile rawfile indent from-file args jsonargs",
        ),
        None,
    ),
    "zcat": (_o("fqv"), None),
    "bzcat": (_o("qv"), None),
    "xzcat": (_o("qv"), None),
    "zless": (_o(), None),
    "shuf": (
        _o("erz", "inor", "echo repeat zero-terminated", "input-range head-count output random-source"),
        None,
    ),
}


def _reader(values: Values) -> Seen:
    name = _name(values)
    spec, output = _READERS.get(name, (_o(), None))
    scanned = scan(values, 1, spec)
    if scanned.unknown:  # an unknown option may take a value: every word may be a file (mentions)
        return Seen()
    positions = list(scanned.positionals)
    if name == "jq" and positions and not scanned.has("-f", "--from-file"):
        positions = positions[1:]  # the filter
    seen = Seen(paths_known=True)
    for k, index in enumerate(positions):
        seen.paths.append(("write" if output is not None and k == output else "read", index))
    for option in scanned.options:
        if option.value is None:
            continue
        if option.name in ("-o", "--output") and name in ("sort", "shuf"):
            seen.value_paths.append(("write", option.value))
        elif option.name in (
            "--files0-from",
            "--from-file",
            "--to-file",
            "--reference",
            "-f",
            "--exclude-from",
            "-X",
            "--random-source",
            "--slurpfile",
            "--rawfile",
            "-F",
        ) and name not in ("cut",):
            if option.value != "-":
                seen.value_paths.append(("read", option.value))
        elif option.name == "--compress-program":
            seen.mark(f"{name} --compress-program runs a program")
    return seen


for _reader_name in _READERS:
    _HANDLERS.setdefault(_reader_name, _reader)


_GREP = _o(
    "abcEFGHhIiLlnoPqRrsTUuVvwxyZz",
    "ABCdDefmg",
    "extended-regexp fixed-strings basic-regexp perl-regexp ignore-case no-ignore-case word-regexp "
    "line-regexp "
    "null-data no-messages invert-match version help byte-offset line-number line-buffered with-filename "
    "no-filename only-matching quiet silent text recursive dereference-recursive files-without-match "
    "files-with-matches count initial-tab null binary count-matches hidden no-ignore smart-case follow json "
    "vimgrep files no-heading heading",
    "regexp file max-count label after-context before-context context include exclude exclude-from "
    "exclude-dir "
    "binary-files devices directories glob iglob type type-not max-depth threads replace",
    "color colour pre pre-glob",
)


@_handles("grep", "egrep", "fgrep", "rg", "zgrep", "ag", "ack")
def _grep(values: Values) -> Seen:
    name = _name(values)
    scanned = scan(values, 1, _GREP)
    if scanned.has("--pre", "--pre-glob"):
        return Seen().mark(f"{name} --pre runs a command on each file")
    if scanned.unknown:
        return Seen()  # every word may be a file
    seen = Seen(paths_known=True)
    patterns_given = scanned.has("-e", "--regexp", "-f", "--file") is not None
    files = scanned.positionals if patterns_given else scanned.positionals[1:]
    recursive = name in ("rg", "ag", "ack") or bool(
        scanned.has("-r", "-R", "--recursive", "--dereference-recursive")
    )
    if recursive and not files:
        seen.value_paths.append(("read", "./**"))
    (seen.trees if recursive else seen.paths).extend(("read", i) for i in files)
    for option in scanned.all("-f", "--file", "--exclude-from"):
        if option.value and option.value != "-":
            seen.value_paths.append(("read", option.value))
    return seen


@_handles("ls", "dir", "vdir", "du", "tree", "exa", "eza")
def _ls(values: Values) -> Seen:
    name = _name(values)
    seen = Seen(paths_known=True)
    recursive = name in ("du", "tree")
    for i, word in enumerate(values[1:], 1):
        if word is None:
            continue
        if word.startswith("--files0-from="):
            seen.value_paths.append(("read", word.partition("=")[2]))
        elif word.startswith("-"):
            recursive = recursive or word in ("--recursive",) or (not word.startswith("--") and "R" in word)
        else:
            seen.paths.append(("list", i))
    if recursive:
        seen.trees, seen.paths = [("list", i) for _, i in seen.paths], []
    return seen


@_handles(
    "gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "zstd", "unzstd", "lz4", "compress", "uncompress"
)
def _compressor(values: Values) -> Seen:
    """In place unless -c (to stdout), -t (test) or -l (list): the files are replaced."""
    to_stdout = any(
        v is not None
        and (
            v in ("--stdout", "--to-stdout", "--test", "--list")
            or (v.startswith("-") and not v.startswith("--") and re.search(r"[ctl]", v))
        )
        for v in values[1:]
    )
    operation: PathOp = "read" if to_stdout else "write"
    return Seen(
        paths_known=True,
        paths=[(operation, i) for i in range(1, len(values)) if not (values[i] or "-").startswith("-")],
    )

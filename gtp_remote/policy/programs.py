"""What the analyser knows about programs: which run other commands, which take code, which
options make an allowed program do something else, and which arguments are files.

An allowed program is only as safe as its options: ``tar --to-command``, ``git -c core.pager=``,
``find -exec``, ``awk 'BEGIN{system(...)}'`` all run commands. This module is the table of such
knowledge, built from GTFOBins and the programs' manuals. Given a simple command's words, it says:

* ``dynamic``: why the command's effect cannot be judged from its words (inline code, an option
  that runs a command or loads code, a definition that runs later, an option the analyser does
  not know on a wrapper);
* ``opaque``: it runs a program file the policy cannot read (``bash deploy.sh``, a compiler, a build
  tool running the project's scripts): only an allow rule naming it lets it through;
* ``runs``: the commands it runs in turn, as a span of its own words (``sudo -u app CMD...``,
  ``xargs CMD``, ``find -exec CMD ;``) or as shell text to parse again (``sh -c TEXT``,
  ``ssh HOST CMD...``); the analyser judges those too;
* ``transparent``: a wrapper that changes nothing but timing or niceness (``timeout``, ``nice``):
  judged by what it runs, so an allow list needs no rule for the wrapper itself;
* its files: ``paths`` (a word it reads, writes or lists), ``trees`` (everything below a word:
  ``grep -r``, ``rm -r``), ``value_paths`` (``of=PATH``, ``--output=PATH``), ``unknown_writes``
  (files it names itself) and ``makes_links`` (``ln``, ``cp -P``/``-r``, ``mv``: later paths may go
  through the link). ``paths_known`` says the table knows every file argument; for any other
  program every word counts as a possible file for deny and confirm path rules (``date -f secret``);
* ``changes_dir``/``chdir``: it works in another folder (``git -C DIR``), named when known;
* programs whose default operand is the working folder (``ls``, ``du``, ``find``, ``grep -r``)
  name it (``.``), so a working folder inside a protected one is judged.

Words are values (``None`` where the shell computes them). Option parsing is GNU-style (bundled
short options, ``--name=value`` and unique prefixes of long names, ``--`` ends options).
Hand-written: no library knows these programs' option tables.
"""

from __future__ import annotations

import functools
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
    #: The folder it moves to when its words say (``git -C DIR``, ``env -C DIR``): a relative path
    #: may be relative to it (None: not known, or a plain ``cd``, which the shell reads itself).
    chdir: str | None = None

    def mark(self, why: str) -> Seen:
        self.dynamic = self.dynamic or why
        return self


# -- option scanning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """A program's options: short ones without and with a value, long ones likewise.

    Getting an option's arity wrong is a hole either way: a flag taken for an option with a value
    swallows the next word (``column -d secret.txt`` would judge no file), an option with a value
    taken for a flag makes its value look like a file or, on a wrapper, like the command it runs.
    Hence ``optional_short`` (``xargs -i[R]``, ``sed -i[SUFFIX]``: a value only when attached) and
    ``pairs`` (``jq --rawfile NAME FILE``: two words)."""

    flags: str = ""
    values: str = ""
    long_flags: frozenset[str] = frozenset()
    long_values: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()  # long options whose value is optional (=VALUE only)
    optional_short: str = ""  # short options whose value is optional (attached only: -iR)
    pairs: frozenset[str] = frozenset()  # long options taking two words (the second is the value)

    def long(self, name: str) -> tuple[str | None, bool]:
        """The long option ``name`` stands for (GNU getopt accepts unique prefixes), and
        whether it takes a value. (None, False) when unknown or ambiguous."""
        every = self.long_flags | self.long_values | self.optional | self.pairs
        if name in every:
            return name, name in self.long_values or name in self.pairs
        matches = [n for n in every if n.startswith(name)]
        if len(matches) == 1:
            return matches[0], matches[0] in self.long_values or matches[0] in self.pairs
        return None, False


def _o(
    flags: str = "",
    values: str = "",
    long_flags: str = "",
    long_values: str = "",
    optional: str = "",
    *,
    optional_short: str = "",
    pairs: str = "",
) -> Options:
    """An option table from space-separated long names (compact tables below)."""
    return Options(
        flags,
        values,
        frozenset(long_flags.split()),
        frozenset(long_values.split()),
        frozenset(optional.split()),
        optional_short,
        frozenset(pairs.split()),
    )


def long_option(word: str | None, *names: str, least: int = 3) -> str | None:
    """Which of ``names`` the word ``--NAME[=VALUE]`` stands for, abbreviations included (GNU
    getopt_long, argp, git's and most other option parsers accept a unique prefix of a long
    option): for checks on raw words outside an option table. Over-approximate on purpose: a
    prefix of several of ``names`` counts as the first (the program may refuse it as ambiguous, or
    not know the others), but it must be at least ``least`` letters long."""
    if word is None or not word.startswith("--") or len(word) <= 2:
        return None
    given = word[2:].partition("=")[0]
    if given in names:
        return given
    if len(given) < least:
        return None
    return next((n for n in names if n.startswith(given)), None)


_DIGITS = "0123456789"  # head -5, fmt -72, grep -3: an old form of a count, taken as flags
_HOME_PREFIX = "\x00"  # how a word the shell expanded from ~ or $HOME begins (shell.HOME)


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
            elif full in spec.pairs:  # --rawfile NAME FILE: the value is the second word
                first = 1 if eq else 2
                at = i + first if i + first < end else None
                out.options.append(Option("--" + full, values[at] if at is not None else None, i, at))
                i += first
            elif takes and not eq:
                out.options.append(Option("--" + full, values[i + 1] if i + 1 < end else None, i, i + 1))
                i += 1
            else:
                out.options.append(Option("--" + full, value if eq else None, i))
            i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            for j, letter in enumerate(word[1:], 1):
                if letter in spec.optional_short:
                    out.options.append(Option("-" + letter, word[j + 1 :] or None, i))
                    break
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
    if (name in _JDK_TOOLS or canonical(name) in _JDK_TOOLS) and any(
        v is None or v.startswith("-J") for v in values[1:]
    ):
        return Seen().mark(f"{name} passes -J options to the JVM (-J-agentpath, -J-XX:OnError run code)")
    handler = _HANDLERS.get(name) or _HANDLERS.get(family(name))
    if handler is None:
        return _code_runner(values) or _inspect_renamed(values, name) or Seen()
    return handler(values)


#: The JDK's launchers: each passes a ``-J<option>`` word to the JVM it starts.
_JDK_TOOLS = frozenset(
    (
        "jar jarsigner java javac javadoc javap javaw jcmd jconsole jdb jdeprscan jdeps jfr jhsdb jimage "
        "jinfo jlink jmap jmod jnativescan jpackage jps jrunscript jshell jstack jstat jstatd jwebserver "
        "keytool rmiregistry serialver appletviewer extcheck idlj javah jjs orbd pack200 unpack200 rmic rmid "
        "schemagen servertool tnameserv wsgen wsimport xjc native2ascii jaotc jsadebugd jvisualvm kinit "
        "klist ktab policytool"
    ).split()
)


def family(name: str) -> str:
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


# Wrappers that change nothing a rule cares about (timing, niceness, buffering, CPU affinity,
# resource limits, the personality the kernel reports): judged by the command they run. ``skip``
# counts their own positionals before it (timeout's DURATION); ``process`` names the options that
# make them act on a running process instead (``taskset -p``, ``choom -p``): then they run nothing.
# Option tables from each program's --help (util-linux, coreutils, moreutils, systemd): a wrong
# arity here swallows the command (a flag read as taking a value) or makes a value look like it.
@dataclass(frozen=True)
class _Wrapper:
    spec: Options
    skip: int = 0
    process: frozenset[str] = frozenset()


def _w(spec: Options, skip: int = 0, process: str = "") -> _Wrapper:
    return _Wrapper(spec, skip, frozenset(process.split()))


_SETARCH = _o(
    "BFILRSTXZ3v",
    "",
    "32bit fdpic-funcptrs short-inode addr-compat-layout addr-no-randomize whole-seconds "
    "sticky-timeouts read-implies-exec mmap-page-zero 3gb 4gb uname-2.6 verbose",
)
#: The personality names setarch is also installed as (``linux64 CMD``, ``i386 CMD``).
_SETARCH_ALIASES = (
    "linux32 linux64 i386 i486 i586 i686 x86_64 uname26 arm armh armv7l armv8l aarch64 arm64 ppc ppc32 "
    "ppc64 ppcle ppc64le s390 s390x sparc sparc32 sparc32bash sparc64 ia64 parisc parisc32 parisc64 "
    "mips mips32 mips64 alpha loongarch loongarch64"
).split()
_PRLIMIT_RESOURCES = "cdefilmnqrstuvxy"
_TRANSPARENT: dict[str, _Wrapper] = {
    "nohup": _w(_o()),
    "setsid": _w(_o("cfw", "", "ctty fork wait")),
    "nice": _w(_o("", "n", "", "adjustment")),
    "ionice": _w(
        _o("t", "cnpPu", "ignore", "class classdata pid pgid uid"), 0, "-p --pid -P --pgid -u --uid"
    ),
    "stdbuf": _w(_o("", "ioe", "", "input output error")),
    "timeout": _w(_o("v", "sk", "preserve-status foreground verbose", "signal kill-after"), 1),
    "taskset": _w(_o("acp", "", "all-tasks cpu-list pid"), 1, "-p --pid"),
    "chrt": _w(
        _o(
            "abdfiormRvp",
            "TPD",
            "all-tasks batch deadline fifo idle other rr reset-on-fork max verbose pid",
            "sched-runtime sched-period sched-deadline",
        ),
        1,
        "-p --pid",
    ),
    "numactl": _w(
        _o(
            "alsHb",
            "CmNipPw",
            "all localalloc show hardware balancing",
            "physcpubind membind cpunodebind interleave preferred preferred-many weighted-interleave",
        )
    ),
    "unbuffer": _w(_o("p")),
    "setarch": _w(_SETARCH),
    "prlimit": _w(
        _o(
            "",
            "po",
            "noheadings raw verbose",
            "pid output",
            "core data nice fsize sigpending memlock rss nofile msgqueue rtprio stack cpu nproc as locks "
            "rttime",
            optional_short=_PRLIMIT_RESOURCES,
        ),
        0,
        "-p --pid",
    ),
    "choom": _w(_o("", "np", "", "adjust pid"), 0, "-p --pid"),
    "systemd-cat": _w(_o("", "tp", "", "identifier priority stderr-priority level-prefix namespace")),
    "systemd-inhibit": _w(_o("", "", "no-pager no-legend list", "what who why mode")),
    "chronic": _w(_o("ev")),
    "ifne": _w(_o("n")),
    "eatmydata": _w(_o()),
    "nocache": _w(_o("", "n")),
    "catchsegv": _w(_o()),
    **{alias: _w(_SETARCH) for alias in _SETARCH_ALIASES},
}


@_handles(*_TRANSPARENT)
def _transparent(values: Values) -> Seen:
    name = _name(values)
    wrapper = _TRANSPARENT[name]
    if name == "nice" and len(values) > 1 and values[1] and re.fullmatch(r"-\d+", values[1]):
        return _wrapped(values, Scan(positionals=list(range(2, len(values)))), transparent=True)
    start = 1
    if name == "setarch" and len(values) > 1 and values[1] is not None and not values[1].startswith("-"):
        start = 2  # setarch ARCH [options] [program...]
    scanned = scan(values, start, wrapper.spec, permute=False)
    if wrapper.process and scanned.has(*wrapper.process) and not scanned.unknown and not scanned.dynamic:
        return Seen(paths_known=True)  # -p: acts on a running process, runs nothing
    seen = _wrapped(values, scanned, transparent=True, skip=wrapper.skip)
    if not seen.runs and (name == "setarch" or name in _SETARCH_ALIASES):
        seen.mark(f"{name} without a command runs a shell")
    return seen


@_handles("logsave")
def _logsave(values: Values) -> Seen:
    """``logsave [-asv] LOGFILE COMMAND...``: runs the command and writes (or appends) its output
    to LOGFILE too; ``-`` for the command copies standard input instead."""
    scanned = scan(values, 1, _o("asv"), permute=False)
    seen = _wrapped(values, scanned, transparent=True, skip=1)
    if scanned.positionals:
        seen.paths.append(("write", scanned.positionals[0]))
    if seen.runs and values[seen.runs[0].span[0]] == "-":
        seen.runs = []
    return seen


@_handles("ssh-agent")
def _ssh_agent(values: Values) -> Seen:
    """``ssh-agent [options] [COMMAND...]`` runs the command with the agent's socket in its
    environment: the command is judged, and so is the agent (it needs a rule of its own)."""
    return _wrapped(values, scan(values, 1, _o("cDdks", "aEOPt"), permute=False), transparent=False)


@_handles("dbus-run-session")
def _dbus_run_session(values: Values) -> Seen:
    scanned = scan(values, 1, _o("", "", "help version", "config-file dbus-daemon"), permute=False)
    seen = _wrapped(values, scanned, transparent=False)
    if scanned.has("--dbus-daemon", "--config-file"):
        seen.mark("dbus-run-session --dbus-daemon/--config-file runs another program")
    if not seen.runs:
        seen.mark("dbus-run-session without a command runs a shell")
    return seen


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
    "AbBEHiKklnNPSsVve",
    "aCcDgpRrtTUu",
    "askpass background bell set-home login remove-timestamp reset-timestamp list non-interactive "
    "preserve-groups stdin shell version validate help edit",
    "auth-type close-from login-class chdir group host prompt chroot role type command-timeout other-user "
    "user",
    "preserve-env",
    optional_short="h",  # -h alone is help, -hHOST names a host (sudo's h::)
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
        chdir = scanned.has("-D", "--chdir")
        if chdir is not None and not scanned.has("-R", "--chroot"):
            seen.chdir = chdir.value
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
    rest = scanned.positionals
    if rest and values[rest[0]] == "-":  # `env - CMD` is `env -i CMD`, not a command named '-'
        rest = rest[1:]
    chdir = scanned.has("-C", "--chdir")
    if chdir is not None:
        seen.changes_dir = True
        seen.chdir = chdir.value
        if rest and chdir.value is None:  # its words name files in a folder not known
            seen.mark(
                "env -C runs the command in a folder not known, where its relative paths mean other files"
            )
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
        "adEILnPs",
        "null interactive no-run-if-empty verbose exit open-tty show-limits",
        "arg-file delimiter max-lines max-args max-procs max-chars process-slot-var",
        "eof replace",
        optional_short="eil",  # -e[END], -i[R], -l[N]: a value only when attached
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


_STRACE = _o(
    "AcCdDfFhiknqrtTvVwxyYzZ",
    "abeEIoOpPsSuUX",
    "summary-only summary debug follow-forks output-separately instruction-pointer stack-traces "
    "syscall-number output-append-mode no-abbrev version summary-wall-clock successful-only failed-only "
    "help seccomp-bpf",
    "attach trace env output signal user string-limit columns trace-path status abbrev verbose raw read "
    "write kvm inject fault detach-on interruptible const-print-style summary-sort-by summary-columns "
    "summary-syscall-overhead strings-in-hex",
    "absolute-timestamps timestamps relative-timestamps syscall-times daemonize quiet decode-fds "
    "decode-pids tips silence",
)
_LTRACE = _o(
    "bcCfhiLrStTV",
    "aADeFlnopsuwx",
    "no-signals demangle help version",
    "align debug config library indent output where",
)


@_handles("strace", "ltrace")
def _strace(values: Values) -> Seen:
    """Tracers run the command after their options (judged), and need a rule of their own; ``-E``
    sets its environment, ``-o |CMD`` pipes the log into a command, ``-o FILE`` writes."""
    name = _name(values)
    scanned = scan(values, 1, _STRACE if name == "strace" else _LTRACE, permute=False)
    seen = _wrapped(values, scanned, transparent=False)
    if name == "strace" and scanned.has("-E", "--env"):
        seen.mark("strace -E sets the traced command's environment")
    for output in scanned.all("-o", "--output"):
        if output.value is not None and output.value.startswith(("|", "!")):
            seen.mark(f"{name} -o |CMD pipes its log into a command")
        elif output.value is not None:
            seen.value_paths.append(("write", output.value))
    if name == "ltrace" and scanned.has("-F", "--config"):
        seen.mark("ltrace -F reads another configuration")
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
    # Without -x, watch joins its words with spaces and runs the line with ``sh -c``: the line is
    # judged as a command line of its own (as the shell will read it), like ``eval``'s.
    seen = Seen(transparent=True, paths_known=True)
    if scanned.unknown:
        seen.mark(f"watch option {scanned.unknown} is not known to the policy")
    if scanned.dynamic:
        seen.mark("watch's options are computed at run time")
    words = [values[i] for i in scanned.positionals]
    if not words or any(w is None for w in words):
        return seen.mark("watch runs a command line computed at run time through sh -c")
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
    # OpenSSH reads options again after the host (ssh.c: `goto again`), up to the command:
    # `ssh HOST -oProxyCommand=CMD true` runs CMD here
    host = scanned.positionals[0]
    if values[host] != "--":
        after = scan(values, host + 1, _SSH, permute=False)
        _ssh_options(after, "ssh", seen)
        scanned = Scan(positionals=[host, *after.positionals])
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


#: Programs that run a command given in their arguments (or a shell), with options the table does
#: not hold or that change what the command sees (namespaces, another root, another user, a
#: terminal multiplexer, a debugger): refused as dynamic. From util-linux, procps, systemd,
#: moreutils, daemontools/runit/s6, container and sandbox tools, terminals and debuggers.
_OTHER_RUNNERS = (
    "nsenter unshare systemd-run run0 setpriv sg newgrp pkexec gosu su-exec sshpass firejail bwrap proot "
    "capsh cgexec chpst machinectl systemd-nspawn systemd-vmspawn systemd-socket-activate systemd-dissect "
    "homectl parallel sem nsjail dbus-launch xvfb-run run-parts start-stop-daemon daemonize daemon expect "
    "empty tmux screen byobu dtach abduco rlwrap hyperfine entr watchexec cpulimit trickle schroot "
    "lxc-attach lxc-execute lxc-unshare envdir envuidgid softlimit setuidgid setlock fakeroot "
    "fakeroot-sysv fakeroot-tcp fakechroot aa-exec runcon uclampset coresched enosys setpgid run-one "
    "run-this-one keep-one-running lckdo pee zrun tsp ts-run nq mispipe timelimit faketime datefudge "
    "proxychains proxychains4 torsocks tsocks valgrind perf tini dumb-init catatonit s6-setuidgid "
    "s6-envdir s6-softlimit s6-applyuidgid xterm x-terminal-emulator gnome-terminal konsole kitty "
    "alacritty urxvt rxvt xdg-open gio sensible-browser sensible-pager x-www-browser www-browser "
    "run-mailcap see gpg-agent mosh autossh rsh rlogin rexec ccache distcc icecc sudo-rs please"
).split()


@_handles(*_OTHER_RUNNERS)
def _other_runner(values: Values) -> Seen:
    return Seen().mark(f"{_name(values)} runs commands with options the policy does not read")


#: Desktop, display, device and service-discovery programs (a browser, X and GTK tools, udev,
#: printers, mDNS, the freedesktop launchers): they start programs, load code, change devices, the
#: display or what the network is told, with options the table does not read. Refused as dynamic.
_DESKTOP_AND_DEVICES = (
    "chromium broadwayd zutty avahi-browse avahi-browse-domains avahi-daemon avahi-publish "
    "avahi-publish-address avahi-publish-service avahi-resolve avahi-resolve-address "
    "avahi-resolve-host-name avahi-set-host-name gtk-builder-tool gtk-encode-symbolic-svg gtk-launch "
    "gtk-query-settings iceauth install-printerdriver system-config-printer system-config-printer-applet "
    "scp-dbus-service mimeopen mimetype lwp-dump lwp-mirror dh_perl_openssl sessreg showrgb "
    "systemd-hwdb udevadm upower xcmsdb xdg-desktop-icon xdg-desktop-menu xdg-email xdg-icon-resource "
    "xdg-mime xdg-screensaver xdg-settings xgamma xhost xkeystone xrandr xrdb xrefresh xset xsetmode "
    "xsetpointer xsetroot xstdcmap xvidtune"
).split()


@_handles(*_DESKTOP_AND_DEVICES)
def _desktop_or_device(values: Values) -> Seen:
    return Seen().mark(
        f"{_name(values)} starts programs, loads code or changes devices, the display or the network's "
        "view of the host, with options the policy does not read"
    )


#: sudo's own tools beside sudo (installed with it for become): a log server, its client, the I/O
#: log player and the sudoers converter read and send privileged logs and policy, with options
#: the table does not read. Refused as dynamic.
_SUDO_TOOLS = ("cvtsudoers", "sudo_logsrvd", "sudo_sendlog", "sudoreplay")


@_handles(*_SUDO_TOOLS)
def _sudo_tool(values: Values) -> Seen:
    return Seen().mark(
        f"{_name(values)} reads or sends sudo's logs and policy, with options the policy does not read"
    )


#: Programs GTFOBins lists as running commands or loading code (a shell escape in their input or
#: their interactive mode, an option naming a program, a plugin, a script language, a pager or
#: editor they start with options the table does not read), not judged word by word: refused as
#: dynamic. From https://gtfobins.github.io (its ``shell``, ``command``, ``reverse-shell``,
#: ``bind-shell``, ``library-load`` and ``inherit`` functions), checked against their manuals.
_GTFOBINS_RUNNERS = (
    "acr agetty ansible-test aoss apache2 apache2ctl apport-cli aptitude arch-nspawn aria2c asterisk "
    "autoconf autoheader autoreconf autom4te automake aclocal libtoolize aws bashbug batcat bat bbot "
    "bconsole bee borg bpftrace busctl byebug cdist certbot check_by_ssh check_ssl_cert clisp code "
    "codex cowsay cowthink cpan cpanm crash csvtool debugfs dhclient dmsetup dnsmasq dosbox dstat dvips "
    "easy_install easyrsa eb enscript exiftool facter fail2ban-client fastfetch ffmpeg ffplay ffprobe "
    "forge ftp fzf gcloud gcore genie gimp ginsh gnuplot grc gtester hg hping3 iftop ispell jjs "
    "jrunscript jtag knife ksshell ksu latex latexmk lftp links lualatex luatex lxc lxd mail mailx "
    "minicom mosh-server msfconsole msgfilter multitime mutt ncdu ncftp needrestart neofetch nginx nmap "
    "octave opencode openvpn openvt opkg pandoc pdb pdflatex pdftex perlbug pexec pidstat pkg plymouth "
    "procmail pry psftp puppet pygmentize ranger rc redis restic rlwrap rpmdb rpmquery rpmverify "
    "rsyslogd rtorrent runscript rustup sash scanmem scrot slsh smbclient socket sqlmap ssh-copy-id "
    "sshfs sshuttle tailscale task tasksh tdbtool tex tftp tmate torify tshark vagrant varnishncsa "
    "vigr vipw virsh volatility w3m wg-quick wireshark xdg-user-dir xdotool xelatex yt-dlp zathura "
    "zic alpine dialog whiptail yelp xmore xpad efax espeak ul tic msgattrib msgcat msgconv msgmerge "
    "msguniq atobm xmodmap mosquitto clamscan dmidecode arp bridge fping mtr ntpdate hashcat "
    "iptables-save ip6tables-save nft update-alternatives setcap passwd chpasswd chsh chfn wall "
    "genisoimage mkisofs xorriso qpdf ascii-xfr redcarpet logrotate ab lp lpr cancel whois finger "
    "urlget lwp-download lwp-request GET POST HEAD mypy pyright rustfmt check_cups check_log "
    "check_memory check_raid check_statusfile cupsfilter kubectl-exec ldconfig"
).split()


@_handles(*_GTFOBINS_RUNNERS)
def _gtfobins_runner(values: Values) -> Seen:
    name = _name(values)
    if name == "ldconfig" and all(v in ("-p", "--print-cache", "-V", "--version") for v in values[1:]):
        return Seen(paths_known=True)  # prints the cache
    if name in ("mypy", "pyright", "rustfmt", "pandoc"):  # project tools: plugins, configuration
        return Seen(opaque=f"{name} loads plugins or settings from the project, which the policy cannot read")
    return Seen().mark(
        f"{name} can run commands, load code or open files its input or options name (GTFOBins)"
    )


#: groff and its preprocessors: a ``.so``/``.mso``/``.pso`` request (``.lf``, ``.open`` with -U)
#: in their input reads or writes another file, ``-U`` (unsafe) lets ``.sy``/``.pi`` run a command,
#: and ``-P``/``-m``/``-M`` load other programs' options and macro files. Their input is data the
#: policy never sees, so they are not judged.
_GROFF = (
    "groff nroff troff gtroff gnroff pic gpic eqn geqn neqn tbl gtbl soelim gsoelim zsoelim refer grefer "
    "grn chem grap grog preconv mandoc gxditview grotty grops grodvi grolj4 grolbp grohtml gropdf "
    "indxbib lookbib hpftodit ideal mmroff pdfroff"
).split()


@_handles(*_GROFF)
def _groff(values: Values) -> Seen:
    name = _name(values)
    return Seen().mark(f"{name} includes files its input names (.so) and runs commands with -U")


#: binutils and their kin: an ``@FILE`` word holds more arguments (options and files), and a
#: ``--plugin`` loads a library. The tools that change their files in place (strip, objcopy,
#: ranlib, elfedit) write every operand.
_BINUTILS_READ = "nm objdump readelf size addr2line c++filt gprof dwp elfedit-r".split()
_BINUTILS_WRITE = "strip objcopy ranlib elfedit dlltool windres".split()


@_handles(*_BINUTILS_READ, *_BINUTILS_WRITE)
def _binutils(values: Values) -> Seen:
    name = _name(values)
    for word in values[1:]:
        if word is None:
            return Seen().mark(f"{name}'s arguments are computed at run time")
        if word.startswith("@"):
            return Seen().mark(f"{name} reads more arguments (options and files) from {word[:24]}")
        if long_option(word, "plugin", "debuginfod", least=4):
            return Seen().mark(f"{name} {word[:16]} loads a plugin or fetches files")
    if name in _BINUTILS_WRITE:
        return _all_words(values)
    return Seen()  # every word may be a file (mentions)


@_handles("sysctl")
def _sysctl(values: Values) -> Seen:
    """sysctl reads kernel settings by name; ``-w``, ``NAME=VALUE``, ``-p [FILE]``, ``--system``
    and ``-f`` set them (kernel.core_pattern, kernel.modprobe: a program the kernel runs)."""
    for word in values[1:]:
        if (
            word is None
            or "=" in word
            or (word.startswith("-") and not word.startswith("--") and re.search(r"[wpf]", word[1:]))
            or long_option(word, "write", "load", "system", least=2)
        ):
            return Seen().mark("sysctl sets kernel settings (some name a program the kernel runs)")
    return Seen(paths_known=True)


@_handles("ssh-keygen")
def _ssh_keygen(values: Values) -> Seen:
    """ssh-keygen's ``-D``/``-w`` load a PKCS#11 or FIDO library, ``-K`` writes keys to the working
    folder; its other words are files (mentions)."""
    for word in values[1:]:
        if word is None or (word.startswith("-") and re.search(r"[DwK]", word[1:2])):
            return Seen().mark("ssh-keygen -D/-w loads a library, -K writes keys it names itself")
    return Seen()


#: Programs GTFOBins lists only as reading the files their words name (an encoder, a formatter, a
#: calculator): every word is judged as a file they may read (mentions), which is what they do.
@_handles(
    "ascii85", "base58", "basez", "uuencode", "uudecode", "ptx", "highlight", "aspell", "bc", "ssh-keyscan"
)
def _reads_mentions(values: Values) -> Seen:
    return Seen()


@_handles("dos2unix", "unix2dos", "mac2unix", "unix2mac")
def _dos2unix(values: Values) -> Seen:
    """They convert their files in place (``-n IN OUT`` writes OUT): every operand is written."""
    return _all_words(values)


@_handles("timedatectl", "systemd-resolve", "resolvectl", "loginctl", "hostnamectl", "localectl")
def _systemd_ctl(values: Values) -> Seen:
    """systemd's control tools: their operands are names, not files (a pager runs only on a
    terminal, as for systemctl); what they change is the rules' to decide."""
    return Seen(paths_known=True)


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
    "rzsh",
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


#: Standard modules ``python -m`` may run as a known tool: they run no code given to them and
#: import no file named by a path (unlike timeit, cProfile, pdb, trace, runpy, pydoc, doctest,
#: unittest, code, pytest...). Each maps to how its operands are used: files it reads, and
#: json.tool's second operand, written.
_PYTHON_MODULES: dict[str, Options] = {
    "json.tool": _o("h", "", "sort-keys no-ensure-ascii json-lines tab no-indent compact help", "indent"),
    "base64": _o("edtuh"),
    "calendar": _o("hLcet", "wlsmL", "", "width lines spacing months locale encoding type first-weekday"),
    "platform": _o("", "", "terse nonaliased"),
    "sysconfig": _o(),
    "uuid": _o("h", "uNn", "help", "uuid namespace name"),
}


def _python_module(values: Values, at: int, isolated: bool) -> Seen:
    """``python -m MODULE ARGS``: a module found by name, in the working folder first (sys.path[0])
    unless ``-I`` or ``-P`` is given, so a file written there runs. Only a known harmless standard
    module, with the working folder left out, is judged as a tool; any other runs code the policy
    cannot read (opaque: an allow rule naming it, ``python3 -m pytest *``, lets it run)."""
    word = values[at] or ""
    module_at = at if len(word) > 2 else at + 1
    module = (word[2:] if len(word) > 2 else values[at + 1] if at + 1 < len(values) else None) or ""
    opaque = Seen(paths_known=True, opaque=f"python -m {module[:40]} runs a module the policy cannot read")
    spec = _PYTHON_MODULES.get(module)
    if spec is None or not isolated:
        return opaque
    scanned = scan(values, module_at + 1, spec)
    if scanned.unknown or scanned.dynamic:
        return opaque
    seen = Seen(paths_known=True)
    operands = scanned.positionals if module in ("json.tool", "base64") else []
    seen.paths += [
        ("write" if k == 1 and module == "json.tool" else "read", j) for k, j in enumerate(operands)
    ]
    return seen


def _interpreter(values: Values) -> Seen:
    name = family(_name(values))
    spec = _INTERPRETERS.get(name) or _INTERPRETERS[_name(values)]
    isolated = False  # python -I / -P: the working folder is not searched for modules
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
            return _python_module(values, i, isolated)
        isolated = isolated or (
            name in ("python", "pypy")
            and word[:1] == "-"
            and word[1:2] != "-"
            and bool(set(word[1:]) & set("IP"))
        )
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
    "logname",
    "hostid",
    "printenv",
    "kill",
    "pidof",
    "free",
    "vmstat",
    "mpstat",
    "iostat",
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
    "ps",
    "top",
    "w",
    "netstat",
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
    if name == "date":
        return _date(values)
    if name == "wait":  # wait -p VAR (bash 5.1+) assigns VAR, evaluating a subscript in its name
        for word in values[1:]:
            if word is None or word == "--" or not word.startswith("-"):
                break
            if "p" in word[1:]:
                return Seen().mark("wait -p assigns a variable (and evaluates its subscript)")
    return Seen(paths_known=True)


_DATE = _o(
    "Ru",
    "dfrs",
    "debug rfc-email utc universal resolution help version",
    "date file rfc-3339 reference set",
    "iso-8601",
    optional_short="I",
)


def _date(values: Values) -> Seen:
    """date takes no file but for ``-f FILE`` (each line a date: a bad one is printed back) and
    ``-r FILE`` (its time); ``-s`` sets the clock (dynamic: no rule about files judges that).
    Abbreviations count: ``--fi=FILE`` is ``--file``."""
    scanned = scan(values, 1, _DATE)
    if scanned.has("-s", "--set"):
        return Seen().mark("date -s sets the system clock")
    if scanned.unknown or scanned.dynamic:
        return Seen()  # every word counts as a file for deny and confirm rules
    seen = Seen(paths_known=True)
    for option in scanned.all("-f", "--file", "-r", "--reference"):
        if option.value not in (None, "-"):
            _value_path(seen, "read", option)
    return seen


# -- programs whose options run commands, load code, or read and write other files -----------------

# GNU tar's options (tar --help, 1.35), by what their value is. Long options are read as argp
# reads them: an exact name, else a unique prefix of one (``--volno=F`` is ``--volno-file=F``); an
# option not in the table, or an ambiguous prefix, is not known (so it is not taken as harmless).
_TAR_SHORT_VALUES = "bCfFgHIKLNTVX"  # GNU tar's short options that take a value
_TAR_SHORT_FLAGS = set("ABGJMOPRSUWZacdhijklmnoprstuvwxz")
_TAR_SHORT_LONG = {  # the short letters that mean something to the judgment, by their long name
    "c": "create",
    "x": "extract",
    "t": "list",
    "r": "append",
    "u": "update",
    "A": "catenate",
    "d": "diff",
    "O": "to-stdout",
    "f": "file",
    "C": "directory",
    "T": "files-from",
    "X": "exclude-from",
    "g": "listed-incremental",
    "F": "info-script",
    "I": "use-compress-program",
    "N": "newer",
}
_TAR_LONG: dict[str, str] = {
    **dict.fromkeys(
        "absolute-names acls anchored append auto-compress block-number bzip2 catenate check-device "
        "check-links clamp-mtime compare compress concatenate confirmation create delay-directory-restore "
        "delete dereference diff exclude-backups exclude-caches exclude-caches-all exclude-caches-under "
        "exclude-vcs exclude-vcs-ignores extract force-local full-time get gunzip gzip hard-dereference "
        "help ignore-case ignore-command-error ignore-failed-read ignore-zeros incremental interactive "
        "keep-directory-symlink keep-newer-files keep-old-files list lzip lzma lzop multi-volume no-acls "
        "no-anchored no-auto-compress no-check-device no-delay-directory-restore no-ignore-case "
        "no-ignore-command-error no-null no-overwrite-dir no-recursion no-same-owner no-same-permissions "
        "no-seek no-selinux no-unquote no-verbatim-files-from no-wildcards no-wildcards-match-slash "
        "no-xattrs null numeric-owner old-archive one-file-system overwrite overwrite-dir portability posix "
        "preserve preserve-order preserve-permissions read-full-records recursion recursive-unlink "
        "remove-files restrict same-order same-owner same-permissions seek selinux show-defaults "
        "show-omitted-dirs show-snapshot-field-ranges show-stored-names show-transformed-names "
        "skip-old-files sparse test-label to-stdout touch uncompress ungzip unlink-first unquote update "
        "usage utc verbatim-files-from verbose verify version wildcards wildcards-match-slash xattrs xz "
        "zstd".split(),
        "flag",
    ),
    **dict.fromkeys(
        "blocking-factor exclude exclude-ignore exclude-ignore-recursive exclude-tag exclude-tag-all "
        "exclude-tag-under format group hole-detection label level mode no-quote-chars owner pax-option "
        "quote-chars quoting-style record-size sort sparse-version starting-file strip-components suffix "
        "tape-length transform xform warning xattrs-exclude xattrs-include set-mtime-format".split(),
        "value",
    ),
    **dict.fromkeys("after-date newer newer-mtime mtime".split(), "date"),  # a date, or a file's time
    **dict.fromkeys("backup atime-preserve checkpoint occurrence totals".split(), "optional"),
    "one-top-level": "top",  # [=DIR]: extract into DIR
    "exclude-from": "read",
    "add-file": "read",
    "group-map": "read",
    "owner-map": "read",
    "files-from": "names",
    "index-file": "write",
    "volno-file": "write",
    "listed-incremental": "write",  # read and rewritten
    "directory": "dir",
    "file": "archive",
    **dict.fromkeys(
        "to-command checkpoint-action use-compress-program info-script new-volume-script rsh-command "
        "rmt-command set-mtime-command".split(),
        "runs",
    ),
}
_TAR_MODES = {
    "create": "c",
    "append": "c",
    "update": "c",
    "catenate": "c",
    "concatenate": "c",
    "extract": "x",
    "get": "x",
    "delete": "delete",
}


def _tar_long(name: str) -> str | None:
    """The long option ``name`` stands for (argp: exact, else a unique prefix), or None."""
    if name in _TAR_LONG:
        return name
    matches = [n for n in _TAR_LONG if n.startswith(name)]
    return matches[0] if len(matches) == 1 else None


@_handles("tar", "bsdtar")
def _tar(values: Values) -> Seen:
    """GNU tar: what it runs (``--to-command``, ``-I``, ``--checkpoint-action``...), the archive
    it reads or writes (``--delete``, ``-r``, ``-u`` rewrite it), the files it archives (read),
    extracts (written, unless ``-O`` sends them to standard output) or names in other files
    (``-T FILE``: not known), and the files its options name. An option it does not know, or
    an ambiguous abbreviation, is not known: never taken as harmless."""
    name = _name(values)
    seen = Seen(paths_known=True)
    options: list[tuple[str, str | None, int | None]] = []  # (long name, value, its word index)
    positionals: list[int] = []

    def short(letters: str, i: int, attached: bool) -> int | None:
        """Read a bundle of short options from word ``i``; the index of the last word used."""
        for j, letter in enumerate(letters):
            long_name = _TAR_SHORT_LONG.get(letter, "-" + letter)
            if letter in _TAR_SHORT_VALUES:
                rest = letters[j + 1 :] if attached else ""
                if rest:
                    options.append((long_name, rest, None))
                    return i
                i += 1
                options.append((long_name, values[i] if i < len(values) else None, i))
                if not attached:
                    continue  # old style: each value letter takes the next word in turn
                return i
            if letter not in _TAR_SHORT_FLAGS:
                return None
            options.append((long_name, None, None))
        return i

    i = 1
    if len(values) > 1 and values[1] and not values[1].startswith("-"):  # old style: `tar czf ARCHIVE ...`
        last = short(values[1], 1, attached=False)
        if last is None:
            return seen.mark(f"{name} option letters {values[1][:12]!r} are not all known to the policy")
        i = max(last, 1) + 1
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark(f"{name}'s arguments are computed at run time")
        if word == "--":
            positionals += range(i + 1, len(values))
            break
        if word.startswith("--"):
            given, eq, value = word[2:].partition("=")
            full = _tar_long(given)
            if full is None:
                return seen.mark(f"{name} option --{given[:24]} is not known to the policy (or is ambiguous)")
            kind = _TAR_LONG[full]
            if kind == "runs":
                return seen.mark(f"{name} --{full} runs a command")
            if kind in ("flag",) and eq:
                return seen.mark(f"{name} --{full} takes no value")
            if kind in ("flag", "optional", "top") or eq:
                options.append((full, value if eq else None, None))
            else:
                options.append((full, values[i + 1] if i + 1 < len(values) else None, i + 1))
                i += 1
        elif word.startswith("-") and len(word) > 1:
            last = short(word[1:], i, attached=True)
            if last is None:
                return seen.mark(f"{name} option {word[:12]} is not known to the policy")
            i = last
        else:
            positionals.append(i)
        i += 1
    names = {option for option, _, _ in options}
    for letter in ("-I", "-F", "info-script", "use-compress-program"):
        if letter in names:
            return seen.mark(f"{name} -I/-F runs a command")
    modes = {_TAR_MODES[n] for n in names if n in _TAR_MODES}
    mode = "x" if "x" in modes else "delete" if "delete" in modes else "c" if "c" in modes else "t"
    to_stdout = "to-stdout" in names
    for option, value, index in options:
        kind = _TAR_LONG.get(option, "flag")
        if kind == "names" and mode == "c":
            return seen.mark(
                f"{name} -T reads the names of the files it archives from a file or standard input"
            )
        if value is None:
            continue
        if kind == "date" and value.startswith(("/", ".")):
            seen.value_paths.append(("list", value))  # a file's time stands for the date
        if value == "-":
            continue
        if kind == "archive":
            if ":" in value and "force-local" not in names:
                return seen.mark(f"{name} -f HOST:FILE runs a remote shell command")
            operation: PathOp = "write" if mode in ("c", "delete") else "read"
            if index is not None:
                seen.paths.append((operation, index))
            else:
                seen.value_paths.append((operation, value))
        elif kind in ("read", "names"):
            seen.value_paths.append(("read", value))
        elif kind == "dir":
            seen.changes_dir = True
            seen.chdir = posixpath.join(seen.chdir or "", value)  # each -C is relative to the last
            if mode == "x" and not to_stdout:
                seen.value_paths.append(("write", value.rstrip("/") + "/**"))
        elif kind == "write":
            seen.value_paths.append(("write", value))
        elif kind == "top" and mode == "x" and not to_stdout:
            seen.value_paths.append(("write", value.rstrip("/") + "/**"))
    if mode == "c":  # --remove-files deletes what it archived
        seen.trees += [("write" if "remove-files" in names else "read", i) for i in positionals]
    elif mode == "x" and not to_stdout:
        seen.unknown_writes = f"{name} extracts the files its archive holds"
    return seen


@_handles("zip")
def _zip(values: Values) -> Seen:
    """zip's words are judged as mentions (its option syntax is its own), but ``-TT``/
    ``--unzip-command`` runs a command, and ``-m``/``--move`` deletes the files it adds: then
    every word but the archive is taken as a tree written."""
    moves = False
    for word in values[1:]:
        if word is None:
            continue
        if long_option(word, "unzip-command", "test", least=4) or (
            word.startswith("-") and not word.startswith("--") and "T" in word
        ):
            return Seen().mark("zip -T/-TT runs a command to test the archive")
        if long_option(word, "names-stdin", least=3) or re.fullmatch(r"-[^-@ix]*@.*", word):
            return Seen().mark("zip -@ reads the names of the files it adds from standard input")
        moves = moves or bool(
            long_option(word, "move", least=3)
            or (word.startswith("-") and not word.startswith("--") and "m" in word[1:])
        )
    words = [i for i in range(1, len(values)) if not (values[i] or "-").startswith("-")]
    archive: list[tuple[PathOp, int]] = [("write", i) for i in words[:1]]
    if not moves:
        return Seen(paths=archive)  # the archive is written; every word counts as a mention
    return Seen(paths=archive, trees=[("write", i) for i in words[1:]])


@_handles("7z", "7za", "7zr", "unrar", "ar", "unsquashfs", "arj", "unarj", "lha", "lzh", "rar")
def _extract(values: Values) -> Seen:
    """Archivers whose option syntax the table does not hold: they may extract (write the files
    their archive holds), and an ``@FILE`` word names a list of more names or options."""
    name = _name(values)
    if any(v is None or v.startswith("@") or long_option(v, "plugin") for v in values[1:]):
        return Seen().mark(f"{name} reads names or options from an @FILE, or loads a plugin")
    return Seen(unknown_writes=f"{name} extracts the files its archive holds")


@_handles("unzip")
def _unzip(values: Values) -> Seen:
    """``unzip [-opts] ARCHIVE [MEMBER...] [-x MEMBER...] [-d DIR]``: it extracts (the files
    its archive holds, below ``-d DIR``), unless it lists (``-l``, ``-v``, ``-Z``), tests
    (``-t``), shows the comment (``-z``) or writes members to standard output (``-p``, ``-c``).
    Options come before the archive; after it only ``-d`` and ``-x`` are options."""
    seen = Seen(paths_known=True)
    archive: int | None = None
    extracts = True
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("unzip's arguments are computed at run time")
        if (archive is None and word.startswith("-") and len(word) > 1) or word[:2] in ("-d", "-x"):
            letters = word[1:]
            if not re.fullmatch(r"[A-Za-z0-9$/:^]+", letters):
                return seen.mark(f"unzip option {word[:12]} is not known to the policy")
            for k, letter in enumerate(letters):
                if (letter == "Z" and k == 0) or letter in "lvtzpc":
                    extracts = False
                if letter in "dPIO":
                    value = letters[k + 1 :] or (values[i + 1] if i + 1 < len(values) else None)
                    i += 0 if letters[k + 1 :] else 1
                    if letter == "d":
                        if value is None:
                            return seen.mark("unzip -d names a folder computed at run time")
                        seen.value_paths.append(("write", value.rstrip("/") + "/**"))
                    break
        elif archive is None:
            archive = i
        i += 1
    if archive is not None:
        seen.paths.append(("read", archive))
    if extracts:
        seen.unknown_writes = "unzip extracts the files its archive holds"
    else:
        seen.value_paths = []  # a listing or a test writes nothing
    return seen


@_handles("cpio", "pax", "afio")
def _cpio(values: Values) -> Seen:
    """cpio and pax read the names of the files they archive (copy-out, pass-through, pax -w)
    from standard input, and extract what their archive holds; ``-F HOST:FILE`` and
    ``--rsh-command`` run a remote shell."""
    name = _name(values)
    for word in values[1:]:
        if word is None:
            return Seen().mark(f"{name}'s arguments are computed at run time")
        if (name == "cpio" and re.fullmatch(r"-[A-Za-z]*[op][A-Za-z]*", word)) or long_option(
            word, "create", "pass-through", "rsh-command"
        ):
            return Seen().mark(f"{name} reads the names of the files it copies from standard input")
        if name != "cpio" and re.fullmatch(r"-[A-Za-z]*w[A-Za-z]*", word):
            return Seen().mark(f"{name} -w reads the names of the files it archives from standard input")
        if ":" in word or (word.startswith("-") and re.search(r"[EFIO]", word) and name == "cpio"):
            return Seen().mark(f"{name} {word[:16]} names another archive, a pattern file or a remote host")
    if name != "cpio" and not any(re.fullmatch(r"-[A-Za-z]*r[A-Za-z]*", w or "") for w in values[1:]):
        return Seen(paths_known=True)  # pax without -r or -w lists the archive on standard input
    return Seen(unknown_writes=f"{name} extracts the files its archive holds")


def _copier(values: Values, program: str, danger: tuple[str, ...], letters: str) -> Seen:
    """rsync and scp: options that run a program; sources read, the local destination written."""
    seen = Seen(paths_known=True)
    positionals = []
    after = False
    links = False
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return seen.mark(f"{program}'s arguments are computed at run time")
        if after or not word.startswith("-") or word == "-":
            positionals.append(i)
        elif word == "--":
            after = True
        elif word.startswith("--"):
            if long_option(word, *(d[2:] for d in danger), least=4):
                return seen.mark(
                    f"{program} {word.split('=')[0]} runs a program or reads another configuration"
                )
            links = links or long_option(word, "links", "archive", least=4) is not None
        elif any(c in word[1:] for c in letters):
            return seen.mark(f"{program} {word[:8]} runs a program or reads another configuration")
        elif program == "rsync" and re.search(r"[al]", word[1:]):
            links = True  # -a is -rlptgoD: symbolic links are copied as links
        elif word.startswith("-o") and program == "scp":
            text = word[2:] or (values[i + 1] or "")
            if re.split(r"[=\s]", text, maxsplit=1)[0].lower() not in _SSH_SAFE_OPTIONS:
                return seen.mark(f"scp {word[:20]} may run a command")
    seen.makes_links = links
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
    "receive-pack": "git receive-pack runs the repository's hooks",
    "shell": "git shell runs the commands its -c names",
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
            if option.value is None:
                return seen.mark("git -C names a folder computed at run time")
            seen.chdir = posixpath.join(seen.chdir or "", option.value) if option.value else seen.chdir
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
    if sub not in _GIT_READ_ONLY and sub not in _GIT_WRITES_TREE:
        return seen.mark(
            f"git {sub[:24]} is no subcommand the policy knows: an alias or a git-{sub[:24]} program "
            "may run any command"
        )
    for word in rest:
        if word is None:
            continue
        name = word.split("=", 1)[0]
        if any(len(name) > 2 and danger.startswith(name) for danger in _GIT_DANGER):  # git: any unique prefix
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
        if sub == "diff" and long_option(word, "no-index", least=4):
            seen.paths += [
                ("read", i) for i, v in enumerate(values) if i > sub_index and v and not v.startswith("-")
            ]
        if sub == "grep" and long_option(word, "no-index", "untracked", least=4):
            seen.value_paths.append(("read", "./**"))  # searches the working folder, not the repository
    if problem := _git_files(values, sub_index, sub, seen):
        return seen.mark(problem)
    if (
        seen.changes_dir
        and seen.chdir is None
        and any(v is not None and not v.startswith(("-", "/", _HOME_PREFIX)) for v in values[sub_index + 1 :])
    ):  # its words name files from a -C folder not known, where the policy cannot look for them
        return seen.mark("git -C DIR: the files its arguments name are in a folder not known")
    if sub == "bisect" and "run" in rest:
        return seen.mark("git bisect run runs a command")
    if sub == "submodule" and "foreach" in rest:
        return seen.mark("git submodule foreach runs a command")
    if sub == "config" and _git_config_writes(rest):
        return seen.mark("git config changes settings, which can make git run commands later")
    if _git_writes_repository(sub, rest):
        if seen.changes_dir and seen.chdir is None:
            return seen.mark(f"git {sub} writes a repository in a folder not known")
        # refs, objects, reflogs, the index, its config: judged as a write of the repository's
        # .git, found from the working folder (or the -C folder)
        seen.value_paths.append(("write", posixpath.join(seen.chdir or "", ".git") + "/**"))
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


#: Options of git subcommands whose value is a file read or written (long names, git accepts
#: unique prefixes; short ones as given), and subcommands that write the files they name.
_GIT_FILE_OPTIONS: dict[str, dict[str, PathOp]] = {
    "archive": {"--output": "write", "-o": "write", "--add-file": "read"},
    "format-patch": {"--output-directory": "write", "-o": "write"},
    "blame": {"--contents": "read", "--ignore-revs-file": "read", "-S": "read"},
    "annotate": {"--contents": "read", "-S": "read"},
    "commit": {
        "--file": "read",
        "-F": "read",
        "--template": "read",
        "-t": "read",
        "--pathspec-from-file": "read",
    },
    "tag": {"--file": "read", "-F": "read"},
    "notes": {"--file": "read", "-F": "read"},
    "merge": {"--file": "read", "-F": "read"},
    "fast-import": {"--export-marks": "write", "--import-marks": "read", "--import-marks-if-exists": "read"},
    "fast-export": {"--export-marks": "write", "--import-marks": "read"},
    "checkout-index": {"--prefix": "write"},
}
#: git's subcommands that write no file in the work tree (they read, or change only the repository
#: itself). Every other subcommand is taken as writing files it names itself, and a word that is
#: no subcommand git ships is an alias or a ``git-NAME`` program found at run time, whose
#: meaning (``alias.x = !cmd`` runs a shell command) the policy cannot see: the list is what is
#: allowed, not what is refused.
_GIT_READ_ONLY = frozenset(
    "status log diff show branch blame grep rev-parse describe remote shortlog ls-files ls-tree ls-remote "
    "fetch cherry merge-base reflog tag rev-list cat-file show-ref for-each-ref name-rev whatchanged "
    "annotate count-objects fsck verify-commit verify-tag verify-pack var version help diff-tree diff-files "
    "diff-index show-branch range-diff check-ignore check-attr check-ref-format check-mailmap format-patch "
    "archive bundle hash-object config add commit push gc prune repack update-ref symbolic-ref "
    "update-index write-tree commit-tree mktag mktree notes replace pack-refs prune-packed "
    "maintenance get-tar-commit-id unpack-file whatchanged send-pack fetch-pack index-pack unpack-objects "
    "merge-tree patch-id interpret-trailers column stripspace mailinfo mailsplit request-pull bugreport "
    "diagnose rerere shell upload-pack receive-pack upload-archive".split()
)
#: git's subcommands that write files in the work tree (checkout, merge, reset --hard...); with
#: _GIT_READ_ONLY and _GIT_RUNNERS, every subcommand git ships.
_GIT_WRITES_TREE = frozenset(
    "clean rm mv restore apply checkout-index worktree init clone checkout switch merge pull rebase "
    "cherry-pick revert am stash reset submodule sparse-checkout read-tree merge-file merge-index "
    "merge-one-file merge-recursive merge-ort merge-resolve merge-octopus merge-ours merge-subtree "
    "bisect citool gui gitk scalar backfill replay".split()
)


def _git_files(values: Values, sub_index: int, sub: str, seen: Seen) -> str | None:
    """Record the files a git subcommand's options and operands name (``archive -o FILE``,
    ``bundle create FILE``, ``blame --contents FILE``); a reason when one is computed at run time."""
    table = _GIT_FILE_OPTIONS.get(sub, {})
    longs = [name[2:] for name in table if name.startswith("--")]
    operands: list[int] = []
    named_output = False
    i = sub_index + 1
    while i < len(values):
        word = values[i]
        if word is None:
            i += 1
            continue
        if word == "--":
            operands += range(i + 1, len(values))
            break
        full = long_option(word, *longs, least=1) if longs else None
        short = word[:2] if word.startswith("-") and not word.startswith("--") else None
        if full is not None or (short is not None and short in table):
            operation = table["--" + full] if full is not None else table[short]  # type: ignore[index]
            named_output = named_output or operation == "write"
            if full is not None and "=" in word:
                seen.value_paths.append((operation, word.partition("=")[2]))
            elif full is None and len(word) > 2:  # -oDIR
                seen.value_paths.append((operation, word[2:]))
            elif i + 1 < len(values):
                if values[i + 1] is None:
                    return f"git {sub} {word} names a file computed at run time"
                seen.paths.append((operation, i + 1))
                i += 1
        elif not word.startswith("-"):
            operands.append(i)
        i += 1
    words = [values[k] for k in operands]
    if (
        sub == "bundle"
        and words[:1] in (["create"], ["unbundle"], ["verify"], ["list-heads"])
        and len(words) > 1
    ):
        seen.paths.append(("write" if words[0] == "create" else "read", operands[1]))
    elif sub in ("hash-object", "apply"):
        seen.paths += [("read", k) for k in operands]
    if (
        sub == "format-patch"
        and not named_output
        and not any(long_option(v, "stdout") for v in values[sub_index:])
    ):
        seen.value_paths.append(("write", "*.patch"))  # 0001-subject.patch in the working folder
    if any(long_option(v, "pathspec-from-file") for v in values[sub_index:]):
        return f"git {sub} --pathspec-from-file reads the paths it works on from a file or standard input"
    if sub == "stash" and words[:1] in (["list"], ["show"]):
        return None
    if sub == "reset" and not any(long_option(v, "hard", "merge", "keep") for v in values[sub_index:]):
        return None  # --soft and --mixed change only the index
    if sub not in _GIT_READ_ONLY:
        seen.unknown_writes = f"git {sub} writes files in the work tree"
    return None


#: git subcommands that write the repository (refs, objects, reflogs, the index, its config)
#: whatever their options; the ones in _GIT_REPOSITORY_READS write it unless they only list.
_GIT_REPOSITORY_WRITES = frozenset(
    "update-ref gc prune repack pack-refs prune-packed update-index write-tree commit-tree mktag mktree "
    "maintenance rerere index-pack unpack-objects fetch fetch-pack send-pack receive-pack add commit push "
    "pull rebase merge cherry-pick revert am checkout switch reset submodule sparse-checkout read-tree "
    "bisect replay backfill merge-tree rm mv restore apply init clone scalar stash worktree".split()
)
#: ...and for these, the words that keep them to reading: (first operand, options that only list).
_GIT_REPOSITORY_READS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "branch": (
        frozenset(),
        frozenset(
            "-l --list -v -vv --verbose --contains --no-contains --merged --no-merged --points-at "
            "--show-current".split()
        ),
    ),
    "tag": (
        frozenset(),
        frozenset(
            "-l --list -n --contains --no-contains --merged --no-merged --points-at -v --verify".split()
        ),
    ),
    "remote": (frozenset({"show", "get-url"}), frozenset()),
    "reflog": (frozenset({"show", "exists"}), frozenset()),
    "notes": (frozenset({"list", "show", "get-ref"}), frozenset()),
    "replace": (frozenset(), frozenset({"-l", "--list"})),
    "symbolic-ref": (frozenset(), frozenset()),
    "hash-object": (frozenset(), frozenset()),
    "bundle": (frozenset({"create", "verify", "list-heads"}), frozenset()),
    "fsck": (frozenset(), frozenset()),
}
#: Options of ``git branch`` and ``git tag`` that change refs (anything but listing).
_GIT_REPOSITORY_CHANGES = {
    "branch": frozenset(
        "-d -D --delete -m -M --move -c -C --copy -f --force -u --set-upstream-to --unset-upstream "
        "--edit-description -t --track --no-track --create-reflog".split()
    ),
    "tag": frozenset(
        "-d --delete -a --annotate -s --sign -u --local-user -f --force -m --message -F --file -e --edit "
        "--create-reflog".split()
    ),
}


def _git_writes_repository(sub: str, rest: list[str | None]) -> bool:
    """Whether ``git SUB REST`` may write the repository itself (its refs, objects, config)."""
    if sub in _GIT_REPOSITORY_WRITES:
        if sub == "stash" and [w for w in rest if w and not w.startswith("-")][:1] in (["list"], ["show"]):
            return False
        return not (sub == "worktree" and [w for w in rest if w and not w.startswith("-")][:1] == ["list"])
    if sub not in _GIT_REPOSITORY_READS:
        return False
    if any(w is None for w in rest):
        return True
    first_words, listing = _GIT_REPOSITORY_READS[sub]
    words = [w for w in rest if w is not None]
    options = {w.split("=", 1)[0] for w in words if w.startswith("-")}
    shorts = {"-" + c for w in words if w.startswith("-") and not w.startswith("--") for c in w[1:]}
    if sub == "hash-object":
        return "-w" in shorts
    if sub == "fsck":
        return bool(long_option(next((w for w in words if w.startswith("--lost")), None), "lost-found"))
    changes = _GIT_REPOSITORY_CHANGES.get(sub, frozenset())
    longs = [c[2:] for c in changes if c.startswith("--")]
    if shorts & changes or any(longs and long_option(o, *longs) for o in options if o.startswith("--")):
        return True
    operands = [w for w in words if not w.startswith("-")]
    if sub in ("remote", "reflog", "notes", "bundle"):
        return bool(operands) and operands[0] not in first_words
    if sub == "symbolic-ref":
        return len(operands) > 1 or bool({"-d", "--delete"} & options)
    return bool(operands) and not (options & listing or shorts & listing)


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


_LESS_VALUES = 'bDhjkoOpPtTxyz"#'  # less's options that take a value (the rest of the word, or the next)


@_handles("less", "more", "most", "pg")
def _less(values: Values) -> Seen:
    """A pager reads its files; ``+CMD`` runs pager commands (``!`` runs a shell), ``-o``/``-O``
    write a log, ``-k`` reads key bindings (which can set LESSOPEN), ``-t``/``-T`` open the file
    a tags file names. less takes abbreviations of its long options, in either case."""
    name = _name(values)
    for word in values[1:]:
        if word is None:
            continue
        if word.startswith("+"):
            return Seen().mark(f"{name} {word[:12]} runs pager commands")
        if long_option(
            word.lower(),
            "log-file",
            "lesskey-file",
            "lesskey-src",
            "lesskey-content",
            "tag",
            "tag-file",
            least=2,
        ):
            return Seen().mark(f"{name} {word[:16]} writes a log or reads settings or tags")
        if word.startswith("-") and not word.startswith("--"):
            letters = word[1:]
            first_value = next((k for k, c in enumerate(letters) if c in _LESS_VALUES), len(letters))
            if any(c in "oOkKtT" for c in letters[: first_value + 1]):
                return Seen().mark(f"{name} {word[:12]} writes a log or reads settings or tags")
    return _reader(values)


@_handles("man")
def _man(values: Values) -> Seen:
    """man formats pages; its options can name a pager, a browser, preprocessors, a file to
    format (``-l``), other page folders or another configuration (argp: abbreviations count)."""
    for word in values[1:]:
        if word is not None and (
            re.match(r"-[a-zA-Z]*[PHClMTXtZ]", word)
            or long_option(
                word,
                "pager",
                "html",
                "config-file",
                "preprocessor",
                "local-file",
                "manpath",
                "troff",
                "troff-device",
                "ditroff",
                "gxditview",
                least=2,
            )
        ):
            return Seen().mark(f"man {word[:12]} runs another program, reads a file or another configuration")
        if word is None:
            return Seen().mark("man's arguments are computed at run time (a page name with a / is a file)")
        if "/" in word and not word.startswith("-"):
            # man-db formats an operand holding a / as a local file (as -l does): it is read, and its
            # requests (.so FILE, a preprocessor line) read other files and choose programs
            return Seen().mark(f"man {word[:24]} formats a local file, whose requests read other files")
    return Seen(paths_known=True)


_FIND_ACTIONS = ("-exec", "-execdir", "-ok", "-okdir")
#: find's primaries that take one argument (so a pattern like ``-name -delete`` is not an action).
_FIND_ARGUMENT = frozenset(
    "-amin -anewer -atime -cmin -cnewer -context -ctime -fls -fprint -fprint0 -fstype -gid -group -ilname "
    "-iname -inum -ipath -iregex -iwholename -links -lname -maxdepth -mindepth -mmin -mtime -name -newer "
    "-path -perm -printf -regex -regextype -samefile -size -type -uid -used -user -wholename -xtype "
    "-files0-from".split()
)
_FIND_WRITES = frozenset({"-fprint", "-fprint0", "-fls", "-fprintf"})
_FIND_READS = frozenset({"-newer", "-anewer", "-cnewer", "-samefile", "-files0-from"})


@_handles("find")
def _find(values: Values) -> Seen:
    """find lists the trees below its start points (the working folder when none is given);
    ``-delete`` writes them, ``-fprint``/``-fls`` write a file, ``-newer``/``-files0-from`` read
    one; ``-exec`` runs a command in which ``{}`` (alone or inside a word) becomes each file."""
    seen = Seen(paths_known=True)
    i = 1
    while (i < len(values) and values[i] in ("-H", "-L", "-P")) or (
        i < len(values) and (values[i] or "").startswith(("-D", "-O"))
    ):
        i += 2 if values[i] in ("-D", "-O") else 1
    starts = []
    while (
        i < len(values) and values[i] is not None and not (values[i] or "").startswith(("-", "(", "!", ","))
    ):
        starts.append(i)
        i += 1
    below: list[PathOp] = ["list"]  # what is done to the files below the start points
    runs: list[tuple[int, int, bool]] = []
    from_file = False
    while i < len(values):
        word = values[i]
        if word in _FIND_ACTIONS:
            end = next(
                (
                    j
                    for j in range(i + 1, len(values))
                    if values[j] == ";" or (values[j] == "+" and values[j - 1] == "{}")
                ),
                len(values),
            )
            if end > i + 1:
                runs.append((i + 1, end, word in ("-execdir", "-okdir")))
            i = end + 1
            continue
        if word == "-delete":
            below.append("write")
        elif word in _FIND_WRITES and i + 1 < len(values):
            seen.paths.append(("write", i + 1))
        elif word is not None and (word in _FIND_READS or re.fullmatch(r"-newer[aBcm][aBcm]", word)):
            if i + 1 < len(values) and not word.endswith("t"):  # -newermt DATE compares to a date
                seen.paths.append(("read", i + 1))
            from_file = from_file or word == "-files0-from"
        if word == "-fprintf":
            i += 2  # FILE FORMAT
        elif word in _FIND_ARGUMENT or (word is not None and re.fullmatch(r"-newer[aBcm][aBcmt]", word)):
            i += 1
        i += 1
    for start, end, in_own_folder in runs:
        run, operations, problem = _find_exec(values, start, end, in_own_folder)
        seen.runs.append(run)
        below += operations
        if problem:
            seen.mark(problem)
    for operation in dict.fromkeys(below):
        if operation == "list":  # the names below: judged at the start points, as `ls DIR` is
            if starts:
                seen.paths += [(operation, k) for k in starts]
            elif not from_file:
                seen.value_paths.append((operation, "."))
        elif starts:
            seen.trees += [(operation, k) for k in starts]
        elif not from_file:
            seen.value_paths.append((operation, "./**"))
        else:  # -files0-from: the start points are named in a file
            seen.unknown_writes = f"find {operation}s below start points it reads from a file"
    return seen


def _find_exec(
    values: Values, start: int, end: int, in_own_folder: bool
) -> tuple[Run, list[PathOp], str | None]:
    """The command ``find -exec`` runs, what it does to the files below the start points, and
    why it cannot be judged (or None).

    Where ``{}`` stands alone as an operand the command's own table places (``wc -l {}``,
    ``rm {}``), it is judged as that access to the trees find walks, and the command with the
    word as written. Anywhere else (inside a word, the program's name, an option's value, a
    wrapper's command) each word holding ``{}`` is computed at run time."""
    inner = list(values[start:end])
    marks = [k for k, v in enumerate(inner) if v is not None and "{}" in v]
    placeholders = frozenset(v for v in (inner[k] for k in marks) if v is not None)
    seen = inspect(inner)
    problem = None
    if in_own_folder:  # -execdir: relative words other than {} are relative to each file's folder
        own = {k for _, k in seen.paths + seen.trees} - set(marks)
        if (
            not seen.paths_known
            or any(not (inner[k] or "/").startswith("/") for k in own)
            or any(not v.startswith("/") for _, v in seen.value_paths)
        ):
            problem = "find -execdir runs it in each file's folder, where its relative paths mean other files"
    simple = (
        marks
        and 0 not in marks
        and all(inner[k] == "{}" for k in marks)
        and seen.dynamic is None
        and not seen.runs
        and seen.paths_known
        and not seen.makes_links
        and not seen.changes_dir
    )
    if simple:
        used = {k: operation for operation, k in seen.paths + seen.trees}
        if all(k in used for k in marks):
            return Run((start, end)), [used[k] for k in marks], problem
    return Run((start, end), placeholders=placeholders), [], problem


# -- sed and awk: their programs can run commands and write files -------------------------------------
_SED_SIMPLE = set("dDgGhHlnNpPqQxz=F")
_SED_LABEL_END_NEW = re.compile(r"[\s;}]")  # GNU sed 4.3+: a label ends at a blank, ';' or '}'
_SED_LABEL_END_OLD = re.compile(r"[\n;]")  # older seds (4.2, busybox): at ';' or a newline
_SED_CLASS = {":": ":]", ".": ".]", "=": "=]"}


class _SedReading:
    """One way of reading a sed script: whether ``[...]`` in a regex hides the delimiter (GNU sed
    4.x: yes, busybox and older seds: no), and where labels end. ``met`` records whether the script
    holds something the other readings would read differently, so they are tried only then."""

    def __init__(self, script: str, brackets: bool, new_labels: bool) -> None:
        self.script = script
        self.n = len(script)
        self.brackets = brackets
        self.label_end = _SED_LABEL_END_NEW if new_labels else _SED_LABEL_END_OLD
        self.met_bracket = False
        self.met_label = False

    def skip_regex(self, pos: int, delim: str, brackets: bool = True) -> int:
        """From the opening delimiter at ``pos``, the index after the closing one, or -1."""
        script, n = self.script, self.n
        pos += 1
        while pos < n and script[pos] != delim:
            c = script[pos]
            if c == "\\":
                pos += 2
                continue
            if c == "\n":
                return -1
            if c == "[" and delim != "[":
                self.met_bracket = True
                if brackets and self.brackets:
                    pos = self.skip_bracket(pos)
                    if pos < 0:
                        return -1
                    continue
            pos += 1
        return pos + 1 if pos < n else -1

    def skip_bracket(self, pos: int) -> int:
        """From the ``[`` at ``pos``, the index after its ``]`` (GNU: a backslash in it is a member,
        ``[:class:]``, ``[.x.]``, ``[=x=]`` hold a ``]``), or -1."""
        script, n = self.script, self.n
        pos += 1
        if pos < n and script[pos] == "^":
            pos += 1
        if pos < n and script[pos] == "]":
            pos += 1
        while pos < n:
            c = script[pos]
            if c == "]":
                return pos + 1
            if c == "\n":
                return -1
            if c == "[" and pos + 1 < n and script[pos + 1] in _SED_CLASS:
                end = script.find(_SED_CLASS[script[pos + 1]], pos + 2)
                if end < 0:
                    return -1
                pos = end + 2
                continue
            pos += 1
        return -1

    def label(self, i: int) -> int:
        """Past a label (``:`` ``b`` ``t`` ``T``) or ``v``'s version, from just after the letter."""
        script, n = self.script, self.n
        while i < n and script[i] in " \t":
            i += 1
        match = self.label_end.search(script, i)
        end = match.start() if match else n
        if match and match.group() not in "\n;":
            self.met_label = True
        return end

    def problem(self) -> str | None:
        script, n = self.script, self.n
        i = 0
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
                if i < n and script[i].isdigit():
                    while i < n and (script[i].isdigit() or script[i] == "~"):
                        i += 1
                elif i < n and script[i] == "$":
                    i += 1
                elif i < n and script[i] == "/":
                    i = self.skip_regex(i, "/")
                    if i < 0:
                        return "a sed address it cannot read"
                    while i < n and script[i] in "IM":
                        i += 1
                elif i < n and script[i] == "\\" and i + 1 < n:
                    i = self.skip_regex(i + 1, script[i + 1])
                    if i < 0:
                        return "a sed address it cannot read"
                    while i < n and script[i] in "IM":
                        i += 1
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
                    while i < n and script[i] in " \t":
                        i += 1
                    while i < n and script[i].isdigit():
                        i += 1
                continue
            if c in ":btTv":
                i = self.label(i + 1)
                continue
            if c in "aic":  # text to the first newline no backslash escapes (GNU's read_text)
                i += 1
                while i < n and script[i] in " \t":
                    i += 1
                if i < n and script[i] == "\\":  # `a\`: the character after the backslash is taken as is
                    i += 2
                while i < n and script[i] != "\n":
                    i += (
                        2 if script[i] == "\\" else 1
                    )  # `\\` is one backslash: it does not escape the newline
                continue
            if c in "sy":
                if i + 1 >= n:
                    return "a sed command it cannot read"
                delim = script[i + 1]
                if delim in "\n\\":
                    return "a sed command it cannot read"
                j = self.skip_regex(i + 1, delim, brackets=c == "s")  # y's parts are no regexes
                if j > 0:
                    j = self.skip_regex(j - 1, delim, brackets=False)  # the replacement is no regex
                if j < 0:
                    return "a sed command it cannot read"
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
            if c in "rR":
                return "sed r reads a file"
            return f"sed command {c!r} is not known to the policy"
        return None


#: A sed script or awk program longer than this is not read but judged dynamic: reading one is
#: linear but slow in Python (~1 s a MiB), and judging must stay quick whatever is sent.
MAX_PROGRAM = 64 * 1024


def sed_script_problem(script: str) -> str | None:
    """Why a sed script is not judged static (it runs commands, writes or reads files), or None.

    A small reader of sed's command syntax (GNU): addresses, then a command; ``s`` and ``y`` with
    their delimiters; ``a``/``i``/``c`` text; labels; blocks. Anything it does not recognise is
    refused. Where seds read a script differently (GNU takes a delimiter inside ``[...]`` as a
    member and ends a label at a blank; older seds and busybox do neither), every reading is
    searched: a command one of them sees is a command. Each reading is one linear pass, and the
    other readings are tried only when the script holds what they differ on."""
    if len(script) > MAX_PROGRAM:
        return f"a sed script over {MAX_PROGRAM} characters is not read"
    first = _SedReading(script, brackets=True, new_labels=True)
    problem = first.problem()
    if problem:
        return problem
    for brackets, new_labels in ((False, True), (True, False), (False, False)):
        if (not brackets and not first.met_bracket) or (not new_labels and not first.met_label):
            continue
        problem = _SedReading(script, brackets, new_labels).problem()
        if problem:
            return problem
    return None


_SED = _o(
    "nrEsuzb",
    "efl",
    "quiet silent regexp-extended separate unbuffered null-data posix sandbox debug "
    "follow-symlinks binary help version",
    "expression file line-length",
    "in-place",
    optional_short="i",  # -i[SUFFIX]: `-in` is a backup suffix "n", not -i -n
)


@_handles("sed")
def _sed(values: Values) -> Seen:
    """sed's script is read (its ``e``, ``w``, ``r`` commands run and open files); with ``-i`` its
    files are written, and so are their backups: ``-iSUFFIX`` appends SUFFIX to each file's name,
    or, when SUFFIX holds ``*``, replaces each ``*`` with the name (``-i'bak/*'`` writes
    ``bak/FILE``: the backup may land in another folder)."""
    scanned = scan(values, 1, _SED)
    seen = Seen(paths_known=True)
    if scanned.dynamic:
        return seen.mark("sed's arguments are computed at run time")
    if scanned.unknown:
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
    if any(script is None for script in scripts):
        return seen.mark("a sed script computed at run time")
    problem = sed_script_problem("\n".join(s for s in scripts if s is not None))  # GNU joins -e's so
    if problem and not (scanned.has("--sandbox") and re.search(r"writes|reads|runs", problem)):
        return seen.mark(problem)
    in_place = scanned.all("-i", "--in-place")
    seen.paths += [("write" if in_place else "read", i) for i in files]
    suffix = in_place[-1].value if in_place else None
    if suffix:
        for i in files:
            name = values[i] or ""
            seen.value_paths.append(("write", suffix.replace("*", name) if "*" in suffix else name + suffix))
    return seen


def awk_program_problem(program: str) -> str | None:
    """Why an awk program is not static (runs commands, reads or writes files), or None.

    Strings, regular expressions and comments are blanked first, then the program is searched
    for ``system``, pipes, ``getline``, output redirection after ``print``/``printf`` and gawk's
    ``@include``/``@load``. Over-approximate on purpose: a ``>`` after print at the top level of
    a statement counts, even where awk would read a comparison. Where awks read a program
    differently (gawk takes a ``/`` inside ``[...]`` in a regex as a member, mawk as its end),
    every reading is searched: code one of them sees is code."""
    if len(program) > MAX_PROGRAM:
        return f"an awk program over {MAX_PROGRAM} characters is not read"
    for brackets in (True, False):
        problem = _awk_text_problem(_awk_blank(program, brackets))
        if problem:
            return problem
    return None


def _awk_text_problem(text: str | None) -> str | None:
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
    if re.search(r"@\s*[A-Za-z_(]", text):
        return "a gawk indirect call (@name()) may call system() or any function by a name in a string"
    if re.search(r"\b(ARGV|ARGC|SYMTAB)\b", text):
        return "awk's program touches ARGV/ARGC, which name the files it reads"
    if re.search(r"\b(ENVIRON|PROCINFO)\b", text) and re.search(r"\bPROCINFO\b", text):
        return "awk PROCINFO changes how awk runs"
    for match in _AWK_PRINT.finditer(text):  # what follows print, to the end of its statement
        if _top_level_redirect(match.group(2)):
            return "awk print > writes a file"
    return None


_AWK_PRINT = re.compile(r"\b(print|printf)\b([^;\n{}]*)")


#: What ``_awk_blank`` leaves of the string "/dev/stdout" or "/dev/stderr" (awk's names for the
#: standard output and error, which gawk and mawk open as such); any other string becomes "".
_AWK_STDIO = '"-"'


def _top_level_redirect(rest: str) -> bool:
    """Whether ``rest`` (what follows print) redirects its output to a file: a ``>`` outside
    parentheses, unless all that follows it is the standard output or error."""
    depth = 0
    for at, c in enumerate(rest):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == ">" and depth <= 0:
            target = rest[at + 1 :].removeprefix(">").strip()
            return target != _AWK_STDIO
    return False


#: Words after which an awk expression starts: a ``/`` there opens a regular expression.
_AWK_BEFORE_OPERAND = frozenset(
    "print printf return in case do else delete exit if while for switch default function func "
    "BEGIN END BEGINFILE ENDFILE".split()
)
_AWK_CONTROL = frozenset({"if", "while", "for", "switch"})


_AWK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_AWK_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _awk_blank(program: str, brackets: bool = True) -> str | None:
    """The program with strings, regexes and comments replaced by blanks; None when it cannot be
    read. A ``/`` starts a regex where an operand may start (after an operator, ``(``, ``,``,
    ``{``, ``}``, ``;``, a newline, a keyword such as ``in`` or ``print``, the ``)`` of an ``if``),
    and divides after an operand (a name, a number, a string, ``)``, ``]``, a postfix ``++``)."""
    out: list[str] = []
    i, n = 0, len(program)
    operand = False  # the last token ends an operand: a / after it divides
    parens: list[bool] = []  # per open (, whether it is an if/while/for/switch condition
    last_word = ""
    while i < n:
        c = program[i]
        if c == "\\" and i + 1 < n and program[i + 1] == "\n":  # a continued line
            out.append("  ")
            i += 2
            continue
        if c in " \t\r":
            out.append(c)
            i += 1
            continue
        if c == "\n":
            out.append(c)
            operand, last_word = False, ""
            i += 1
            continue
        if c == "#":
            end = program.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == '"':
            j = i + 1
            while j < n and program[j] != '"':
                if program[j] == "\n":
                    return None
                j += 2 if program[j] == "\\" else 1
            if j >= n:
                return None
            out.append(_AWK_STDIO if program[i + 1 : j] in ("/dev/stdout", "/dev/stderr") else '""')
            i, operand, last_word = j + 1, True, ""
            continue
        if c == "/" and not operand:
            j = i + 1
            in_bracket = False
            while j < n and (program[j] != "/" or in_bracket):
                if program[j] == "\n":
                    return None
                if program[j] == "\\":
                    j += 2
                    continue
                if brackets and program[j] == "[" and not in_bracket:
                    in_bracket = True
                    j += 1
                    if j < n and program[j] == "^":
                        j += 1
                    if j < n and program[j] == "]":  # a ] first in a bracket is a member
                        j += 1
                    continue
                if program[j] == "]":
                    in_bracket = False
                j += 1
            if j >= n:
                return None
            out.append("//")
            i, operand, last_word = j + 1, True, ""
            continue
        word = _AWK_NAME.match(program, i)
        if word:
            text = word.group(0)
            out.append(text)
            i += len(text)
            operand, last_word = text not in _AWK_BEFORE_OPERAND, text
            continue
        number = _AWK_NUMBER.match(program, i)
        if number:
            out.append(number.group(0))
            i += len(number.group(0))
            operand, last_word = True, ""
            continue
        if program.startswith(("++", "--"), i):
            out.append(program[i : i + 2])
            i += 2
            last_word = ""
            continue  # postfix after an operand (still one), prefix before one (still none)
        out.append(c)
        i += 1
        if c == "(":
            parens.append(last_word in _AWK_CONTROL)
            operand = False
        elif c == ")":
            operand = not (parens.pop() if parens else False)
        elif c == "]":
            operand = True
        else:
            operand = False
        last_word = ""
    return "".join(out)


_AWK = _o(
    "bcCghMNnOPrsStVkY",
    "FvfEilWe",
    "characters-as-bytes traditional copyright gen-pot help bignum use-lc-numeric non-decimal-data "
    "optimize posix re-interval no-optimize sandbox lint-old version trace csv",
    "field-separator assign file exec include load source",
    "dump-variables debug lint pretty-print profile",
    optional_short="LdDop",  # gawk -d[FILE], -o[FILE], -p[FILE] write FILE (or a default one)
)
#: gawk's options that write a file, and the file when none is named.
_AWK_WRITES = {
    "-d": "awkvars.out",
    "--dump-variables": "awkvars.out",
    "-o": "awkprof.out",
    "--pretty-print": "awkprof.out",
    "-p": "awkprof.out",
    "--profile": "awkprof.out",
}


@_handles("awk")
def _awk(values: Values) -> Seen:
    """awk's program (``-e``/``--source`` texts, or the first operand) is read for commands,
    pipes and redirections; its other operands are files read. Options that load a program from
    a file (``-f``, ``-E``, ``-i``, ``-l``, mawk's ``-W exec``) or start a debugger are refused."""
    seen = Seen(paths_known=True)
    scanned = scan(values, 1, _AWK, permute=False)
    if scanned.dynamic:
        return seen.mark("awk's arguments are computed at run time")
    if scanned.unknown:
        return seen.mark(f"awk option {scanned.unknown} is not known to the policy")
    for option in scanned.options:
        if option.name in ("-f", "--file", "-E", "--exec", "-i", "--include", "-l", "--load", "-W"):
            return seen.mark(f"awk {option.name} runs or loads a program from a file")
        if option.name in ("-D", "--debug"):
            return seen.mark("awk -D runs its debugger")
        if option.name in _AWK_WRITES:
            seen.value_paths.append(("write", option.value or _AWK_WRITES[option.name]))
    programs = [o.value for o in scanned.all("-e", "--source")]
    operands = list(scanned.positionals)
    if not programs:
        if not operands:
            return seen
        programs = [values[operands[0]]]
        operands = operands[1:]
    for program in programs:
        if program is None:
            return seen.mark("an awk program computed at run time")
        if problem := awk_program_problem(program):
            return seen.mark(problem)
    # NAME=VALUE among the operands is an assignment awk makes when it reaches it, not a file: its
    # value is data to a program judged static (no file or command it names is opened)
    seen.paths += [("read", j) for j in operands if not _AWK_ASSIGNMENT.match(values[j] or "")]
    return seen


_AWK_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


#: Package managers' options that run commands or load another configuration (which can):
#: ``apt-get -o APT::Update::Pre-Invoke::=CMD``, ``dpkg --pre-invoke=CMD``, ``rpm --eval '%(CMD)'``.
_PACKAGE_DANGER: dict[str, tuple[str, ...]] = {
    "apt": ("-o", "-c", "--option", "--config-file"),
    "apt-get": ("-o", "-c", "--option", "--config-file"),
    "apt-cache": ("-o", "-c", "--option", "--config-file"),
    "apt-mark": ("-o", "-c", "--option", "--config-file"),
    "dpkg": ("--pre-invoke", "--post-invoke", "--status-logger", "--instdir", "--root", "--admindir"),
    "dpkg-query": ("--admindir", "--root", "--load-avail"),
    "rpm": (
        "-E",
        "--eval",
        "-D",
        "--define",
        "--macros",
        "--rcfile",
        "--pipe",
        "--dbpath",
        "--root",
        "--load",
    ),
    "yum": ("-c", "--config", "--setopt", "--installroot", "--enableplugin"),
    "dnf": ("-c", "--config", "--setopt", "--installroot", "--enableplugin"),
    "zypper": ("-c", "--config", "-R", "--root"),
    "snap": ("run",),
    "flatpak": ("run",),
}


@_handles(*_PACKAGE_DANGER)
def _package_manager(values: Values) -> Seen:
    """Arguments are package names, not files here; what installing does is the rules' to decide.
    Options that run commands or read another configuration are refused."""
    name = _name(values)
    danger = _PACKAGE_DANGER[name]
    for word in values[1:]:
        if word is None:
            return Seen().mark(f"{name}'s arguments are computed at run time")
        short = {d[1] for d in danger if not d.startswith("--") and d.startswith("-")}
        if (
            word in danger
            or long_option(word, *(d[2:] for d in danger if d.startswith("--")))
            # short options bundle (-qo X, -yc FILE): any letter of the word may be one
            or (word.startswith("-") and not word.startswith("--") and bool(short & set(word[1:])))
        ):
            return Seen().mark(f"{name} {word[:20]} runs commands or reads another configuration")
    return Seen(paths_known=True)


# -- compilers, loaders and build tools: they run code -----------------------------------------------

#: C-family compilers, preprocessors, assemblers, linkers and macro processors (``cc``, ``gcc-12``,
#: ``x86_64-linux-gnu-g++``, ``clang++-17``, ``cpp``, ``m4``): an interpreter with a step between.
#: Their plugins (``-fplugin``, ``-wrapper``, ``-B``, specs files, linker ``-plugin``) run code
#: now, what they build runs later, and what a source ``#include``s (or m4 ``include``s,
#: ``syscmd``s) is read or run without appearing in the command.
_COMPILER = re.compile(
    r"(?:[\w.]+-)*(?:cc|c\+\+|gcc|g\+\+|cpp|clang|clang\+\+|clang-cpp|tcc|gfortran|gccgo|f77|f95|icc|icpc|"
    r"icx|icpx|nvcc|emcc|zig|m4|gm4|ld|ld\.bfd|ld\.gold|ld\.lld|lld|ld64\.lld|gold|mold|as|gas|nasm|yasm|"
    r"rustc|javac|swiftc|ghc|gnat|gnatmake|dmd|ldc2|gdc|cobc|fpc|valac|ocamlc|ocamlopt|tinycc|c89|c99|c11|"
    r"c17|cc1|cc1plus|collect2|lto-wrapper|rustdoc|kotlinc-native|jar|gccgo)(?:-[\d.]+)?"
)
_COMPILER_INFO = re.compile(r"--?(version|help|v|dumpversion|dumpfullversion|dumpmachine|print-[\w-]+)(=.*)?")
_COMPILER_LOADS = re.compile(
    r"-(wrapper|fplugin\S*|B\S*|-?specs\S*|Xclang|fpass-plugin\S*|plugin\S*|load|Xlinker|Wl,.*plugin.*|"
    r"-plugin\S*|fload-pass\S*|iplugindir\S*|-sysroot\S*|isysroot|-gcc-toolchain\S*|-target\S*|"
    r"-freeze-state\S*|-reload-state\S*|F|R)|@.*"
)


def _compiler(values: Values) -> Seen:
    name = _name(values)
    words = values[1:]
    if words and all(w is not None and _COMPILER_INFO.fullmatch(w) for w in words):
        return Seen(paths_known=True)  # cc --version: reports, compiles nothing
    if any(w is None for w in words):
        return Seen().mark(f"{name}'s arguments are computed at run time")
    loads = next((w for w in words if w is not None and _COMPILER_LOADS.fullmatch(w)), None)
    if loads is not None:
        return Seen().mark(f"{name} {loads[:20]} loads or runs other programs")
    operands = [w for w in words if w is not None and (w == "-" or not w.startswith("-"))]
    stdin_default = re.search(r"(cpp|m4|as|gas|nasm|yasm)(-[\d.]+)?$", name) is not None
    if any(o in ("-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0") for o in operands) or (
        stdin_default and not operands
    ):
        return Seen().mark(f"{name} reads code from standard input: what it includes or runs is not known")
    seen = Seen(opaque=f"{name} compiles code that may run or read other files, which the policy cannot read")
    for i, word in enumerate(values[1:], 1):
        if word == "-o" and i + 1 < len(values):
            seen.paths.append(("write", i + 1))
        elif word is not None and word.startswith("-o") and len(word) > 2:
            seen.value_paths.append(("write", word[2:]))
    return seen


#: The dynamic loader run as a program: ``ld.so [OPTIONS] PROGRAM [ARGS]`` runs PROGRAM; its
#: ``--preload``/``--audit``/``--library-path`` load the libraries they name into it.
_LOADER = re.compile(r"ld(-linux)?([-\w.]*)?\.so(\.\d+)*|ld-musl-[\w.-]+\.so(\.\d+)*|ld64\.so(\.\d+)*")
_LOADER_INFO = frozenset(
    {"--list", "--verify", "--help", "--version", "--list-tunables", "--list-diagnostics"}
)
_LOADER_VALUES = frozenset(
    {
        "--library-path",
        "--glibc-hwcaps-prepend",
        "--glibc-hwcaps-mask",
        "--inhibit-rpath",
        "--audit",
        "--preload",
        "--argv0",
    }
)


def _loader(values: Values) -> Seen:
    name = _name(values)
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return Seen().mark(f"{name}'s arguments are computed at run time")
        if word in ("--preload", "--audit", "--library-path", "--glibc-hwcaps-prepend"):
            return Seen().mark(f"{name} {word} loads the libraries it names")
        if word in _LOADER_INFO:
            return Seen(paths_known=True, paths=[("read", k) for k in range(i + 1, len(values))])
        if not word.startswith("--"):
            break
        if word not in _LOADER_VALUES and word != "--inhibit-cache":
            return Seen().mark(f"{name} option {word} is not known to the policy")
        i += 2 if word in _LOADER_VALUES else 1
    seen = Seen(paths_known=True)
    if i < len(values):
        seen.runs.append(Run((i, len(values))))
    return seen


#: Build tools and package managers: they run the project's code (build scripts, tests, package
#: hooks), which the policy cannot read: only an allow rule naming them lets them run. The
#: subcommands listed here only report.
_BUILDERS: dict[str, frozenset[str]] = {
    name: frozenset(safe.split())
    for name, safe in {
        "go": "version help doc",
        "cargo": "version help tree metadata search",
        "java": "",
        "javaw": "",
        "kotlin": "",
        "kotlinc": "",
        "mvn": "",
        "gradle": "",
        "gradlew": "",
        "ant": "",
        "sbt": "",
        "npm": "ls list ll la view info show v outdated help version search prefix root bin ping whoami",
        "yarn": "--version",  # yarn 2+ loads plugins from the project
        "pnpm": "list ls why outdated help",
        "npx": "",
        "pnpx": "",
        "bunx": "",
        "pip": "list show freeze help check inspect index",
        "pip3": "list show freeze help check inspect index",
        "pipx": "list help environment",
        "uv": "help version tree",
        "uvx": "",
        "poetry": "--version",
        "pdm": "--version",
        "hatch": "version help",
        "tox": "",
        "nox": "",
        "gem": "list search help spec contents which info query",
        "bundle": "--version",  # reads the Gemfile, which is Ruby
        "bundler": "--version",
        "rake": "",
        "composer": "--version",  # loads the project's plugins
        "dotnet": "--info --version --list-sdks --list-runtimes",
        "swift": "--version",
        "cmake": "--version --help",
        "meson": "--version",
        "ninja": "--version",
        "bazel": "version help",
        "bazelisk": "version help",
        "scons": "",
        "just": "--list -l --summary --help --version",
        "mix": "",
        "rebar3": "version",
        "stack": "--version",
        "cabal": "--version",
        "dune": "--version",
        "pytest": "--version",
        "tsc": "--version",
        "ansible-playbook": "--version",
        "terraform": "version",
    }.items()
}


def _builder(values: Values) -> Seen:
    name = _name(values)
    safe = _BUILDERS[name if name in _BUILDERS else family(name)]
    words = [w for w in values[1:] if w is not None]
    first = next((w for w in words if not w.startswith("-")), None)
    if (first in safe and not any(w.startswith("-") and w not in safe for w in words[:1])) or (
        words and all(w in safe for w in words)
    ):
        return Seen(paths_known=True)
    return Seen(
        opaque=f"{name} runs the project's code (build scripts, tests, hooks), which the policy cannot read"
    )


def _code_runner(values: Values) -> Seen | None:
    """Compilers, the dynamic loader and build tools, found by name (``gcc-12``,
    ``ld-linux-x86-64.so.2``), or None for any other program."""
    name = _name(values)
    if name in _BUILDERS or family(name) in _BUILDERS:
        return _builder(values)
    if _LOADER.fullmatch(name):
        return _loader(values)
    if _COMPILER.fullmatch(name):
        return _compiler(values)
    return None


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


def _kubectl_template_file(output: str, seen: Seen) -> None:
    """``-o jsonpath-file=FILE`` / ``go-template-file=FILE`` / ``--template FILE`` read FILE as
    the template (and print it back in errors)."""
    match = re.fullmatch(r"(?:jsonpath|go-template|template)-file=(.+)", output)
    if match:
        seen.value_paths.append(("read", match.group(1)))


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
            if name in ("filename", "kustomize", "output", "template") and not eq and i + 1 < len(values):
                value = values[i + 1] or ""
                i += 1
            if name in ("filename", "kustomize") and value not in ("-", "") and "://" not in value:
                seen.value_paths.append(("read", value))
            _kubectl_template_file(value if name in ("output", "template") else "", seen)
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
                    if letter == "o":
                        _kubectl_template_file(value, seen)
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


_PSQL_SHORT_VALUES = "cdfFhLopPRTUv"


@_handles("psql")
def _psql(values: Values) -> Seen:
    """psql runs SQL given with ``-c`` (its backslash commands, but for a few that only describe,
    can run programs and write files); ``-f``, ``-o``, ``-L`` and without ``-c`` standard input
    run or write files. Short options bundle (``-Atc SQL``), long ones abbreviate (``--out``)."""
    seen = Seen(paths_known=True)
    command = False
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("psql's arguments are computed at run time")
        nxt = values[i + 1] if i + 1 < len(values) else None
        letter, value, separate = "", None, False
        if word.startswith("--"):
            full = long_option(word, "command", "file", "output", "log-file", "list", "version", "help")
            letter = {"command": "c", "file": "f", "output": "o", "log-file": "L", "list": "l"}.get(
                full or "", ""
            )
            if full in ("version", "help"):
                command = True
            value, separate = (word.partition("=")[2], False) if "=" in word else (nxt, True)
        elif word.startswith("-") and len(word) > 1:
            letters = word[1:]
            k = next((k for k, c in enumerate(letters) if c in _PSQL_SHORT_VALUES), None)
            command = command or bool(set(letters[: k if k is not None else len(letters)]) & set("lV?"))
            if k is not None:
                letter, value, separate = letters[k], letters[k + 1 :] or nxt, not letters[k + 1 :]
        if letter in ("f", "o", "L"):
            return seen.mark(f"psql {word[:10]} runs a file or writes one")
        if letter == "c":
            if value is None or ("\\" in value and not _PSQL_SAFE.fullmatch(value.strip())):
                return seen.mark("a psql backslash command can run programs and write files")
            command = True
        i += 2 if separate and (letter or word[1:2] in _PSQL_SHORT_VALUES) else 1
    if not command:
        return seen.mark("psql without -c reads commands from standard input")
    return seen


_MYSQL_SHORT_VALUES = "eDhPpuSOcT"  # -p takes its password attached only, but never the next word
_MYSQL_DANGER = (
    "pager",
    "tee",
    "defaults-file",
    "defaults-extra-file",
    "defaults-group-suffix",
    "plugin-dir",
    "default-auth",
    "init-command",
    "load-data-local-dir",
    "local-infile",
    "init-command-add",
)


@_handles("mysql", "mariadb")
def _mysql(values: Values) -> Seen:
    """mysql runs SQL given with ``-e``; its client commands (``system``, ``source``, ``tee``,
    ``pager``) run programs and open files, and so do options naming a pager, a log, another
    configuration or plugins. Without ``-e`` it reads commands from standard input."""
    executes: list[str | None] = []
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return Seen().mark("mysql's arguments are computed at run time")
        nxt = values[i + 1] if i + 1 < len(values) else None
        if word.startswith("--"):
            if long_option(word, *_MYSQL_DANGER):
                return Seen().mark(f"mysql {word[:20]} runs a program or reads or writes another file")
            if long_option(word, "execute"):
                executes.append(word.partition("=")[2] if "=" in word else nxt)
        elif word.startswith("-") and len(word) > 1:
            letters = word[1:]
            k = next((k for k, c in enumerate(letters) if c in _MYSQL_SHORT_VALUES), None)
            if k is not None and letters[k] == "e":
                executes.append(letters[k + 1 :] or nxt)
    if not executes:
        return Seen().mark("mysql without -e reads commands from standard input")
    for value in executes:
        if value is None or re.search(
            r"\\|\b(system|source|tee|pager|prompt|edit)\b|\blocal\s+infile\b", value, re.I
        ):
            return Seen().mark("a mysql client command can run programs and read or write files")
    return Seen(paths_known=True)


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


_CURL_SHORT_VALUES = "AbcCdDeEFhHKmoPQrTtuUwxXyYz"  # curl's short options that take a value
_CURL_LONG = sorted(
    {o[2:] for o in (*_CURL_WRITES, *_CURL_READS, *_CURL_DATA) if o.startswith("--")}
    | {
        "config",
        "remote-name",
        "remote-name-all",
        "remote-header-name",
        "output-dir",
        "write-out",
        "header",
        "proxy-header",
        "etag-compare",
        "variable",
        "url-query",
        "capath",
        "crlfile",
        "proxy-cacert",
        "proxy-cert",
        "proxy-key",
        "time-cond",
        "create-dirs",
        "unix-socket",
        "abstract-unix-socket",
        "proxy-capath",
        "proxy-crlfile",
        "request-target",
        "next",
    }
)


def _curl_options(values: Values) -> list[tuple[int, str, str | None, bool]]:
    """curl's options as (word index, name, value, value is the next word): bundled short options
    (``-sSLo FILE``) split, unique prefixes of long ones (``--outp``: curl 7 takes them) resolved."""
    out: list[tuple[int, str, str | None, bool]] = []
    for i, word in enumerate(values[1:], 1):
        if word is None or not word.startswith("-") or word == "-":
            continue
        nxt = values[i + 1] if i + 1 < len(values) else None
        if word.startswith("--"):
            given, eq, attached = word[2:].partition("=")
            full = long_option("--" + given, *_CURL_LONG) or given
            out.append((i, "--" + full, attached if eq else nxt, not eq))
            continue
        for k, letter in enumerate(word[1:], 1):
            if letter in _CURL_SHORT_VALUES:
                rest = word[k + 1 :]
                out.append((i, "-" + letter, rest or nxt, not rest))
                break
            out.append((i, "-" + letter, None, False))
    return out


@_handles("curl")
def _curl(values: Values) -> Seen:
    seen = Seen(paths_known=True)
    for word in values[1:]:
        if word is not None and word.lower().startswith(("file:", "dict:", "gopher:")):
            seen.value_paths.append(("read", word.split(":", 1)[1].lstrip("/").join(("/", ""))))
            seen.mark(f"curl {word.split(':')[0]}: URLs read local files or speak raw protocols")
    for _, name, value, _ in _curl_options(values):
        if name in ("-K", "--config"):
            return seen.mark("curl -K reads options from a file")
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
        ):
            seen.unknown_writes = "curl -O names the file it writes after the URL"
        if (
            name in (*_CURL_DATA, "-w", "--write-out", "-H", "--header", "--variable", "--url-query")
            and value
        ):
            text = (
                value.split("=", 1)[-1]
                if name in ("-F", "--form", "--data-urlencode", "--variable")
                else value
            )
            if text.startswith(("@", "<")) and text[1:] != "-":
                seen.value_paths.append(("read", text[1:]))
    return seen


_WGET_SHORT_VALUES = "oaeOiBtTwPDlARXIQUYCch"


@_handles("wget")
def _wget(values: Values) -> Seen:
    """wget writes the file it names after the URL unless ``-O`` names one; ``-e``/``--execute``
    runs wgetrc commands (which can name other files and programs). Bundled short options
    (``-qO FILE``) and abbreviated long ones (``--output-doc``) count."""
    seen = Seen(paths_known=True)
    explicit = False
    for i, word in enumerate(values[1:], 1):
        if word is None or not word.startswith("-") or word == "-":
            continue
        nxt = values[i + 1] if i + 1 < len(values) else None
        if word.startswith("--"):
            full = long_option(
                word,
                "execute",
                "config",
                "use-askpass",
                "output-document",
                "output-file",
                "append-output",
                "input-file",
                "load-cookies",
                "save-cookies",
                "certificate",
                "private-key",
                "ca-certificate",
                "post-file",
                "body-file",
                "directory-prefix",
                "warc-file",
                "rejected-log",
                "hsts-file",
                "ca-directory",
                "crl-file",
                "keep-session-cookies",
            )
            value = word.partition("=")[2] if "=" in word else nxt
            letter = {
                "execute": "e",
                "config": "e",
                "use-askpass": "e",
                "output-document": "O",
                "output-file": "o",
                "append-output": "a",
                "input-file": "i",
                "load-cookies": "i",
                "certificate": "i",
                "private-key": "i",
                "ca-certificate": "i",
                "post-file": "i",
                "body-file": "i",
                "save-cookies": "o",
                "warc-file": "o",
                "rejected-log": "o",
                "hsts-file": "o",
                "directory-prefix": "P",
                "ca-directory": "i",
                "crl-file": "i",
            }.get(full or "")
        else:
            letters = word[1:]
            if letters.startswith("n"):  # -nv, -nc, -nd, -nH, -np: flags
                continue
            k = next((k for k, c in enumerate(letters) if c in _WGET_SHORT_VALUES), None)
            if k is None:
                continue
            letter = letters[k]
            value = letters[k + 1 :] or nxt
        if letter == "e":
            return seen.mark(f"wget {word[:16]} runs commands or reads another configuration")
        if value is None:
            continue
        if letter in ("O", "o", "a") and value != "-":
            seen.value_paths.append(("write", value))
        elif letter == "P":
            seen.value_paths.append(("write", value.rstrip("/") + "/**"))
        elif letter == "i":
            seen.value_paths.append(("read", value))
        explicit = explicit or letter == "O"
    if not explicit:
        seen.unknown_writes = "wget names the file it writes after the URL"
    return seen


_TCPDUMP = _o(
    "aAbdDefhHIjKlLnNOpqStuUvxXY#",
    "BcCEFGimMrsTVwWyzZQJ",
    "number print immediate-mode list-time-stamp-types micro nano version help monitor-mode "
    "list-interfaces list-data-link-types",
    "time-stamp-type time-stamp-precision buffer-size interface relinquish-privileges direction "
    "snapshot-length count linktype print-sampling lengths skip",
)


@_handles("tcpdump")
def _tcpdump(values: Values) -> Seen:
    """tcpdump ``-r``/``-F``/``-V``/``-m`` read files, ``-w`` writes one, ``-z`` runs a command on
    each file it writes (``-E``/``-M`` may read secrets from a file)."""
    scanned = scan(values, 1, _TCPDUMP)
    if scanned.has("-z"):
        return Seen().mark("tcpdump -z runs a command on each file")
    if scanned.unknown or scanned.dynamic:
        return Seen()  # every word may be a file
    seen = Seen(paths_known=True)
    for option in scanned.all("-w", "-r", "-F", "-V", "-m"):
        _value_path(seen, "write" if option.name == "-w" else "read", option)
    for option in scanned.all("-E", "-M"):
        if (option.value or "").startswith("file:"):
            seen.value_paths.append(("read", (option.value or "")[5:]))
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


@_handles("service")
def _service(values: Values) -> Seen:
    """service runs ``/etc/init.d/NAME`` (without systemd): a NAME holding ``/`` is any program."""
    for word in values[1:]:
        if word is None or "/" in word or word in (".", ".."):
            return Seen().mark(f"service {str(word)[:20]!r} may run a program outside /etc/init.d")
    return Seen(paths_known=True)


#: Container and chart tools' global options that change nothing but output: any other option
#: before the subcommand may name another configuration (``docker --config DIR``, whose
#: config.json names plugin folders and credential helpers it runs), daemon or context (``-H
#: ssh://`` runs ssh), or a program (``podman --conmon``, ``--runtime``, ``--hooks-dir``).
_CONTAINER_SAFE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "docker": (frozenset("-D --debug --tls --tlsverify -v --version -h --help".split()),
               frozenset("-l --log-level".split())),
    "podman": (frozenset("-v --version -h --help".split()), frozenset("--log-level".split())),
    "nerdctl": (frozenset("--debug --debug-full -v --version -h --help".split()),
                frozenset("-n --namespace".split())),
    "crictl": (frozenset("-D --debug -v --version -h --help".split()), frozenset("-t --timeout".split())),
    "ctr": (frozenset("--debug -v --version -h --help".split()),
            frozenset("-n --namespace --timeout".split())),
}  # fmt: skip
#: helm's flags (allowed anywhere): a kubeconfig's ``exec`` runs a program; a post-renderer is one.
_HELM_DANGER = ("kubeconfig", "post-renderer", "registry-config", "repository-config", "repository-cache",
                "kube-context", "burst-limit")  # fmt: skip


@_handles(*_CONTAINER_SAFE)
def _container_cli(values: Values) -> Seen:
    name = _name(values)
    flags, valued = _CONTAINER_SAFE[name]
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return Seen().mark(f"{name}'s arguments are computed at run time")
        if not word.startswith("-"):
            break
        if word in flags or (word.split("=", 1)[0] in valued and "=" in word):
            i += 1
        elif word in valued:
            i += 2
        else:
            return Seen().mark(f"{name} {word[:20]} may name another configuration, daemon or program")
    if any(v is None for v in values[i:]):
        return Seen().mark(f"{name}'s arguments are computed at run time")
    return Seen(paths_known=True)


@_handles("helm")
def _helm(values: Values) -> Seen:
    words = values[1:]
    if any(w is None for w in words):
        return Seen().mark("helm's arguments are computed at run time")
    if "plugin" in words or any(long_option(w, *_HELM_DANGER) for w in words):
        return Seen().mark("helm runs a plugin, a post-renderer or another kubeconfig's programs")
    return Seen(paths_known=True)


@_handles(
    "df",
    "lsof",
    "mount",
    "pg_isready",
)
def _no_local_files(values: Values) -> Seen:
    """Programs whose arguments are names of units, packages, images or hosts, not files here;
    what they may do is the rules' to decide."""
    return Seen(paths_known=True)


# Tools whose operands are not local files (units, hosts, interfaces, PIDs) but whose options
# read, write or run one: ``dmesg -F FILE`` prints FILE, ``ss -F FILE`` and ``ip -batch FILE``
# echo its lines in their errors, ``ss -D FILE`` writes. ``operands`` says what their operands
# are when they are files (``who FILE``). An option the table does not know may take a file:
# then every word counts as one (mentions).
@dataclass(frozen=True)
class _Tool:
    spec: Options
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    trees: frozenset[str] = frozenset()  # options naming a folder read below (--sysroot DIR)
    runs: frozenset[str] = frozenset()
    operands: PathOp | None = None


def _t(
    spec: Options,
    *,
    reads: str = "",
    writes: str = "",
    trees: str = "",
    runs: str = "",
    operands: PathOp | None = None,
) -> _Tool:
    return _Tool(
        spec,
        frozenset(reads.split()),
        frozenset(writes.split()),
        frozenset(trees.split()),
        frozenset(runs.split()),
        operands,
    )


_PGREP = _t(
    _o(
        "lavwcfinoxLAe" + _DIGITS,
        "dgGOPstuUFr",
        "list-name list-full inverse lightweight count full ignore-case newest oldest exact logpidfile "
        "ignore-ancestors echo help version require-handler",
        "delimiter pgroup group older parent session terminal euid uid pidfile runstates cgroup ns nslist "
        "signal queue",
    ),
    reads="-F --pidfile",
)
_TOOLS: dict[str, _Tool] = {
    "dmesg": _t(
        _o(
            "CcDEHJkPprSuwWxdeTth",
            "Ffln s",
            "clear read-clear console-off console-on human json kernel nopager force-prefix raw noescape "
            "syslog userspace follow follow-new decode show-delta reltime ctime notime help version",
            "file facility level console-level buffer-size time-format since until",
            "color",
            optional_short="L",
        ),
        reads="-F --file",
    ),
    "ss": _t(
        _o(
            "dhaletuwxnro460spTbEmMivVzZKHSO",
            "fADFN",
            "numeric resolve all listening options extended memory processes threads info summary bpf events "
            "context contexts tcp mptcp sctp udp dccp raw unix vsock xdp tipc packet kill no-header oneline "
            "tipcinfo tos cgroup inet-sockopt help version ipv4 ipv6",
            "family query socket diag filter net",
        ),
        reads="-F --filter",
        writes="-D --diag",
    ),
    "findmnt": _t(
        _o(
            "smkAabCcDefiJlnPRrUuvyxhV",
            "wdFNOoSTMt",
            "fstab mtab kernel all ascii bytes nocanonicalize canonicalize df evaluate first-only invert "
            "json list noheadings output-all pairs pseudo shadowed submounts raw real tree uniq "
            "notruncate nofsroot shell verify verbose vfs-all help version",
            "timeout direction tab-file task options output source target mountpoint types",
            "poll",
            optional_short="p",
        ),
        reads="-F --tab-file",
    ),
    "lscpu": _t(
        _o(
            "abBcJrxyhV",
            "s",
            "all online bytes offline json raw hex physical help version output-all",
            "sysroot",
            "caches extended parse",
            optional_short="Cep",
        ),
        trees="-s --sysroot",
    ),
    "lsblk": _t(
        _o(
            "ADJMOPSabdfilmnprstyzhV",
            "EIeowx",
            "noempty discard json merge output-all pairs scsi all bytes nodeps fs ascii list perms "
            "noheadings paths raw inverse topology shell zoned help version",
            "dedup include exclude output width sort sysroot",
            "tree",
            optional_short="T",
        ),
        trees="--sysroot",
    ),
    "hostname": _t(
        _o(
            "aAbdfiIsyvV",
            "F",
            "alias all-fqdns boot domain fqdn long ip-address all-ip-addresses short yp nis",
            "file",
        ),
        reads="-F --file",
    ),
    "last": _t(
        _o(
            "adFiRwxV" + _DIGITS,
            "fnstp",
            "hostlast dns fulltimes ip nohostname fullnames system help version",
            "file limit since until present time-format",
        ),
        reads="-f --file",
    ),
    "who": _t(
        _o(
            "abdHlmpqrstTuw",
            "",
            "all boot dead heading login lookup mesg message process count "
            "runlevel short time users writable ips help version",
        ),
        operands="read",
    ),
    "users": _t(_o(), operands="read"),
    "utmpdump": _t(
        _o("frV", "o", "follow reverse help version", "output"), writes="-o --output", operands="read"
    ),
    "pgrep": _PGREP,
    "pkill": _PGREP,
    "pidwait": _PGREP,
}


@_handles(*_TOOLS)
def _tool(values: Values) -> Seen:
    name = _name(values)
    tool = _TOOLS[name]
    scanned = scan(values, 1, tool.spec)
    if scanned.unknown or scanned.dynamic:
        return Seen()  # an option it does not know may name a file: every word counts
    seen = Seen(paths_known=True)
    for option in scanned.options:
        if option.name in tool.runs:
            seen.mark(f"{name} {option.name} runs a program")
        if option.value is None:
            continue
        if option.name in tool.reads:
            _value_path(seen, "read", option)
        elif option.name in tool.writes:
            _value_path(seen, "write", option)
        elif option.name in tool.trees:
            seen.value_paths.append(("read", option.value.rstrip("/") + "/**"))
    if tool.operands is not None:
        seen.paths += [(tool.operands, i) for i in scanned.positionals]
    return seen


_REDIS_READS = frozenset({"--eval", "--cacert", "--cert", "--key", "--cacertdir", "--tls-ciphers"})
_REDIS_WRITES = frozenset({"--rdb", "--functions-rdb"})


@_handles("redis-cli")
def _redis_cli(values: Values) -> Seen:
    """redis-cli takes whole option words (``--rdb FILE``, no prefixes); ``--rdb`` writes a dump
    of the server, ``--eval`` reads a script. Its other words are a command for the server."""
    seen = Seen(paths_known=True)
    for i, word in enumerate(values[1:], 1):
        if (word in _REDIS_READS or word in _REDIS_WRITES) and i + 1 < len(values):
            seen.paths.append(("read" if word in _REDIS_READS else "write", i + 1))
    return seen


@_handles("ip")
def _ip(values: Values) -> Seen:
    """``ip [OPTIONS] OBJECT COMMAND``: ``-batch FILE`` (any prefix, ``-b``) runs the commands in
    FILE and prints its lines in errors; ``ip netns exec NAME CMD`` and ``ip vrf exec NAME CMD``
    run CMD. ip matches objects and commands by prefix (``ip netn e``)."""
    seen = Seen(paths_known=True)
    i = 1
    every = False
    while i < len(values):
        word = values[i]
        if word is None:
            return seen.mark("ip's arguments are computed at run time")
        if not word.startswith("-") or word == "-":
            break
        option = word[1:] if word.startswith("--") else word
        if len(option) >= 2 and "-batch".startswith(option) and not option.startswith("-br"):
            if i + 1 < len(values):
                seen.paths.append(("read", i + 1))
            i += 2
            continue
        every = every or (len(option) >= 2 and "-all".startswith(option))
        i += 2 if option in ("-f", "-family", "-l", "-loops", "-n", "-netns", "-rc", "-rcvbuf") else 1
    words = values[i:]
    if len(words) >= 2 and words[0] and words[1]:
        netns = len(words[0]) >= 3 and "netns".startswith(words[0])
        if (netns or "vrf".startswith(words[0])) and "exec".startswith(words[1]):
            start = i + 2 if every and netns else i + 3
            if start < len(values):
                seen.runs.append(Run((start, len(values))))
    if "file" in words:  # ip monitor file FILE
        k = i + words.index("file") + 1
        if k < len(values):
            seen.paths.append(("read", k))
    return seen


@_handles("dig", "host", "nslookup", "delv", "kdig")
def _dns(values: Values) -> Seen:
    """DNS lookups: names and servers, but ``dig -f FILE`` looks up every line of FILE (and
    prints them), ``-k FILE`` reads a key."""
    seen = Seen(paths_known=True)
    for i, word in enumerate(values[1:], 1):
        if word is None or not word.startswith("-") or len(word) < 2:
            continue
        if word[1] in "fk":
            if len(word) > 2:
                seen.value_paths.append(("read", word[2:]))
            elif i + 1 < len(values):
                seen.paths.append(("read", i + 1))
    return seen


#: journalctl actions that rotate, delete or write the journal (or keys, the catalog)
_JOURNALCTL_CHANGES = (
    "vacuum-size vacuum-files vacuum-time rotate flush relinquish-var smart-relinquish-var "
    "setup-keys update-catalog sync"
).split()


@_handles("journalctl")
def _journalctl(values: Values) -> Seen:
    """Reads the journal; ``--file``, ``--directory``, ``--root`` and ``--image`` read other files,
    ``--cursor-file`` writes one."""
    seen = Seen(paths_known=True)
    for i, word in enumerate(values[1:], 1):
        if word is None:
            continue
        changes = long_option(word, *_JOURNALCTL_CHANGES)
        if changes is not None:
            return seen.mark(f"journalctl --{changes} changes or deletes journal files")
        full = long_option(word, "file", "directory", "root", "image", "cursor-file")
        short = word[1] if len(word) > 1 and word[0] == "-" and word[1] != "-" else ""
        if full is None and short != "D":
            continue
        value = word.partition("=")[2] if "=" in word else (word[2:] if short and len(word) > 2 else None)
        if value is None:
            if i + 1 >= len(values):
                continue
            value = values[i + 1]
        if value is None:
            return seen.mark("journalctl reads or writes a file named at run time")
        if full == "cursor-file":
            seen.value_paths.append(("write", value))
        else:
            seen.value_paths.append(("read", value.rstrip("/") + "/**" if full != "file" else value))
    return seen


# openssl: options are single words (``-in FILE``, ``--in FILE``, ``-in=FILE``); those that load
# code (engines, providers, a configuration naming them) make it dynamic.
_OPENSSL_CODE = frozenset(
    "engine keyengine ssl_client_engine provider provider-path config conf pre post so_path".split()
)
_OPENSSL_READS = frozenset(
    "in inkey key cert certfile CAfile chainCAfile verifyCAfile CRL crl signkey kfile keyfile recip signer "
    "untrusted trusted issuer sigfile prverify verify peerkey paramfile dhparam data content sess_in "
    "psk_session extfile infiles CApath chainCApath verifyCApath cert_chain key2 cert2 dcert dkey "
    "dcert_chain dhparam reqin respin rkey rsigner VAfile".split()
)
_OPENSSL_WRITES = frozenset(
    "out keyout sess_out reqout respout keylogfile msgfile writerand signature crlout certout "
    "extracerts_out chainout cacertsout outdir".split()
)


@_handles("openssl")
def _openssl(values: Values) -> Seen:
    seen = Seen()  # an option the table does not know may name a file: every word counts
    command = next((v for v in values[1:] if v is not None and not v.startswith("-")), None)
    if command in ("engine", "s_server", "ca", "ts", "srp"):
        return seen.mark(f"openssl {command} loads code, serves files or writes files its settings name")
    for i, word in enumerate(values[1:], 1):
        if word is None or not word.startswith("-"):
            continue
        name, eq, attached = word.lstrip("-").partition("=")
        value = attached if eq else (values[i + 1] if i + 1 < len(values) else None)
        if name in _OPENSSL_CODE:
            return seen.mark(f"openssl -{name} loads code or another configuration")
        if name in ("passin", "passout", "pass", "kfile", "password") and (value or "").startswith("file:"):
            seen.value_paths.append(("read", (value or "")[5:]))
        elif name == "rand" and value is not None:
            seen.value_paths += [("read", part) for part in value.split(":") if part]
        elif name in _OPENSSL_READS or name in _OPENSSL_WRITES:
            operation: PathOp = "read" if name in _OPENSSL_READS else "write"
            if eq:
                seen.value_paths.append((operation, attached))
            elif i + 1 < len(values):
                seen.paths.append((operation, i + 1))
    return seen


# socat addresses that only talk to the network or this process's own streams; any other kind
# (EXEC, SYSTEM, OPEN, CREATE, GOPEN, a path, a PTY, ...) runs a program or opens a file.
_SOCAT_SAFE = frozenset(
    "tcp tcp4 tcp6 tcp-connect tcp4-connect tcp6-connect tcp-listen tcp4-listen tcp6-listen tcp-l tcp4-l "
    "tcp6-l udp udp4 udp6 udp-connect udp4-connect udp6-connect udp-listen udp4-listen udp6-listen "
    "udp-l udp4-l udp6-l openssl openssl-connect ssl openssl-listen ssl-l stdio stdin stdout stderr - "
    "proxy proxy-connect socks socks4 socks4a socks5".split()
)


@_handles("socat")
def _socat(values: Values) -> Seen:
    seen = Seen()
    addresses = [v for v in values[1:] if v is not None and (not v.startswith("-") or v == "-")]
    if any(v is None for v in values[1:]):
        return seen.mark("socat's addresses are computed at run time")
    for address in addresses:
        for part in address.split("!!"):
            kind = re.split(r"[:,]", part, maxsplit=1)[0].lower()
            options = part.lower().split(",")[1:]
            if kind not in _SOCAT_SAFE or any(
                o.split("=")[0] in ("exec", "system", "su", "chroot") for o in options
            ):
                return seen.mark(f"socat {part[:20]} runs a program or opens a file")
    for i, word in enumerate(values[1:], 1):
        if word in ("-lf", "-L", "-W") and i + 1 < len(values):
            seen.paths.append(("write", i + 1))
    return seen


@_handles("nc", "ncat", "netcat", "nc.traditional", "nc.openbsd")
def _netcat(values: Values) -> Seen:
    """``nc -e PROG``, ``nc -c CMD``, ``ncat --exec/--sh-exec/--lua-exec`` run a program on the
    connection; ``-o``/``--output`` write what passes to a file."""
    name = _name(values)
    seen = Seen()
    for i, word in enumerate(values[1:], 1):
        if word is None:
            continue
        if long_option(word, "exec", "sh-exec", "lua-exec"):
            return seen.mark(f"{name} {word[:12]} runs a program")
        if word.startswith("-") and not word.startswith("--") and re.search(r"[ec]", word[1:]):
            letters = word[1:]
            first_value = next((k for k, c in enumerate(letters) if c in "ecCopqswxIiOPTgGXbm"), len(letters))
            if any(c in "ec" for c in letters[: first_value + 1]):
                return seen.mark(f"{name} {word[:8]} runs a program")
        full = long_option(word, "output", "append-output", "hex-dump")
        if full is not None or word == "-o" or (word == "-x" and name == "ncat"):
            if "=" in word:
                seen.value_paths.append(("write", word.partition("=")[2]))
            elif i + 1 < len(values):
                seen.paths.append(("write", i + 1))
    return seen


@_handles("split", "csplit")
def _split(values: Values) -> Seen:
    """split and csplit read a file and write pieces named PREFIX followed by a suffix (``xaa``,
    ``xx00``): judged as writes of ``PREFIX*``; ``split --filter`` pipes each piece into a shell
    command instead."""
    name = _name(values)
    if name == "split":
        spec = _o(
            "dxeu",
            "abClnt",
            "elide-empty-files unbuffered verbose help version",
            "suffix-length additional-suffix bytes line-bytes lines number separator filter",
            "numeric-suffixes hex-suffixes",
        )
    else:
        spec = _o(
            "ksz",
            "bfn",
            "keep-files quiet silent elide-empty-files suppress-matched",
            "suffix-format prefix digits",
        )
    scanned = scan(values, 1, spec)
    if scanned.unknown:
        return Seen(unknown_writes=f"{name} writes files named after options it was given")
    if scanned.dynamic:
        return Seen().mark(f"{name}'s arguments are computed at run time")
    seen = Seen(paths_known=True)
    operands = scanned.positionals
    if scanned.has("--filter"):
        return seen.mark("split --filter runs a shell command on each piece")
    if name == "split":
        if operands[:1]:
            seen.paths.append(("read", operands[0]))
        prefix = values[operands[1]] if len(operands) > 1 else "x"
    else:
        seen.paths += [("read", i) for i in operands[:1]]
        named = scanned.has("-f", "--prefix")
        prefix = named.value if named is not None else "xx"
    if prefix is None or prefix == "":
        return seen.mark(f"{name} writes files named at run time")
    suffix = scanned.has("--additional-suffix")
    seen.value_paths.append(("write", prefix + "*" + (suffix.value or "" if suffix else "")))
    return seen


@_handles("lesskey")
def _lesskey(values: Values) -> Seen:
    """lesskey compiles key bindings (and environment settings, LESSOPEN included) for less:
    it reads its input (~/.lesskey by default) and writes ``-o FILE`` or ~/.less, which every
    later less reads."""
    scanned = scan(values, 1, _o("V", "o", "version help", "output"))
    if scanned.unknown or scanned.dynamic:
        return Seen(unknown_writes="lesskey writes the file less reads its settings from")
    seen = Seen(paths_known=True)
    output = scanned.has("-o", "--output")
    if output is not None and output.value is not None:
        _value_path(seen, "write", output)
    else:
        seen.unknown_writes = "lesskey writes ~/.less, which less reads its settings from"
    seen.paths += [("read", i) for i in scanned.positionals]
    return seen


# -- files: commands that change, read or list the files their arguments name -----------------------

_CP = _o(
    "abdfHiLlnPpRrsTuvxZ",
    "St",
    "archive attributes-only copy-contents dereference force interactive link no-clobber no-dereference "
    "parents recursive remove-destination strip-trailing-slashes symbolic-link no-target-directory "
    "verbose one-file-system debug help version keep-directory-symlink",
    "suffix target-directory no-preserve sparse",
    "backup preserve reflink update context",
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
    # cp -P/-d/-a, and -r without -L, copy a symbolic link as a link: later paths through the copy
    # reach what the link points at, as they would through `ln -s`.
    copies_links = name == "cp" and (
        bool(scanned.has("-P", "-d", "--no-dereference", "-a", "--archive"))
        or (recursive and not scanned.has("-L", "--dereference"))
    )
    seen.makes_links = (
        name in ("ln", "link") or copies_links or bool(scanned.has("-s", "--symbolic-link", "-l", "--link"))
    )
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
    seen = Seen(paths_known=True, makes_links=name == "mv")  # mv moves a symbolic link as it is
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


# Programs that read the files their arguments name. Every operand that is not an option is a file
# read, but for ``output`` (the operand it writes: ``uniq IN OUT``) and ``skip`` (leading operands
# that are not files: ``jq FILTER``); ``reads``/``writes`` are the options whose value is a file
# it reads or writes, ``runs`` those that run a program, ``recursive`` those that make it read
# whole trees (``diff -r``). Option tables from each program's --help: a flag taken for an option
# with a value swallows the next word, so the file there would never be judged.
@dataclass(frozen=True)
class _Reader:
    spec: Options
    output: int | None = None
    skip: int = 0
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    runs: frozenset[str] = frozenset()
    recursive: frozenset[str] = frozenset()
    trees: bool = False  # its operands may be folders it reads below (diff DIR DIR)
    #: options whose value is a file (or standard input, ``-``) holding the names of the files it
    #: reads (``--files0-from``, ``file -f``): those names are not known
    names: frozenset[str] = frozenset()
    response: bool = False  # binutils: an ``@FILE`` word holds more arguments (options, files)
    #: options whose value is a folder it creates files in (``sort -T``: its temporary files,
    #: judged as a new file there, ``DIR/sortXXXXXX``)
    write_dirs: frozenset[str] = frozenset()


def _r(
    spec: Options,
    output: int | None = None,
    *,
    skip: int = 0,
    reads: str = "",
    writes: str = "",
    runs: str = "",
    recursive: str = "",
    trees: bool = False,
    names: str = "",
    response: bool = False,
    write_dirs: str = "",
) -> _Reader:
    return _Reader(
        spec,
        output,
        skip,
        frozenset(reads.split()),
        frozenset(writes.split()),
        frozenset(runs.split()),
        frozenset(recursive.split()),
        trees,
        frozenset(names.split()),
        response,
        frozenset(write_dirs.split()),
    )


_SUMS = _o("bctwz", "", "binary check tag text zero ignore-missing quiet status strict warn")
_DIFF = _o(
    "qsceynyltTpriNEZbwBadv",
    "CUWFxXSIDL",
    "normal brief report-identical-files ed rcs side-by-side left-column suppress-common-lines "
    "show-c-function expand-tabs initial-tab suppress-blank-empty paginate recursive no-dereference "
    "new-file unidirectional-new-file ignore-file-name-case no-ignore-file-name-case ignore-case "
    "ignore-tab-expansion ignore-trailing-space ignore-space-change ignore-all-space ignore-blank-lines "
    "text strip-trailing-cr binary minimal speed-large-files help version",
    "width show-function-line label tabsize exclude exclude-from starting-file from-file to-file "
    "ignore-matching-lines ifdef line-format old-line-format new-line-format unchanged-line-format "
    "old-group-format new-group-format unchanged-group-format changed-group-format horizon-lines palette",
    "context unified color",
)
_READERS: dict[str, _Reader] = {
    "cat": _r(
        _o(
            "AbeEnstTuv",
            "",
            "show-all number-nonblank show-ends number squeeze-blank show-tabs show-nonprinting",
        )
    ),
    "tac": _r(_o("br", "s", "before regex", "separator")),
    "head": _r(_o("qvz" + _DIGITS, "nc", "quiet silent verbose zero-terminated", "lines bytes")),
    "tail": _r(
        _o(
            "fFqvz" + _DIGITS,
            "ncs",
            "retry quiet silent verbose zero-terminated",
            "lines bytes sleep-interval pid max-unchanged-stats",
            "follow",
        )
    ),
    "nl": _r(
        _o(
            "p",
            "bdfhilnsvw",
            "no-renumber",
            "body-numbering section-delimiter footer-numbering "
            "header-numbering line-increment join-blank-lines number-format number-separator "
            "starting-line-number number-width",
        )
    ),
    "wc": _r(
        _o("clmwL", "", "bytes chars lines words max-line-length", "files0-from total"),
        reads="--files0-from",
        names="--files0-from",
    ),
    "md5sum": _r(_SUMS),
    "sha1sum": _r(_SUMS),
    "sha224sum": _r(_SUMS),
    "sha256sum": _r(_SUMS),
    "sha384sum": _r(_SUMS),
    "sha512sum": _r(_SUMS),
    "b2sum": _r(
        _o("bctwz", "l", "binary check tag text zero ignore-missing quiet status strict warn", "length")
    ),
    "cksum": _r(
        _o(
            "cwz",
            "al",
            "check tag untagged zero ignore-missing quiet status strict warn debug base64 raw",
            "algorithm length",
        )
    ),
    "sum": _r(_o("rs", "", "sysv")),
    "base64": _r(_o("di", "w", "decode ignore-garbage", "wrap")),
    "base32": _r(_o("di", "w", "decode ignore-garbage", "wrap")),
    "basenc": _r(
        _o(
            "di",
            "w",
            "decode ignore-garbage base64 base64url base32 base32hex base16 base2msbf base2lsbf z85",
            "wrap",
        )
    ),
    "strings": _r(
        _o(
            "adfwoSv" + _DIGITS,
            "nteTsU",
            "all data print-file-name include-all-whitespace help version",
            "bytes radix encoding target output-separator unicode",
        ),
        response=True,
    ),
    "od": _r(
        _o(
            "abcdfilosxv",
            "AjNSt",
            "output-duplicates traditional",
            "address-radix endian skip-bytes read-bytes format",
            "strings width",
            optional_short="w",
        )
    ),
    "hexdump": _r(
        _o(
            "bcCdoxv",
            "efns",
            "one-byte-octal one-byte-char one-byte-hex canonical two-bytes-decimal two-bytes-octal "
            "two-bytes-hex no-squeezing",
            "format format-file length skip",
            "color",
            optional_short="L",
        ),
        reads="-f --format-file",
    ),
    "stat": _r(_o("Lft", "c", "dereference file-system terse", "format printf cached")),
    "file": _r(
        _o(
            "bcCdEhikLlNnprsSvzZ0",
            "efFmP",
            "brief checking-printout compile debug extension no-dereference mime mime-type mime-encoding "
            "keep-going list dereference no-pad no-buffer preserve-date raw special-files no-sandbox "
            "uncompress uncompress-noreport print0 apple",
            "exclude exclude-quiet files-from separator magic-file parameter",
        ),
        reads="-f --files-from -m --magic-file",
        names="-f --files-from",
    ),
    "readlink": _r(
        _o(
            "efmnqsvz",
            "",
            "canonicalize canonicalize-existing canonicalize-missing no-newline quiet silent verbose zero",
        )
    ),
    "realpath": _r(
        _o(
            "emLPqsz",
            "",
            "canonicalize-existing canonicalize-missing logical physical quiet strip no-symlinks zero",
            "relative-to relative-base",
        )
    ),
    "sort": _r(
        _o(
            "bdfgiMhnRrVcCmsuz",
            "kotST",
            "ignore-leading-blanks dictionary-order ignore-case "
            "general-numeric-sort ignore-nonprinting month-sort human-numeric-sort numeric-sort random-sort "
            "reverse version-sort merge stable unique zero-terminated debug",
            "key output field-separator buffer-size temporary-directory parallel batch-size random-source "
            "files0-from compress-program sort",
            "check",
        ),
        reads="--files0-from --random-source",
        writes="-o --output",
        runs="--compress-program",
        names="--files0-from",
        write_dirs="-T --temporary-directory",
    ),
    "uniq": _r(
        _o(
            "cdDiuz",
            "fsw",
            "count repeated ignore-case unique zero-terminated",
            "skip-fields skip-chars check-chars",
            "all-repeated group",
        ),
        1,
    ),
    "cut": _r(
        _o(
            "nsz",
            "bcdf",
            "complement only-delimited zero-terminated",
            "bytes characters delimiter fields output-delimiter",
        )
    ),
    "paste": _r(_o("sz", "d", "serial zero-terminated", "delimiters")),
    "join": _r(_o("iz", "aeotjv12", "ignore-case check-order nocheck-order header zero-terminated")),
    "comm": _r(_o("123z", "", "check-order nocheck-order total zero-terminated", "output-delimiter")),
    "diff": _r(
        _DIFF,
        reads="--from-file --to-file -X --exclude-from",
        recursive="-r --recursive",
        trees=True,
    ),
    "sdiff": _r(
        _o(
            "iEZbWBalstdHv",
            "oIw",
            "ignore-case ignore-tab-expansion ignore-trailing-space ignore-space-change ignore-all-space "
            "ignore-blank-lines strip-trailing-cr text left-column suppress-common-lines expand-tabs "
            "minimal speed-large-files",
            "output ignore-matching-lines width tabsize diff-program",
        ),
        writes="-o --output",
        runs="--diff-program",
    ),
    "diff3": _r(
        _o(
            "AeE3xXimaTv",
            "L",
            "show-all ed show-overlap easy-only overlap-only merge text strip-trailing-cr initial-tab",
            "label diff-program",
        ),
        runs="--diff-program",
    ),
    "cmp": _r(_o("blsv", "in", "print-bytes verbose quiet silent", "ignore-initial bytes")),
    "fold": _r(_o("bs" + _DIGITS, "w", "bytes spaces", "width")),
    "fmt": _r(
        _o(
            "cstu" + _DIGITS,
            "pgw",
            "crown-margin split-only tagged-paragraph uniform-spacing",
            "prefix width goal",
        )
    ),
    "pr": _r(
        _o(
            "acdFfJmrtTv" + _DIGITS,
            "DhlNowW",
            "across show-control-chars double-space form-feed join-lines merge no-file-warnings "
            "omit-header omit-pagination show-nonprinting",
            "columns date-format header length first-line-number indent width page-width",
            "expand-tabs output-tabs number-lines separator sep-string",
            optional_short="einsS",
        )
    ),
    "column": _r(
        _o(
            "tdeLJx",
            "nONlEHRTWripcosCS",
            "table table-noheadings table-header-repeat keep-empty-lines json fillrows",
            "table-name table-order table-columns table-columns-limit table-noextreme table-hide "
            "table-right table-truncate table-wrap tree tree-id tree-parent output-width output-separator "
            "separator table-column use-spaces",
        )
    ),
    "rev": _r(_o()),
    "tsort": _r(_o()),
    "expand": _r(_o("i" + _DIGITS, "t", "initial", "tabs")),
    "unexpand": _r(_o("a" + _DIGITS, "t", "all first-only", "tabs")),
    "look": _r(_o("adf", "t", "alternative alphanum ignore-case", "terminate")),
    "iconv": _r(
        _o("lcs", "fto", "list silent verbose", "from-code to-code output"),
        writes="-o --output",
    ),
    "jq": _r(
        _o(
            "srjaCMSencRhVf0b",
            "L",
            "seq stream stream-errors slurp raw-output raw-output0 join-output ascii-output unbuffered "
            "sort-keys color-output monochrome-output tab null-input raw-input exit-status from-file "
            "args jsonargs debug-dump-disasm debug-trace help version build-configuration binary",
            "indent library-path run-tests",
            pairs="arg argjson slurpfile rawfile argfile",
        ),
        reads="--slurpfile --rawfile --argfile",
    ),
    "zcat": _r(_o("fqv")),
    "bzcat": _r(_o("qv")),
    "xzcat": _r(_o("qv")),
    "zless": _r(_o()),
    "shuf": _r(
        _o("erz", "ino", "echo repeat zero-terminated", "input-range head-count output random-source"),
        reads="--random-source",
        writes="-o --output",
    ),
}


def _reader(values: Values) -> Seen:
    name = _name(values)
    reader = _READERS.get(name, _r(_o()))
    if reader.response and any(v is None or v.startswith("@") for v in values[1:]):
        return Seen().mark(f"{name} reads more arguments (options and files) from an @FILE")
    scanned = scan(values, 1, reader.spec)
    if scanned.unknown:  # an unknown option may take a value: every word may be a file (mentions)
        return Seen()
    if names := scanned.has(*reader.names):
        return Seen().mark(f"{name} {names.name} reads the names of the files it reads from a file or stdin")
    positions = list(scanned.positionals)
    skip = reader.skip
    if name == "jq" and not scanned.has("-f", "--from-file"):
        skip = 1  # the filter; with -f the first operand is the file holding it, read
        filters = [values[i] for i in positions[:1]]
        if any(f is None or re.search(r'(^|;)\s*(import|include)\s*"', f) for f in filters):
            return Seen().mark("a jq filter that imports modules reads other files")
        if scanned.has("-L", "--library-path"):
            return Seen().mark("jq -L loads modules from a folder")
    seen = Seen(paths_known=True)
    recursive = reader.trees or bool(reader.recursive and scanned.has(*reader.recursive))
    for k, index in enumerate(positions[skip:]):
        if reader.output is not None and k == reader.output:
            seen.paths.append(("write", index))
        else:
            (seen.trees if recursive else seen.paths).append(("read", index))
    for option in scanned.options:
        if option.name in reader.runs:
            seen.mark(f"{name} {option.name} runs a program")
        if option.value is None or option.value == "-":
            continue
        if option.name in reader.writes:
            _value_path(seen, "write", option)
        elif option.name in reader.write_dirs:  # a new file there, as the program names it
            seen.value_paths.append(("write", f"{option.value.rstrip('/')}/{name}XXXXXX"))
        elif option.name in reader.reads:
            if name == "file" and option.name in ("-m", "--magic-file"):  # a list: FILE:FILE
                seen.value_paths += [("read", part) for part in option.value.split(":") if part]
            else:
                _value_path(seen, "read", option)
    if name == "file" and scanned.has("-C", "--compile"):
        seen.unknown_writes = "file -C writes the compiled magic file"
    return seen


def _value_path(seen: Seen, operation: PathOp, option: Option) -> None:
    """An option's value as a file: the word itself when it is one (so the shell's own reading
    of it counts: a glob, a quoted name), else the value text (``--output=FILE``)."""
    if option.value_index is not None:
        seen.paths.append((operation, option.value_index))
    elif option.value is not None:
        seen.value_paths.append((operation, option.value))


#: xxd's options: it takes no bundles; a word is the option its first letter names (``-ps`` is
#: ``-p``), and the value of c, g, l, n, o, s, R follows in the word (``-c256``) or in the next
#: one (``-c 256``, ``-cols 256``): its own reader, as its --help cannot tell.
_XXD_VALUES = {"c": "ols", "g": "roup", "l": "en", "n": "ame", "o": "ffset", "s": "eek", "R": ""}
_XXD_FLAGS = set("abeupiCdrEvh")


@_handles("xxd")
def _xxd(values: Values) -> Seen:
    """``xxd [options] [INFILE [OUTFILE]]``: INFILE is read, OUTFILE written (patched in place
    with ``-r``)."""
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            return Seen().mark("xxd's arguments are computed at run time")
        if word == "--":
            i += 1
            break
        option = word[1:] if word.startswith("--") and len(word) > 2 else word
        if not option.startswith("-") or len(option) < 2:
            break
        letter, rest = option[1], option[2:]
        if letter == "c" and rest.startswith("apitalize"):
            pass
        elif letter in _XXD_VALUES:
            tail = _XXD_VALUES[letter]
            if not rest or (tail and rest.startswith(tail)):
                i += 1  # the value is the next word (-c 8, -cols 8); else it is attached (-c8)
        elif letter not in _XXD_FLAGS:
            return Seen()  # an option it does not know: every word may be a file
        i += 1
    operands = list(range(i, len(values)))
    return Seen(
        paths_known=True,
        paths=[("write" if k else "read", index) for k, index in enumerate(operands[:2])],
    )


for _reader_name in _READERS:
    _HANDLERS.setdefault(_reader_name, _reader)


_GREP = _o(
    "EFGPiwxzsvVbnHhoqaILlcTZUyr" + _DIGITS + "R",
    "efmdDABC",
    "extended-regexp fixed-strings basic-regexp perl-regexp ignore-case no-ignore-case word-regexp "
    "line-regexp null-data no-messages invert-match version help byte-offset line-number line-buffered "
    "with-filename no-filename only-matching quiet silent text recursive dereference-recursive "
    "files-without-match files-with-matches count initial-tab null binary no-group-separator",
    "regexp file max-count label binary-files directories devices include exclude exclude-from "
    "exclude-dir after-context before-context context group-separator",
    "color colour",
)
# ripgrep: its own options (-r is --replace, -d --max-depth, -g --glob), and two that run programs.
_RG = _o(
    "iSsFwxvcloqnNHIpLuUPaz0.bhV",
    "efgtTrdjmMABCE",
    "ignore-case smart-case case-sensitive fixed-strings word-regexp line-regexp invert-match count "
    "count-matches files-with-matches files-without-match only-matching quiet line-number no-line-number "
    "with-filename no-filename pretty follow unrestricted multiline pcre2 text search-zip null null-data "
    "hidden no-ignore no-ignore-vcs no-ignore-parent no-ignore-dot no-ignore-global no-ignore-exclude "
    "no-ignore-files no-messages no-heading heading files type-list json vimgrep column stats debug trace "
    "byte-offset passthru trim crlf sort-files one-file-system no-config glob-case-insensitive "
    "line-buffered block-buffered binary no-binary mmap no-mmap include-zero help version "
    "no-require-git max-columns-preview no-unicode multiline-dotall",
    "regexp file glob iglob type type-not replace max-depth threads max-count max-columns after-context "
    "before-context context encoding ignore-file sort sortr max-filesize path-separator colors "
    "context-separator field-context-separator field-match-separator type-add type-clear engine "
    "dfa-size-limit regex-size-limit generate pre pre-glob hostname-bin hyperlink-format",
    "color",
)


@_handles("grep", "egrep", "fgrep", "zgrep", "rg")
def _grep(values: Values) -> Seen:
    name = _name(values)
    scanned = scan(values, 1, _RG if name == "rg" else _GREP)
    if scanned.has("--pre", "--pre-glob", "--hostname-bin"):
        return Seen().mark(f"{name} --pre/--hostname-bin runs a command")
    if scanned.unknown:
        return Seen()  # every word may be a file
    seen = Seen(paths_known=True)
    patterns_given = scanned.has("-e", "--regexp", "-f", "--file") is not None
    files = scanned.positionals if patterns_given or scanned.has("--files") else scanned.positionals[1:]
    recurse = [o for o in scanned.all("-d", "--directories") if o.value is not None and o.value != "skip"]
    recursive = name == "rg" or bool(
        scanned.has("-r", "-R", "--recursive", "--dereference-recursive")
        or any("recurse".startswith(o.value or "-") for o in recurse)
    )
    if any(o.value and not "recurse".startswith(o.value) and not "read".startswith(o.value) for o in recurse):
        return seen.mark(f"{name} -d takes read, skip or recurse")
    if recursive and not files:
        seen.value_paths.append(("read", "./**"))  # grep -r and rg with no file search the working folder
    (seen.trees if recursive else seen.paths).extend(("read", i) for i in files)
    for option in scanned.all("-f", "--file", "--exclude-from", "--ignore-file"):
        if option.value and option.value != "-":
            _value_path(seen, "read", option)
    return seen


@_handles("fd", "fdfind")
def _fd(values: Values) -> Seen:
    """fd lists the working folder's tree (or the folders named after its pattern); ``-x``/
    ``-X`` (``--exec``/``--exec-batch``) run a command on what it finds, ``--base-directory``
    moves to another folder first. Its other words count as mentions."""
    for word in values[1:]:
        if word is None:
            return Seen().mark("fd's arguments are computed at run time")
        if long_option(word, "exec", "exec-batch", "base-directory", "ignore-file", least=4) or (
            word.startswith("-") and not word.startswith("--") and re.search(r"[xX]", word[1:])
        ):
            return Seen().mark(f"fd {word[:20]} runs a command or reads from another folder")
    return Seen(value_paths=[("list", "./**")])


@_handles("ag", "ack", "ack-grep", "pt", "ugrep", "ug", "sift")
def _other_grep(values: Values) -> Seen:
    """Recursive searchers whose options the table does not hold: every word may be a file, and
    with no folder named they search the working one. Their pagers and option files run or
    read what they name."""
    for word in values[1:]:
        if word is not None and long_option(word, "pager", "ackrc", "config", "pre", "filter", "exec"):
            return Seen().mark(f"{_name(values)} {word[:20]} runs a program or reads another configuration")
    return Seen(value_paths=[("read", "./**")])


#: Options of ls, du and tree whose value is a file they read or write (the rest of their words
#: are listed: an option's value taken for a path only over-approximates).
_LS_READS = ("files0-from", "exclude-from", "fromfile", "gitfile", "infofile")
_LS_WRITES = ("output",)


@_handles("ls", "dir", "vdir", "du", "tree", "exa", "eza")
def _ls(values: Values) -> Seen:
    """Lists what its operands name, or the working folder when none is named (a working folder
    inside a protected one is judged too). du and tree list whole trees, ls -R does."""
    name = _name(values)
    seen = Seen(paths_known=True)
    recursive = name in ("du", "tree")
    reads_names = False  # tree --fromfile: its operands are files holding a listing
    operands: list[int] = []
    i = 1
    while i < len(values):
        word = values[i]
        if word is None:
            operands.append(i)
        elif word == "--":
            operands += [k for k in range(i + 1, len(values))]
            break
        elif word.startswith("--"):
            full = long_option(word, "recursive", *_LS_READS, *_LS_WRITES)
            value = word.partition("=")[2] if "=" in word else None
            if full == "recursive":
                recursive = True
            elif full == "fromfile" and name == "tree":
                reads_names = True
            elif full is not None and value is None and i + 1 < len(values):
                i += 1
                value = values[i]
            if full == "files0-from":
                return seen.mark(
                    f"{name} --files0-from reads the names of what it lists from a file or stdin"
                )
            if full in _LS_READS and full != "fromfile" and value not in (None, "-"):
                seen.value_paths.append(("read", value))  # type: ignore[arg-type]
            elif full in _LS_WRITES and name == "tree" and value is not None:
                seen.value_paths.append(("write", value))
        elif word.startswith("-") and len(word) > 1:
            letters = word[1:]
            recursive = recursive or (name in ("ls", "dir", "vdir") and "R" in letters)
            if name == "tree" and "o" in letters:  # tree -o FILE writes its listing there
                rest = letters[letters.index("o") + 1 :]
                target = rest or (values[i + 1] if i + 1 < len(values) else None)
                if target is None:
                    return seen.mark("tree -o writes a file named at run time")
                seen.value_paths.append(("write", target))
                i += 0 if rest else 1
            elif name == "du" and letters.startswith("X"):
                target = letters[1:] or (values[i + 1] if i + 1 < len(values) else None)
                if target is not None:
                    seen.value_paths.append(("read", target))
        else:
            operands.append(i)
        i += 1
    operation: PathOp = "read" if reads_names else "list"
    if not operands and not reads_names:
        seen.value_paths.append(("list", "./**" if recursive else "."))
    (seen.trees if recursive and not reads_names else seen.paths).extend((operation, k) for k in operands)
    return seen


@_handles(
    "gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "zstd", "unzstd", "lz4", "compress", "uncompress"
)
def _compressor(values: Values) -> Seen:
    """In place unless -c (to stdout), -t (test) or -l (list): the files are replaced. xz's
    ``--files``/``--files0`` and zstd's ``--filelist`` read the names from a file or stdin."""
    if any(long_option(v, "files", "files0", "filelist", least=5) for v in values[1:]):
        return Seen().mark(f"{_name(values)} reads the names of the files it works on from a file or stdin")
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


# -- the rest of a system's programs ------------------------------------------------------------------
#
# Every program in a Debian system's PATH that the tables above do not name is listed below by
# what it can do (checked against its manual): a program missing from every table is judged as
# unknown (each word a file it may read), which is wrong for one that runs a command, loads code,
# or works on files its *input* names. tests/test_policy_programs_r3.py checks that every program
# in the test machine's PATH is known here or above, so a new one is classified, not overlooked.

#: Programs that run a command or code given in their arguments or input, load code, or change
#: what later commands run (debuggers, profilers, tracers, LLVM's JIT and pass runners, service
#: and package-script runners, session managers, the D-Bus callers that start units): refused as
#: dynamic. ``not`` (LLVM) runs its command; ``fstab-decode``, ``memusage``, ``sotruss``,
#: ``heaptrack``, ``luit`` and ``debconf-apt-progress`` likewise; ``gpg-connect-agent`` has
#: ``--exec`` and ``/run``; ``scriptlive`` replays typed commands into a shell.
_MORE_RUNNERS = (
    "fstab-decode memusage sotruss heaptrack gprofng gp-collect-app gpg-connect-agent not luit scriptlive "
    "debconf debconf-apt-progress debconf-communicate debconf-copydb debconf-set-selections kernel-install "
    "installkernel invoke-rc.d update-rc.d deb-systemd-invoke deb-systemd-helper policy-rc.d "
    "dpkg-architecture dpkg-reconfigure dpkg-preconfigure dbus-send gdbus gapplication dbus-daemon "
    "telnet dbus-update-activation-environment sshd git-shell vgdb lli lli-child-target llvm-jitlink "
    "llvm-jitlink-executor llvm-exegesis bugpoint llvm-reduce llvm-rtdyld opt llc llvm-lto llvm-lto2 "
    "llvm-c-test jcmd jhsdb jdb jrunscript jstatd gdb-add-index ucf perldoc perlivp perlthanks instmodsh "
    "rename file-rename prename switch_root systemd init telinit pkgdata rpcgen convert magick gsutil bq "
    "anthoscli kpt cbt dev_appserver.py docker-credential-gcloud git-credential-gcloud.sh "
    "gke-gcloud-auth-plugin update-ca-certificates update-java-alternatives pam-auth-update gpgconf "
    "pinentry pinentry-curses pkttyagent pkexec-agent pkcon pkmon msgexec gettextize lessecho lessfile "
    "lesspipe select-editor sensible-pager tcltk-depends h2ph xauth systemd-sysext systemd-firstboot "
    "systemd-repart systemd-cryptenroll systemd-creds systemd-stdio-bridge systemd-tty-ask-password-agent "
    "systemd-ask-password valgrind-di-server valgrind-listener getty login sulogin newusers ssh-add "
    "pg_ctl pg_ctlcluster pgbench postgres initdb pg_createcluster pg_upgradecluster pg_virtualenv "
    "pg_buildext pg_backupcluster pg_restorecluster pg_renamecluster pg_dropcluster pg_conftool "
    "dirmngr ldd corepack jexec javadoc jlink jpackage serialver systemd-notify local-extract lcf ocs "
    "cbt issues duplicates make-first-existing-target optscript git-receive-pack git-upload-pack "
    "git-upload-archive "
    "activate deactivate aws.cmd aws_completer aws_bash_completer aws_zsh_completer.sh cargo-clippy "
    "cargo-fmt cargo-miri clippy-driver rls rust-analyzer rust-gdb rust-gdbgui rust-lldb cfn-lint "
    "flask hypothesis ipython ipython3 isympy idle idle3 f2py pyenv py.test py.test-benchmark "
    "pytest-benchmark moto_server moto_proxy dotenv pygrun smtpd.py faked-sysv faked-tcp faked "
    "mtrace pod2usage xsubpp jconsole osslsigncode"
).split()


@_handles(*_MORE_RUNNERS)
def _more_runner(values: Values) -> Seen:
    name = _name(values)
    if name == "ssh-add" and not any(v is None or re.match(r"-[a-zA-Z]*[sSe]", v) for v in values[1:]):
        return Seen()  # without -s/-S/-e (a PKCS#11 library): it reads key files
    return Seen().mark(f"{name} runs commands or loads code its arguments or input name")


#: Programs that read or write files their *input* names (a diff's headers, a tmpfiles or
#: sysusers configuration, rmt's protocol, a list of names on stdin or in a file named by an
#: option): the files are not known, so they are refused as dynamic.
_NAMES_FROM_INPUT = (
    "patch rmt rmt-tar systemd-tmpfiles systemd-sysusers ptar ctags ctags-universal etags ctags-exuberant "
    "cscope cscope-indexer split-file gpgsplit gpgtar gpg-zip xgettext pygettext3 msgfmt msginit msgunfmt "
    "msggrep msgcmp msgcomm msgen dpkg-source dpkg-deb dpkg-split dpkg-scanpackages dpkg-scansources "
    "dpkg-shlibdeps dpkg-gensymbols dpkg-gencontrol dpkg-genchanges dpkg-genbuildinfo dpkg-distaddfile "
    "dpkg-mergechangelogs dpkg-maintscript-helper dpkg-divert dpkg-statoverride dpkg-trigger "
    "dpkg-fsys-usrunmess enc2xs h2xs libnetcfg activate-global-python-argcomplete "
    "register-python-argcomplete yaml2obj obj2yaml llvm-tblgen unzipsfx catman mandb accessdb fc-cache "
    "glib-compile-schemas gio-querymodules gtk-update-icon-cache update-icon-caches update-mime-database "
    "update-catalog update-xmlcatalog install-sgmlcatalog update-locale locale-gen localedef iconvconfig "
    "makeconv genbrk genccode gencfu gencmn gencnval gendict gennorm2 genrb gensprep icupkg "
    "icuexportdata derb tempfile mktemp make-ssl-cert xdg-user-dirs-update addgnupghome "
    "applygnupgdefaults migrate-pubring-from-classic-gpg gpg gpgsm gpgcompose gpg-wks-server gcov "
    "gcov-tool cg_merge memusagestat py3compile py3clean pod2html pod2man pod2text savelog rtmon "
    "e2image e2undo bzip2recover zipsplit zipnote zipcloak zforce znew gzexe bzexe ptxas fatbinary nvlink "
    "cudafe++ setterm yq tomlq xq-python wrk ms_print callgrind_annotate callgrind_control cg_annotate "
    "cg_diff heaptrack_print strace-log-merge peekfd hardlink chcon "
    "gp-display-html gp-archive jarsigner keytool jmap jfr jmod jimage apt-key add-apt-repository "
    "apt-add-repository apt-cdrom "
    "2to3 pyvenv dh_installxmlcatalogs helpztags pygettext rst2html rst2html4 rst2html5 rst2latex "
    "rst2man rst2odt rst2odt_prepstyles rst2pseudoxml rst2s5 rst2xetex rst2xml rstpep2html docutils "
    "jsonpatch "
    "pl2pm ptargrep ptardiff c_rehash pg_archivecleanup dbus-cleanup-sockets man-recode jsonschema "
    "openapi-spec-validator gpg-wks-client appstreamcli"
).split()


@_handles(*_NAMES_FROM_INPUT)
def _names_from_input(values: Values) -> Seen:
    name = _name(values)
    return Seen().mark(
        f"{name} reads or writes files its input or its own defaults name, which are not known"
    )


#: Account, disk, file system, swap and partition tools: they write the devices and images
#: their operands name and the system files (passwd, shadow, group, homes) they find themselves.
_SYSTEM_WRITERS = (
    "useradd userdel usermod groupadd groupdel groupmod groupmems gpasswd chage chgpasswd adduser deluser "
    "addgroup delgroup pwconv pwunconv grpconv grpunconv pwck grpck cppw cpgr mkhomedir_helper "
    "shadowconfig add-shell remove-shell update-shells update-passwd ucfr expiry faillock pwhistory_helper "
    "unix_chkpwd unix_update pam_timestamp_check pam_namespace_helper mkfs mkfs.bfs mkfs.cramfs mkfs.ext2 "
    "mkfs.ext3 mkfs.ext4 mkfs.minix mke2fs mkswap e2fsck fsck fsck.cramfs fsck.ext2 fsck.ext3 fsck.ext4 "
    "fsck.minix tune2fs resize2fs e2label e4defrag e4crypt badblocks blkdiscard blockdev wipefs swaplabel "
    "partx addpart delpart resizepart fstrim fsfreeze mklost+found swapon swapoff umount losetup "
    "zramctl hwclock e2scrub e2scrub_all systemd-mount systemd-umount systemd-machine-id-setup "
    "pivot_root dpkg-name rename.ul halt poweroff reboot shutdown ctrlaltdel readprofile "
    "pg_updatedicts arpd"
).split()


@_handles(*_SYSTEM_WRITERS)
def _system_writer(values: Values) -> Seen:
    seen = _all_words(values)
    seen.unknown_writes = f"{_name(values)} changes devices or system files it finds itself"
    return seen


#: Programs that write files their words name, as an operand (``gdk-pixbuf-pixdata IN OUT``,
#: ``gencat CATALOG``, ``llvm-install-name-tool FILE``) or an option's value (``llvm-dis -o OUT``,
#: ``pngfix --out=OUT``, ``pyrsa-keygen -o KEY``, ``pg_dump -f OUT``, ``pg_basebackup -D DIR``):
#: every word, and every value an option word may carry, is judged as a file they write. An
#: ``@FILE`` word (LLVM's response files) holds more options; a plugin option loads code.
_WRITES_WORDS = (
    "llvm-cat llvm-cov llvm-cxxmap llvm-dis llvm-dwarfdump llvm-extract llvm-gsymutil llvm-ifs llvm-link "
    "llvm-mc llvm-mca llvm-ml llvm-modextract llvm-opt-report llvm-pdbutil llvm-profdata llvm-profgen "
    "llvm-sim llvm-split llvm-stress llvm-xray llvm-cvtres llvm-rc llvm-windres llvm-mt llvm-lib "
    "llvm-lipo llvm-install-name-tool llvm-bitcode-strip llvm-libtool-darwin llvm-dlltool dsymutil "
    "verify-uselistorder gdk-pixbuf-pixdata gdk-pixbuf-thumbnailer gdk-pixbuf-csource pngfix "
    "pyrsa-decrypt pyrsa-encrypt pyrsa-keygen pyrsa-priv2pub pyrsa-sign pyrsa-verify normalizer uconv "
    "gencat escapesrc blkid dbus-uuidgen gpgv pg_dump pg_dumpall pg_restore pg_recvlogical pg_basebackup "
    "pg_receivewal pg_receivexlog streamzip"
).split()
_PLUGIN_OPTION = re.compile(r"--?(load|load-pass-plugin|pass-plugin|fpass-plugin|plugin|suffix|prefix)\b")


@_handles(*_WRITES_WORDS)
def _writes_words(values: Values) -> Seen:
    name = _name(values)
    seen = Seen()
    problem = _script_problem(name, values)
    if problem:
        return seen.mark(problem)
    for i, word in enumerate(values[1:], 1):
        if word is None:
            return seen.mark(f"{name}'s arguments are computed at run time")
        if word.startswith("@"):
            return seen.mark(f"{name} reads more options from {word[:24]}")
        if _PLUGIN_OPTION.match(word):
            return seen.mark(f"{name} {word[:20]} loads code or writes files named after others")
        if not word.startswith("-"):
            seen.paths.append(("write", i))
        values_in = []
        if "=" in word:
            values_in.append(word.split("=", 1)[1])
        if re.match(r"[-/][\w-]+:", word):  # /OUT:FILE, -out:FILE
            values_in.append(word.split(":", 1)[1])
        if word.startswith("-") and not word.startswith("--") and len(word) > 2:
            values_in.append(word[2:])  # -oFILE
        seen.value_paths += [("write", v) for v in values_in if v]
    return seen


#: Programs in the generic lists that are Perl or shell scripts: Perl opens a file name the
#: two-argument way (``open(F, $name)``, ``<>``), where ``'pwn|'`` runs pwn, ``'>f'`` writes f and
#: `` f`` reads f, and scripts paste words into shell lines (mtrace). A word holding such a
#: character, or blanks at an end, is refused for all of them.
_SCRIPTS = frozenset(
    (
        "corelist createdb createlang createuser dropdb droplang dropuser clusterdb reindexdb vacuumdb "
        "vacuumlo pg_basebackup pg_config.libpq-dev pg_dump pg_dumpall pg_lsclusters pg_receivewal "
        "pg_receivexlog pg_recvlogical pg_restore dpkg-buildflags dpkg-checkbuilddeps dpkg-parsechangelog "
        "dpkg-vendor encguess pam_getenv podchecker shasum splain ucfq validlocale zipdetails debconf-escape "
        "debconf-show piconv streamzip __nvcc_device_query bin2c blkdeactivate bzcmp bzdiff pg_config "
        "dpkg-realpath gettext.sh gpgrt-config libgcrypt-config libpng-config libpng16-config lsb_release "
        "ncurses5-config ncurses6-config ncursesw5-config ncursesw6-config nspr-config nss-config "
        "python-argcomplete-tcsh python3-config tarcat tzselect xml2-config xmlsec1-config xslt-config "
        "zipgrep zcmp zdiff xzcmp xzdiff lzcmp lzdiff lspgpot"
    ).split()
)
_SCRIPT_MAGIC = re.compile(r"[|<>&;`$(){}\n\\'\"]|^[\s+]|\s$")


def _script_problem(name: str, values: Values) -> str | None:
    if name not in _SCRIPTS:
        return None
    for word in values[1:]:
        if word is None:
            return f"{name}'s arguments are computed at run time"
        if _SCRIPT_MAGIC.search(word):
            return f"{name} is a script: {word[:20]!r} may open a command or another file"
    return None


@_handles("json_pp")
def _json_pp(values: Values) -> Seen:
    """json_pp reads stdin; ``-f eval`` runs it as Perl. Only the JSON input format, and the
    output formats that print, are judged; any other word is refused."""
    words = list(values[1:])
    while words:
        word = words.pop(0)
        if word in ("-v", "--v", "-V", "--V"):
            continue
        match = re.fullmatch(r"--?(f|t|json_opt)(?:=(.*))?", word or "")
        if not match:
            return Seen().mark(f"json_pp {str(word)[:20]!r} is not judged (-f eval runs Perl)")
        value = match.group(2) if match.group(2) is not None else (words.pop(0) if words else None)
        allowed = {"f": ("json",), "t": ("json", "dumper", "null")}.get(match.group(1))
        if value is None or (allowed is not None and value not in allowed):
            return Seen().mark(f"json_pp -{match.group(1)} {str(value)[:16]!r} may run Perl code")
    return Seen(paths_known=True)


#: tc's words that run a command (``exec bpf ... run CMD``, tc takes any prefix of an object's
#: name), read commands from a file (``-batch``), or load code (eBPF objects, iptables modules).
_TC_CODE = frozenset({"e", "ex", "exe", "exec", "bpf", "ebpf", "obj", "object-file", "xt", "ipt", "em"})


@_handles("tc")
def _tc(values: Values) -> Seen:
    for word in values[1:]:
        if word is None:
            return Seen().mark("tc's arguments are computed at run time")
        if word in _TC_CODE or re.fullmatch(r"--?b(a(t(ch?)?)?)?", word):
            return Seen().mark(f"tc {word} runs a command, reads commands or loads code")
    return Seen()  # every word may be a file it reads (mentions)


#: Programs that run nothing and write nothing they are not told to on stdout, whose words are
#: names, numbers or files they read (each word is judged as a file they may read): reporting
#: tools, terminal settings, process listers, network and device state tools (what changing that
#: state means is the rules' to decide), X11 clients, config scripts, readers.
_READS_ONLY = (
    "FileCheck count sanstats yaml-bench __nvcc_device_query bin2c apropos whatis manpath lexgrog "
    "apt-config blkdeactivate blkzone bzcmp bzdiff captoinfo infotocap infocmp toe tabs tput tset reset "
    "clear clear_console col colcrt colrm chcpu chmem corelist createdb createlang createuser dropdb "
    "droplang dropuser clusterdb reindexdb vacuumdb vacuumlo pg_config pg_config.libpq-dev pg_lsclusters "
    "dbus-monitor dcb devlink dircolors dirmngr-client dmstats dnsdomainname domainname nisdomainname "
    "ypdomainname dpkg-buildflags dpkg-checkbuilddeps dpkg-parsechangelog dpkg-realpath dpkg-vendor "
    "dumpe2fs dumpsexp e2freefrag e2mmpstatus encguess envsubst editres appres listres viewres faillog "
    "lastb lastlog filefrag fincore findfs fuser gcloud-crc32c gcov-dump lto-dump genl getcap getconf "
    "getopt getpcaps gettext gettext.sh ngettext gp-display-src gp-display-text gpgparsemail gpgrt-config "
    "gresource gsettings hd hmac256 icuinfo ifconfig ipcmk ipcrm ipcs ipmaddr iptunnel ischroot isosize "
    "javap jdeprscan jdeps jinfo jps jstack jstat rmiregistry kbxutil killall killall5 skill snice renice "
    "ldattach libgcrypt-config libpng-config libpng16-config llvm-PerfectShuffle llvm-bcanalyzer "
    "llvm-cfi-verify llvm-config llvm-cxxdump llvm-debuginfod-find llvm-diff llvm-tapi-diff "
    "llvm-tli-checker llvm-undname llvm-otool lnstat ctstat rtstat nstat rtacct routel locale logger "
    "lsattr lsb_release lsfd lsipc lsirq lslocks lslogins lsmem lsns lzmainfo mcookie mesg mii-tool "
    "mountpoint mpicalc namei nameif ncurses5-config ncurses6-config ncursesw5-config ncursesw6-config "
    "networkctl nologin nspr-config nss-config pam_getenv pathchk pinky pkaction pkcheck pkg-config "
    "pkgconf pldd plipconfig pmap png-fix-itxt podchecker prtstat pslog pstree pstree.x11 pwdx "
    "py3versions python-argcomplete-check-easy-install-script python-argcomplete-tcsh python3-config rarp "
    "rdma readtags recode-sr-latin route rtcwake runlevel scriptreplay shasum slabtop slattach sprof "
    "splain stty sync systemd-analyze systemd-cgls systemd-cgtop systemd-delta systemd-detect-virt "
    "systemd-escape systemd-id128 systemd-path tarcat tipc tload tr tzselect ucfq validlocale vdpa wdctl "
    "watchgnupg write xdpyinfo xdriinfo xev xfd xfontsel xkill xlsatoms xlsclients xlsfonts xmessage "
    "xprop xvinfo xwininfo xml2-config xmlsec1-config xslt-config zdump zipdetails zipgrep zipinfo funzip "
    "cmp zcmp zdiff xzcmp xzdiff lzcmp lzdiff debconf-escape debconf-show fc-cat fc-conflist fc-list "
    "fc-match fc-pattern fc-query fc-scan fc-validate lspgpot piconv jp.py jsondiff jsonpath_ng "
    "jsonpointer cpuinfo numpy-config python-gdb.py"
).split()


@_handles(*(n for n in _READS_ONLY if n not in _HANDLERS))
def _reads_only(values: Values) -> Seen:
    problem = _script_problem(_name(values), values)
    return Seen().mark(problem) if problem else Seen()  # every word may be a file it reads (mentions)


@_handles("pydoc")
def _pydoc(values: Values) -> Seen:
    """pydoc imports the modules it documents (a file or a module found in the working folder
    runs), ``-w`` writes NAME.html, ``-p``/``-b`` serve every module: it runs code the policy cannot read."""
    return Seen(paths_known=True, opaque="pydoc imports (runs) the modules it documents")


@_handles("prove")
def _prove(values: Values) -> Seen:
    """prove runs the project's test scripts; ``--exec``, ``-M``/``-P``/``--plugin``,
    ``--source``/``--harness``/``--formatter`` name programs or modules it runs."""
    for word in values[1:]:
        if (
            word is None
            or re.fullmatch(r"-[a-zA-Z]*[eMP].*", word)
            or long_option(word, "exec", "plugin", "source", "harness", "formatter", "rc", "state", least=2)
        ):
            return Seen().mark("prove runs a program or loads a module its options name")
    return Seen(paths_known=True, opaque="prove runs the project's tests, which the policy cannot read")


@_handles("rgrep")
def _rgrep(values: Values) -> Seen:
    """rgrep is ``grep -r``: its operands are trees."""
    if "--" in values:
        return Seen().mark("rgrep with -- is not judged")
    seen = _grep(["grep", *values[1:], "-r"])
    return Seen(
        dynamic=seen.dynamic,
        opaque=seen.opaque,
        paths=seen.paths,
        trees=seen.trees,
        value_paths=seen.value_paths,
        unknown_writes=seen.unknown_writes,
    )


for _builder_name in ("ctest", "cpack", "dpkg-buildpackage", "scalar"):
    _BUILDERS.setdefault(_builder_name, frozenset({"--version", "--help"}))


# -- a program's canonical name -----------------------------------------------------------------------

#: Names Debian installs a program under (alternatives' masters and slaves, symlinks, renamed
#: copies): the name the tables know it by. ``slogin`` is ssh, ``pager`` is less, ``lzma`` is xz,
#: ``bzless`` pages through less, ``xzgrep`` is a zgrep, ``gcc-ar`` runs ar with a plugin.
ALIASES: dict[str, str] = {
    "slogin": "ssh",
    "original-awk": "awk",
    "gdb-multiarch": "gdb",
    "json_xs": "json_pp",
    "ssh-argv0": "ssh",
    "rcp": "scp",
    "pager": "less",
    "bzless": "less",
    "bzmore": "less",
    "xzless": "less",
    "xzmore": "less",
    "lzless": "less",
    "lzmore": "less",
    "zmore": "less",
    "zstdless": "less",
    "infobrowser": "info",
    "vimtutor": "vim",
    "rview": "vim",
    "evim": "vim",
    "gview": "vim",
    "gvimdiff": "vim",
    "rgvim": "vim",
    "rgview": "vim",
    "gdbtui": "gdb",
    "lzma": "xz",
    "unlzma": "unxz",
    "lzcat": "xzcat",
    "lz4c": "lz4",
    "lz4cat": "lz4",
    "unlz4": "lz4",
    "zstdcat": "zstd",
    "zstdmt": "zstd",
    "pzstd": "zstd",
    "xzgrep": "zgrep",
    "xzegrep": "zgrep",
    "xzfgrep": "zgrep",
    "lzgrep": "zgrep",
    "lzegrep": "zgrep",
    "lzfgrep": "zgrep",
    "bzgrep": "zgrep",
    "bzegrep": "zgrep",
    "bzfgrep": "zgrep",
    "zstdgrep": "zgrep",
    "zegrep": "zgrep",
    "zfgrep": "zgrep",
    "gcc-ar": "ar",
    "gcc-nm": "nm",
    "gcc-ranlib": "ranlib",
    "llvm-ar": "ar",
    "llvm-ranlib": "ranlib",
    "llvm-nm": "nm",
    "llvm-objdump": "objdump",
    "llvm-objcopy": "objcopy",
    "llvm-strip": "strip",
    "llvm-readelf": "readelf",
    "llvm-readobj": "readelf",
    "llvm-size": "size",
    "llvm-strings": "strings",
    "llvm-addr2line": "addr2line",
    "llvm-symbolizer": "addr2line",
    "llvm-cxxfilt": "c++filt",
    "llvm-dwp": "dwp",
    "nc.traditional": "nc",
    "nc.openbsd": "nc",
    "netcat": "nc",
    "js": "node",
    "nodejs": "node",
    "phar": "php",
    "phar.phar": "php",
    "erb": "ruby",
    "x-terminal-emulator": "xterm",
    "gnome-www-browser": "x-www-browser",
    "open": "xdg-open",
    "edit": "run-mailcap",
    "compose": "run-mailcap",
    "print": "run-mailcap",
    "yacc": "bison",
    "lex": "flex",
    "mt": "mt-gnu",
    "write.ul": "write",
    "from": "bsd-from",
    "mvnDebug": "mvn",
    "mvnyjp": "mvn",
}
_ARCH = (
    r"(?:x86_64|i[3-6]86|amd64|aarch64|arm\w*|powerpc\w*|ppc\w*|s390x?|mips\w*|riscv\d*|loongarch\d*|"
    r"sparc\w*|alpha|hppa|m68k|sh4|ia64)"
)
_ARCH_PREFIX = re.compile(rf"{_ARCH}-(?:\w+-)?(?:linux|kfreebsd|gnu|hurd)[-\w]*?-(?P<name>[^-].*)")
_ARCH_SUFFIX = re.compile(rf"(?P<name>.+?)-{_ARCH}-(?:\w+-)?linux[-\w]*")
#: Debian's suffixes for a program's variants and real binaries behind wrappers.
_VARIANT = re.compile(
    r"(?P<name>.+?)\.(?:bin|basic|tiny|real|distrib|orig|static|debian|debianutils|textutils|ul|x11|nox|"
    r"gtk\d?|athena|motif|lucid|traditional|openbsd|netkit|krb5|kerberos|legacy|nft|sysv|tcp|default|dist|"
    r"wrapper|py|pl|sh|exe|elf)"
)
# python3.11-dbg, gdb-multiarch
_DASH_VARIANT = re.compile(r"(?P<name>.+?)-(?:dbg|dbgsym|static|multiarch|minimal|nox|gtk\d?)")
_VERSION = re.compile(r"(?P<name>.*?[A-Za-z+_])-?v?\d+(?:[._]\d+)*[a-z]?")
_DASH_VERSION = re.compile(r"(?P<name>.+?)-v?\d+(?:[._]\d+)*[a-z]?")  # llvm-lto2-14, FileCheck-14
_CONFIG_SCRIPT = re.compile(r"[\w.+]+(?:-[\w.+]+)*-config")  # python3.11-config: prints build flags


def _known(name: str) -> bool:
    return name in _HANDLERS or family(name) in _HANDLERS or _code_runner([name]) is not None


@functools.lru_cache(maxsize=4096)  # asked for every part a deny or confirm rule is tried on
def canonical(name: str) -> str:
    """The program the tables know ``name`` as: itself when known, else the name with Debian's
    architecture prefix or suffix (``x86_64-linux-gnu-objcopy``, ``perl5.36-x86_64-linux-gnu``),
    variant suffix (``vim.basic``, ``valgrind.bin``), version (``pdb3.11``, ``FileCheck-14``) or
    ``llvm-`` prefix taken off, or an alias (``slogin``); ``name`` when none of them is known."""
    current = name
    for _ in range(6):
        if _known(current):
            return current
        if current in ALIASES:
            current = ALIASES[current]
            continue
        if _CONFIG_SCRIPT.fullmatch(current):
            current = "pkg-config"
            continue
        if re.fullmatch(r"python[\d.]*m?-gdb\.py", current):
            current = "python-gdb.py"
            continue
        for pattern in (_ARCH_PREFIX, _ARCH_SUFFIX, _VARIANT, _DASH_VARIANT, _DASH_VERSION, _VERSION):
            match = pattern.fullmatch(current)
            if match and match.group("name") != current:
                current = match.group("name")
                break
        else:
            if current.startswith("llvm-") and _known(current[5:]):
                current = current[5:]
                continue
            break
    return current if _known(current) else name


def _inspect_renamed(values: Values, name: str) -> Seen | None:
    """A program known under its canonical name: judged as that program, and its words also as
    files it may read (the copy may differ), never as a transparent wrapper."""
    real = canonical(name)
    if real == name:
        return None
    renamed = [real, *values[1:]]
    handler = _HANDLERS.get(real) or _HANDLERS.get(family(real))
    seen = handler(renamed) if handler is not None else _code_runner(renamed)
    if seen is None:
        return None
    seen.paths_known = False
    seen.transparent = False
    return seen


def find_output(values: Values) -> list[str] | None:
    """The start points below which lie the names a ``find`` command prints NUL-terminated
    (``-print0`` and tests only: nothing it runs, writes or formats), or None. For the engine:
    ``find DIR ... -print0 | xargs -0 READER`` reads what lies below DIR, as ``find DIR ... -exec
    READER {} +`` does; with any other separator a name holding a blank or a line break splits
    into other names."""
    if not values or posixpath.basename(values[0] or "") != "find" or "-print0" not in values:
        return None
    if any(v is None or v in ("-printf", "-print", "-ls", "-fls", "-files0-from") for v in values[1:]):
        return None
    seen = _find(values)
    if (
        seen.dynamic
        or seen.runs
        or seen.unknown_writes
        or any(op != "list" for op, _ in seen.paths + seen.trees)
    ):
        return None
    starts = [values[k] for op, k in seen.paths if op == "list"]
    starts += [v for op, v in seen.value_paths if op == "list"]
    if any(op != "list" for op, _ in seen.value_paths) or not starts:
        return None
    return [s for s in starts if s is not None]

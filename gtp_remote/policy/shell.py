"""What a shell command line will run, read with a real bash grammar (tree-sitter-bash).

The analysis is independent of any policy and of any host: it turns a command line into the
simple commands (*parts*) the shell will run, each as its words, and the files it reads or
writes (redirections, and the file arguments of programs that change files). A part, a word or a
path whose meaning is not known without running anything is marked *dynamic*, with the reason:

* any parameter, arithmetic, command or process substitution, brace expansion, a glob in a
  command name or a redirect target, ``$"..."`` locale strings;
* definitions that run later or elsewhere (functions, ``alias``, ``eval``, ``trap``, ``source``,
  ``exec CMD``, ``coproc``), builtins that evaluate their arguments (``declare``, ``let``,
  ``read``, ``printf -v``, ``test -v``, ``(( ))``) and interpreters given code (see ``programs``);
* syntax that bash and dash read differently (``&>`` followed by more words, ``[[`` with
  operators dash would take as its own, ``$'..'`` holding a quote), since hosts run either;
* an expansion that does more than read a value, even where the words do not matter (echo, a
  here-string): ``${x:=v}`` assigns, ``${x@P}`` runs the commands x holds, and ``${!x}``,
  ``$((x))`` or a subscript evaluate x's value, whose subscripts run commands too.

Where the grammar reads a word otherwise than the shell (single quotes inside a double-quoted
``${...}``, patterns it keeps as plain text, backslashes inside backquotes), the text is read again
as the shell reads it. Where it would misplace whole commands (a heredoc it ends elsewhere than
the shell, a line continuation inside an operator, a reserved word it takes for a command name),
the analysis is an error. A static loop's variable is unknown after the loop, and wherever
something may have set it since.

Commands inside substitutions and wrapped commands are parts too, so a rule that refuses ``rm``
refuses it wherever it hides. Text the grammar cannot parse, input over :data:`MAX_BYTES`, more
than :data:`MAX_NODES` syntax nodes, or nesting deeper than :data:`MAX_DEPTH` is an analysis with
an ``error``: the engine refuses it. Everything is iterative (no recursion on the input's
nesting) and linear in its size.
"""

from __future__ import annotations

import itertools
import posixpath
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Literal

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from gtp_remote.policy import programs, weight

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
PARSE_SECONDS = 0.5  # a command that takes longer to parse (megabytes of tiny commands) is refused
#: A command whose whole analysis (every parse, nested ones included, and the walk) takes longer
#: is refused: the grammar's error recovery is quadratic on some short inputs (``"a|" * 8191``).
ANALYSIS_SECONDS = 1.0
MAX_DEPTH = 48
#: Characters of words, paths and mentions an analysis may hand the judge, in all: static loops
#: are unrolled and a value reused, so 200 kB could become 60 MB of paths to match (31 s).
MAX_JUDGED = 2 * 1024 * 1024
#: Stands for the server user's home directory inside a value (``~``, ``$HOME``): resolved with
#: the host's facts when a policy judges it. A NUL can never be part of a real command.
HOME = "\x00~"
#: Marks a folder in ``Analysis.cd_targets`` that a program moves to itself (``git -C``,
#: ``env -C``, ``cd -P``): links in it are followed before a ``..`` after them, unlike the
#: shell's own ``cd``, which reads ``..`` as text (see ``engine._bases``).
PHYSICAL = "\x00P"

_LANGUAGE = Language(tree_sitter_bash.language())
_local = threading.local()

_VALUE_TYPES = {
    "word",
    "string",
    "raw_string",
    "ansi_c_string",
    "translated_string",
    "concatenation",
    "number",
    "simple_expansion",
    "expansion",
    "command_substitution",
    "process_substitution",
    "arithmetic_expansion",
    "brace_expression",
    "array",
    "regex",
    "extglob_pattern",
    "special_variable_name",
    "variable_name",
}
_REDIRECTS = {"file_redirect", "heredoc_redirect", "herestring_redirect"}
_HARMLESS_TARGETS = {"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty"}
_WRITE_OPS = {">", ">>", ">|", "&>", "&>>", "<>", ">&"}


@dataclass(frozen=True)
class Word:
    """One word of a command as the shell will see it."""

    value: str | None  # None: not known without running something
    raw: str
    why: str | None = None  # why value is None
    glob: bool = False  # an unquoted * ? or [ : pathname expansion
    many: bool = False  # an unquoted expansion: it may become any number of words
    filename: bool = False  # not known, but a file's name (find's {}), never an option
    divergent: bool = False  # bash and dash split the command line differently around it
    #: A process substitution ``<(cmd)`` or ``>(cmd)``: the value names the pipe bash connects to
    #: cmd (:data:`PIPE`), whose commands are parts of their own.
    pipe: bool = False


@dataclass(frozen=True)
class PathUse:
    """A file a command reads or writes."""

    operation: Literal["read", "write", "list"]
    path: str | None  # static; may hold HOME and may be relative. None: not known
    raw: str
    why: str | None = None
    redirect: bool = False  # a redirection (judged even where only command rules exist)
    tree: bool = False  # the path and everything under it (grep -r, rm -r, tar -c)
    glob: str | None = None  # the glob the path stands for (``path`` is then the folder it stays in)


@dataclass(frozen=True)
class Part:
    """One simple command the shell will run."""

    words: tuple[Word, ...]
    text: str  # as written, for messages
    dynamic: str | None = None  # why its meaning is not known from its text
    assigns: tuple[str, ...] = ()  # variables it sets (NAME=value before it, env NAME=..., NAME=...)
    transparent: bool = False  # a wrapper like timeout or nice: judged by what it runs
    harmless: bool = False  # a test ([ ], [[ ]]) with known operands: it runs nothing
    open_tail: bool = False  # more words are added when it runs (xargs)
    opaque: str | None = None  # runs a program the policy cannot read: allowed only by an allow rule

    @property
    def values(self) -> list[str | None]:
        return [w.value for w in self.words]


@dataclass(frozen=True)
class Analysis:
    parts: tuple[Part, ...] = ()
    paths: tuple[PathUse, ...] = ()
    error: str | None = None  # the text could not be judged at all: refuse it
    uses_home: bool = False
    changes_dir: bool = False  # a cd (or wrapper with a directory): relative paths' base changes
    #: The directories cd moves to, in order (None: not known), so a relative path is judged
    #: against each folder it may be relative to.
    cd_targets: tuple[str | None, ...] = ()
    #: Words of programs whose file arguments the table does not know: any may name a file,
    #: read or written, so deny and confirm path rules are tried on each.
    mentions: tuple[str, ...] = ()
    #: Characters of words, paths and mentions in all: what judging it costs (see MAX_JUDGED).
    size: int = 0


class _Limit(Exception):
    """The input is beyond what the analysis judges."""


def _parser() -> Parser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = Parser(_LANGUAGE)
    return parser


_CACHE: OrderedDict[str, Analysis] = OrderedDict()
_CACHE_SIZE = 512
_CACHED_BYTES = 8192
_cache_lock = threading.Lock()


def analyse(text: str) -> Analysis:
    """The parts and paths of a command line; never raises for bad input (see ``error``)."""
    if len(text) <= _CACHED_BYTES:
        with _cache_lock:
            hit = _CACHE.get(text)
            if hit is not None:
                _CACHE.move_to_end(text)
                return hit
    result = _analyse(text)
    if len(text) <= _CACHED_BYTES:
        with _cache_lock:
            _CACHE[text] = result
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result


def _analyse(text: str) -> Analysis:
    if "\x00" in text:
        return Analysis(error="it contains a NUL byte")
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BYTES:
        return Analysis(error=f"it is {len(data)} bytes; commands over {MAX_BYTES} bytes are not judged")
    heavy = weight.too_heavy(text)
    if heavy is not None:
        return Analysis(error=heavy)
    _local.deadline = time.monotonic() + ANALYSIS_SECONDS
    try:
        walker = _Walker()
        walker.script(text, 0)
        return walker.result()
    except _Limit as limit:
        return Analysis(error=str(limit))
    except RecursionError:  # defensive: the walk is iterative, but the grammar library is not ours
        return Analysis(error="it is nested too deeply to judge")


_CHUNK = 16 * 1024


def _out_of_time() -> bool:
    return time.monotonic() > getattr(_local, "deadline", float("inf"))


def _parse(text: str) -> tuple[Node, bytes]:
    if _out_of_time():
        raise _Limit(f"it took over {ANALYSIS_SECONDS:g}s to analyse; split it into smaller commands")
    data = text.encode("utf-8", "surrogatepass")
    # Always read through a callback, with a deadline: the library calls back while it parses
    # (only for text read so; bytes given whole parse to the end, holding the GIL), so a slow
    # parse is stopped, and other threads (the event loop) run between the calls.
    deadline = min(time.monotonic() + PARSE_SECONDS, getattr(_local, "deadline", float("inf")))
    parser = _parser()
    try:
        tree = parser.parse(
            lambda offset, _point: data[offset : offset + _CHUNK],
            progress_callback=lambda *_: time.monotonic() > deadline,
        )
    except ValueError:  # the parse was stopped at the deadline
        # A stopped parser resumes its old parse on the next call, whatever the new text:
        # that misreads the next command and crashed the process. It is dropped, not reused.
        parser.reset()
        _local.parser = None
        raise _Limit(f"it took over {PARSE_SECONDS:g}s to parse; split it into smaller commands") from None
    root = tree.root_node
    if root.descendant_count > MAX_NODES:  # known before walking it: refused at once
        raise _Limit(
            f"it has {root.descendant_count} syntax nodes; over {MAX_NODES} are not judged: split it"
        )
    if root.has_error:
        bad = _first_error(root)
        line = bad.start_point[0] + 1 if bad is not None else 1
        near = data[bad.start_byte : bad.end_byte].decode("utf-8", "replace")[:40] if bad is not None else ""
        raise _Limit(f"it is not valid shell (line {line}{f', near {near!r}' if near else ''})")
    _check_tree(root, data)
    return root, data


def _first_error(root: Node) -> Node | None:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            return node
        if node.has_error:
            stack.extend(reversed(node.children))
    return None


#: Nodes one line long to the shell: an unescaped newline inside them ends the command there.
_ONE_LINE = frozenset(
    {
        "command",
        "command_name",
        "file_redirect",
        "herestring_redirect",
        "concatenation",
        "variable_assignment",
        "variable_assignments",
        "declaration_command",
        "unset_command",
        "test_command",
        "redirected_statement",
        "negated_command",
    }
)
#: Nodes inside which the shell reads on over newlines (to a closing bracket or quote).
_MANY_LINES = frozenset(
    {"command_substitution", "process_substitution", "arithmetic_expansion", "array", "expansion"}
)
#: Nodes the shell reads as one unbroken piece of a word: nothing may lie between their children.
_CONTIGUOUS = frozenset({"concatenation", "string", "translated_string", "simple_expansion", "command_name"})
#: Leaves whose text is quoted data: newlines and control characters in them are the data's.
_QUOTED_LEAVES = frozenset(
    {"string_content", "raw_string", "ansi_c_string", "heredoc_content", "heredoc_body", "comment"}
)
#: What may lie between two tokens: blanks, newlines and line continuations. The grammar also
#: skips ``\\<blank>``, carriage returns, vertical tabs, form feeds and Unicode spaces, which the
#: shell reads as parts of words.
_GAP = re.compile(rb"(?:[ \t\n]|\\\n)*")
_WORD_START = b" \t\n;&|()<>"
_ZERO_WIDTH = frozenset({"heredoc_content", "heredoc_body"})
#: Nodes whose words the shell separates with blanks: two words with nothing between them are
#: one word to the shell (``a`cmd`b``), which the grammar sometimes splits in two.
_WORDS_APART = frozenset(
    {
        "command",
        "file_redirect",
        "herestring_redirect",
        "declaration_command",
        "unset_command",
        "for_statement",
        "array",
    }
)
_WORD_LEFT = frozenset({*_VALUE_TYPES, "command_name", "variable_assignment"})
_WORD_RIGHT = frozenset({*_VALUE_TYPES, "$"})


def _check_tree(root: Node, data: bytes) -> None:
    """Refuse a tree that places tokens otherwise than the shell reads them. tree-sitter-bash
    skips as blanks what the shell keeps in a word (``\\<space>``, ``\\<tab>``, a carriage return),
    takes a newline into a word, a redirection or a concatenation where the shell ends the command
    there (an empty ``\\`\\``` before a newline, a backslash first on a line, a blank line then a
    continuation), splits a word that a line continuation joins (``> protec\\<newline>ted``),
    and starts a comment where the shell reads on in a word (``a\\<newline>#;cmd``). The whole
    class is found here, by comparing every gap between tokens and every token with what the
    shell would read there; anything else the grammar recovered from (missing or zero-width
    nodes, children out of place) is refused too."""
    stack: list[tuple[Node, bool]] = [(root, False)]
    seen = 0
    while stack:
        node, one_line = stack.pop()
        seen += 1
        if not seen & 4095 and _out_of_time():
            raise _Limit(f"it took over {ANALYSIS_SECONDS:g}s to analyse; split it into smaller commands")
        kind = node.type
        if node.is_missing or kind == "ERROR":
            raise _Limit("it is not valid shell")
        if node.start_byte == node.end_byte and kind not in _ZERO_WIDTH:
            raise _Limit(f"the grammar reads an empty {kind!r} the shell does not")
        children = node.children
        if not children:
            if kind not in _QUOTED_LEAVES:
                _check_token(data[node.start_byte : node.end_byte], one_line)
            continue
        if kind == "heredoc_body":  # its text is data; what runs in it is checked below
            stack.extend((c, False) for c in children)
            continue
        if kind in _ONE_LINE:
            one_line = True
        elif kind in _MANY_LINES:
            one_line = False
        previous: Node | None = None
        position = node.start_byte
        for child in children:
            if child.start_byte < position or child.end_byte > node.end_byte:
                raise _Limit(f"the grammar places {child.type!r} out of order")
            gap = data[position : child.start_byte]
            if (
                not gap
                and kind in _WORDS_APART
                and previous is not None
                and previous.type in _WORD_LEFT
                and child.type in _WORD_RIGHT
            ):
                raise _Limit(
                    f"the grammar splits the word {_clip(_text_of(data, previous, child), 40)!r} in two"
                )
            if gap or kind in _CONTIGUOUS:
                newline_ok = not one_line or (
                    kind == "heredoc_redirect" and child.type in ("heredoc_body", "heredoc_end")
                )
                _check_gap(data, position, child.start_byte, previous, kind, newline_ok)
            if child.type == "comment":
                _check_comment(data, child.start_byte)
            position = child.end_byte
            previous = child
            stack.append((child, one_line))
        if data[position : node.end_byte]:
            _check_gap(data, position, node.end_byte, None, kind, not one_line)


def _text_of(data: bytes, first: Node, last: Node) -> str:
    return data[first.start_byte : last.end_byte].decode("utf-8", "replace")


def _check_gap(
    data: bytes, start: int, end: int, previous: Node | None, parent: str, newline_ok: bool
) -> None:
    gap = data[start:end]
    if not gap:
        return
    if parent in _CONTIGUOUS:
        raise _Limit(f"a gap {_clip(gap.decode('utf-8', 'replace'), 20)!r} inside one word")
    if not _GAP.fullmatch(gap):
        raise _Limit(
            f"characters the grammar skips and the shell reads: {_clip(gap.decode('utf-8', 'replace'), 20)!r}"
        )
    joined = gap.replace(b"\\\n", b"")
    if not newline_ok and b"\n" in joined:
        raise _Limit("a newline the grammar reads inside a command, where the shell ends it")
    if (
        previous is not None
        and not joined
        and data[start - 1] not in b";&|<>("
        and data[end] not in b";&|<>)"
    ):
        raise _Limit("a line continuation that joins two words into one, which the grammar reads apart")


def _check_token(token: bytes, one_line: bool) -> None:
    """A token outside quotes: no carriage return, vertical tab or form feed (the grammar takes
    them for blanks, the shell for characters), and no unescaped newline inside one line."""
    if re.search(rb"[\r\v\f]", token):
        raise _Limit("a carriage return, vertical tab or form feed outside quotes")
    if b"\n" in token and (one_line or len(token) > 1):
        i = 0
        while i < len(token):
            if token[i] == 0x5C:
                i += 2
                continue
            if token[i] == 0x0A:
                raise _Limit("a newline inside a word, where the shell ends the command")
            i += 1


def _check_comment(data: bytes, start: int) -> None:
    """The shell starts a comment only at the start of a word: after a blank (not an escaped
    one), a newline or an operator, line continuations removed."""
    i = start
    while i >= 2 and data[i - 2 : i] == b"\\\n":
        i -= 2
    if i == 0:
        return
    before = data[i - 1]
    slashes = 0
    while i - 2 - slashes >= 0 and data[i - 2 - slashes] == 0x5C:
        slashes += 1
    if before not in _WORD_START or slashes % 2:
        raise _Limit("a '#' the grammar takes for a comment, where the shell reads on in a word")


def _text(node: Node) -> str:
    """A node's source text, sliced from the script being walked. (``Node.text`` would ask the
    parser's reader again for a script parsed in chunks: slow on long input.)"""
    return _local.source[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")


class _Walker:
    """Walks statements with an explicit stack; each frame knows its nesting depth."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.paths: list[PathUse] = []
        self.nodes = 0
        self.uses_home = False
        self.changes_dir = False
        self.links: str | None = None  # a command that makes links: later paths may go through them
        self.mentions: list[str] = []
        self.cd_targets: list[str | None] = []
        self.bindings: dict[str, str] = {}  # a static loop's variable, while its body is judged
        self.unrolled = 0  # loop iterations judged so far in the loops around this one
        self.reparsed = 0  # bytes of misread pieces parsed again, bounded like the input
        self.lost_dir: int | None = None  # mentions from here on follow a cd to a folder not known

    def result(self) -> Analysis:
        paths = self.paths
        if self.links:  # `ln -s ../protected l; echo x > l/file`: a path may go through a new link
            paths = [replace(u, path=None, why=self.links, glob=None) for u in paths]
            paths.append(PathUse("write", None, self.links, self.links))
        mentions = () if self.links else tuple(dict.fromkeys(self.mentions))
        if not self.links and self.changes_dir and None in self.cd_targets:  # a cd to a folder not known
            why = "a relative path after a change of directory"
            paths = [
                replace(u, path=None, why=why, glob=None) if u.path is not None and _relative(u.path) else u
                for u in paths
            ]
            # a later command's word that may name a file, read or written: judged as a path not known
            lost = [m for m in dict.fromkeys(self.mentions[self.lost_dir or 0 :]) if _relative(m)]
            paths += [PathUse(op, None, m, why) for m in lost for op in ("read", "write")]
        judged = sum(len(w.value or "") for part in self.parts for w in part.words)
        judged += sum(len(u.path or "") + len(u.raw) for u in paths) + sum(map(len, mentions))
        if judged > MAX_JUDGED:  # loops unrolled, a word reused: judging cost grows with this
            raise _Limit(f"it expands to over {MAX_JUDGED} characters of words and paths to judge")
        return Analysis(
            tuple(self.parts),
            tuple(paths),
            None,
            self.uses_home,
            self.changes_dir,
            tuple(self.cd_targets),
            mentions,
            judged,
        )

    def _count(self, n: int = 1) -> None:
        before = self.nodes
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise _Limit(f"it has more than {MAX_NODES} syntax nodes; split it into smaller commands")
        if before >> 9 != self.nodes >> 9 and _out_of_time():
            raise _Limit(f"it took over {ANALYSIS_SECONDS:g}s to analyse; split it into smaller commands")

    def script(self, text: str, depth: int) -> None:
        """A whole command line (the top, or the text a wrapper runs: ``sh -c``, ``ssh host``)."""
        if depth > MAX_DEPTH:
            raise _Limit(f"it nests more than {MAX_DEPTH} levels of commands")
        _split_operators(text)
        root, data = _parse(text)
        outer = getattr(_local, "source", b"")
        _local.source = data
        try:
            self.statements([root], depth)
        finally:
            _local.source = outer

    # -- statements ------------------------------------------------------------------------------

    def statements(self, nodes: list[Node], depth: int) -> None:
        stack: list[tuple[Node, int]] = [(n, depth) for n in reversed(nodes)]
        while stack:
            node, level = stack.pop()
            self._count()
            if level > MAX_DEPTH:
                raise _Limit(f"it nests more than {MAX_DEPTH} levels of commands")
            kind = node.type
            if not node.is_named or kind == "comment":
                continue
            if kind in (
                "program",
                "list",
                "pipeline",
                "negated_command",
                "do_group",
                "elif_clause",
                "else_clause",
                "if_statement",
            ):
                stack.extend((c, level) for c in reversed(node.children))
            elif kind == "while_statement":
                # its body runs again after its own later commands: a loop variable bound outside
                # may have been set inside (by an inner loop) before any command of it runs
                self.bindings = {}
                stack.extend((c, level) for c in reversed(node.children))
            elif kind == "subshell":
                stack.extend((c, level + 1) for c in reversed(node.children))
            elif kind == "compound_statement":
                if node.children and node.children[0].type == "((":
                    self._dynamic_statement(node, level, "an arithmetic command (( )) evaluates its text")
                else:
                    stack.extend((c, level + 1) for c in reversed(node.children))
            elif kind == "redirected_statement":
                self._redirected(node, level, stack)
            elif kind == "command":
                self._command(node, level, [])
            elif kind in ("variable_assignment", "variable_assignments"):
                self._assignments(node, level)
            elif kind == "declaration_command":
                self._dynamic_statement(
                    node, level, f"'{_text(node.children[0])}' sets variables and attributes"
                )
            elif kind == "unset_command":
                self._dynamic_statement(node, level, "unset evaluates array subscripts")
            elif kind == "test_command":
                self._test(node, level)
            elif kind == "for_statement":
                self._for(node, level, stack)
            elif kind == "c_style_for_statement":
                self._dynamic_statement(node, level, "a for (( )) loop evaluates arithmetic")
            elif kind == "case_statement":
                self._case(node, level, stack)
            elif kind == "function_definition":
                self._dynamic_statement(node, level, "it defines a function, which runs later")
            elif kind in _REDIRECTS:
                self._redirect(node, level, [])
            else:
                self._dynamic_statement(node, level, f"'{kind}' syntax is not judged")

    def _dynamic_statement(self, node: Node, level: int, why: str) -> None:
        """A statement whose meaning is not static: one dynamic part, and whatever commands run
        inside it are parts too (so deny rules still apply to them)."""
        self.parts.append(Part((), _clip(_text(node)), dynamic=why))
        self.bindings = {}  # it may set any variable
        self._nested_commands(node, level + 1)

    def _nested_commands(self, node: Node, level: int) -> None:
        """The statements inside a node that is judged as a whole (function bodies, arithmetic,
        declarations): every command in it, and every substitution."""
        stack = [node]
        bodies: list[Node] = []
        while stack:
            current = stack.pop()
            self._count()
            for child in current.children:
                if child.type in (
                    "word",
                    "command_substitution",
                    "process_substitution",
                    "expansion",
                    "arithmetic_expansion",
                ):
                    self._inside(child, level, quoted=current.type == "string")
                elif child.type in ("compound_statement", "subshell", "do_group") or (
                    child.type in ("command", "redirected_statement", "pipeline", "list")
                ):
                    bodies.append(child)
                else:
                    stack.append(child)
        if bodies:
            self.statements(bodies, level)

    def _redirected(self, node: Node, level: int, stack: list[tuple[Node, int]]) -> None:
        body = node.child_by_field_name("body")
        redirects = [c for c in node.children if c.type in _REDIRECTS]
        extra: list[Node] = []
        for redirect in redirects:
            extra += self._redirect(redirect, level, extra)
        if body is not None and body.type == "command":
            self._command(body, level, extra)
        else:
            if extra:  # words after a redirect belong to a command that is not a simple one
                self._dynamic_statement(node, level, "words follow a redirection of a compound command")
                return
            if body is not None:
                stack.append((body, level))

    def _redirect(self, node: Node, level: int, so_far: list[Node]) -> list[Node]:
        """Record a redirection's path; return the words that follow it, which bash gives to the
        command (``echo >/dev/null rm x`` runs ``echo rm x``)."""
        kind = node.type
        if kind == "heredoc_redirect":
            self._heredoc(node, level)
            return []
        values = [c for c in node.children if c.is_named and c.type != "file_descriptor"]
        if kind == "herestring_redirect":
            for value in values:
                self.word(value, level)  # its substitutions run; the text itself is data
            return []
        op = next((_text(c) for c in node.children if not c.is_named), "")
        if not values:
            return []
        target, extra = values[0], values[1:]
        if extra and op in ("&>", "&>>"):
            # bash: more words for the command; dash: `cmd &` then a new command of those words.
            self.parts.append(
                Part((), _clip(_text(node)), dynamic=f"words after '{op}' are a new command in dash")
            )
        word = self.word(target, level)
        if op in (">&", "<&") and word.value is not None and re.fullmatch(r"\d+-?|-", word.value):
            return extra  # another descriptor, not a file
        operation: Literal["read", "write"] = "write" if op in _WRITE_OPS else "read"
        self._path(word, operation, redirect=True)
        return extra

    def _heredoc(self, node: Node, level: int) -> None:
        start = next((c for c in node.children if c.type == "heredoc_start"), None)
        delimiter = _text(start) if start is not None else ""
        quoted = any(q in delimiter for q in "'\"\\")
        if start is not None:
            _check_heredoc(node, start)
        for child in node.children:
            if child.type == "heredoc_body" and not quoted:
                if any(c.type != "heredoc_content" for c in child.children if c.is_named) or re.search(
                    r"[$`]", _text(child)
                ):
                    self.parts.append(
                        Part(
                            (),
                            "<<" + delimiter,
                            dynamic="a heredoc body with expansions (its delimiter is unquoted)",
                        )
                    )
                    self._inside(child, level + 1, quoted=True)
            elif child.type in ("pipeline", "list", "redirected_statement", "command"):
                self.statements([child], level)  # `cat <<EOF | grep x`: the rest of the line
            elif child.type in _REDIRECTS:
                extra = self._redirect(child, level, [])
                if extra:
                    self.parts.append(
                        Part((), _clip(_text(child)), dynamic="words after a heredoc redirection")
                    )

    def _assignments(self, node: Node, level: int) -> None:
        names = []
        dynamic = None
        items = node.children if node.type == "variable_assignments" else [node]
        for item in items:
            if item.type != "variable_assignment":
                continue
            name, value = self._assignment(item, level)
            names.append(name)
            dynamic = dynamic or value
        self.parts.append(Part((), _clip(_text(node)), dynamic=dynamic, assigns=tuple(names)))
        self._unbind(names)

    def _unbind(self, names: list[str] | tuple[str, ...]) -> None:
        """A loop variable set again (``x=v``, ``x=v cmd`` in dash before a special builtin) no
        longer holds the loop's value."""
        if any(n in self.bindings for n in names):
            self.bindings = {k: v for k, v in self.bindings.items() if k not in names}

    def _assignment(self, node: Node, level: int) -> tuple[str, str | None]:
        """The variable an assignment sets, and why its value is not static (None when it is)."""
        name_node = node.child_by_field_name("name")
        name = _text(name_node) if name_node is not None else ""
        if name_node is None or name_node.type != "variable_name" or "+=" in _text(node)[: len(name) + 2]:
            return name or _text(node), "an array element or an append"
        value = node.child_by_field_name("value")
        if value is None:
            return name, None
        word = self.word(value, level)
        if word.value is None:
            return name, f"{name} is set to a value computed at run time ({word.why})"
        if "~" in word.raw and word.value is not None and "'" not in word.raw and '"' not in word.raw:
            return name, f"{name}'s value has a ~, which bash expands in assignments"
        return name, None

    def _test(self, node: Node, level: int) -> None:
        opener = _text(node.children[0]) if node.children else "["
        raw = _text(node)
        words: list[Word] = []
        dynamic = None
        stack = [c for c in reversed(node.children) if c.is_named]
        while stack:
            child = stack.pop()
            self._count()
            if child.type in ("binary_expression", "unary_expression", "parenthesized_expression"):
                stack.extend(c for c in reversed(child.children) if c.is_named)
                for op in (c for c in child.children if not c.is_named or c.type == "test_operator"):
                    words.append(Word(_text(op), _text(op)))
                continue
            if child.type == "test_operator":
                words.append(Word(_text(child), _text(child)))
                continue
            word = self.word(child, level)
            words.append(word)
            if word.value is None:
                dynamic = dynamic or word.why
        ops = {w.value for w in words}
        if "-v" in ops:
            dynamic = dynamic or "test -v evaluates array subscripts"
        if opener == "[[":
            inner = raw[2:-2]
            if re.search(r"&&|\|\||[<>();|&\n]", _strip_quotes(inner)):
                dynamic = dynamic or "[[ ]] with operators that dash reads as shell syntax"
            arithmetic = ops & {"-eq", "-ne", "-lt", "-le", "-gt", "-ge"}
            if arithmetic and not all(
                w.value is not None and re.fullmatch(r"-?\d+", w.value)
                for w in words
                if w.value not in ops and w.value is not None and not w.value.startswith("-")
            ):
                dynamic = dynamic or "[[ ]] evaluates the operands of arithmetic tests"
        self.parts.append(Part(tuple(words), _clip(raw), dynamic=dynamic, harmless=dynamic is None))

    def _for(self, node: Node, level: int, stack: list[tuple[Node, int]]) -> None:
        """A loop over words known without running anything is judged once per word, with the
        variable replaced by it (``for svc in a b; do systemctl status "$svc"; done``); any other
        loop is dynamic, and its body judged once as written."""
        variable = node.child_by_field_name("variable")
        name = _text(variable) if variable is not None else ""
        words = [self.word(value, level) for value in node.children_by_field_name("value")]
        dynamic = next((w.why for w in words if w.value is None), None)
        if node.children and node.children[0].type == "select":
            dynamic = dynamic or "select reads its choice at run time"
        header = _clip(_text(node).split("\n", 1)[0])
        body = node.child_by_field_name("body")
        values = [Matches(w.value) if w.glob else w.value for w in words if w.value is not None]
        # `_` is bash's last argument of the previous command, not the loop's value
        local = re.fullmatch(r"[a-z_][a-z0-9_]*", name) is not None and name not in _ENV_LIKE and name != "_"
        unroll = len(values) * max(self.unrolled, 1)
        static = (
            dynamic is None and body is not None and bool(words) and len(values) <= MAX_LOOP_VALUES and local
        )
        if static and unroll > MAX_UNROLLED:
            static = False
            dynamic = f"loops nested {unroll} times over; more than {MAX_UNROLLED} are not judged"
        if static and body is not None:
            self.parts.append(Part((), header, harmless=True))
            outer = self.unrolled
            self.unrolled = unroll
            try:
                for value in values:  # what one iteration unbinds stays unbound in the next ones
                    self.bindings = {**self.bindings, name: value}
                    self.statements([body], level + 1)
            finally:
                self.unrolled = outer
            # after the loop (or a break) the variable holds one of its values: not known here
            self._unbind([name])
            return
        self.bindings = {}  # the body runs again after its own later commands (see while loops)
        if dynamic is None and not words:
            dynamic = "a loop over the positional parameters"
        self.parts.append(
            Part(
                (),
                header,
                dynamic=dynamic or f"a loop over {len(words)} words",
                assigns=(name,) if name else (),
            )
        )
        if body is not None:
            stack.append((body, level))

    def _case(self, node: Node, level: int, stack: list[tuple[Node, int]]) -> None:
        value = node.child_by_field_name("value")
        dynamic = None
        if value is not None:
            word = self.word(value, level)
            dynamic = word.why if word.value is None else None
        header = _clip(f"case {_text(value) if value is not None else ''} in")
        self.parts.append(Part((), header, dynamic=dynamic, harmless=dynamic is None))
        for item in node.children:
            if item.type != "case_item":
                continue
            body = _item_body_start(item)
            for child in item.children:
                if not child.is_named:
                    continue
                if child.start_byte < body:  # a pattern: its expansions run, its text is data
                    pattern = self.word(child, level, pattern=True)
                    if pattern.value is None:
                        self.parts.append(Part((), _clip(_text(child)), dynamic=pattern.why))
                else:
                    stack.append((child, level))

    # -- simple commands -------------------------------------------------------------------------

    def _command(self, node: Node, level: int, extra: list[Node]) -> None:
        assigns: list[str] = []
        dynamic: str | None = None
        words: list[Word] = []
        trailing: list[Node] = []
        for index, child in enumerate(node.children):
            kind = child.type
            if kind == "$":  # a `$` alone is itself; before a string it is a locale string's `$"..."`
                after = node.children[index + 1] if index + 1 < node.child_count else None
                if after is None or after.start_byte > child.end_byte:
                    words.append(Word("$", "$"))
            elif kind == "variable_assignment":
                name, why = self._assignment(child, level)
                assigns.append(name)
                dynamic = dynamic or why
            elif kind == "command_name":
                inner = next((c for c in child.children if c.is_named), child)
                if inner.type == "word" and _text(inner) in _RESERVED:  # `! for x in a; do cmd; done`
                    raise _Limit(
                        f"'{_text(inner)}' is a reserved word where the grammar reads a command name"
                    )
                words.append(self.word(inner, level))
            elif kind in _REDIRECTS:
                trailing += self._redirect(child, level, trailing)
            elif kind in _VALUE_TYPES:
                words.append(self.word(child, level))
            elif child.is_named and kind != "comment":
                dynamic = dynamic or f"'{kind}' in a command is not judged"
        words += [self.word(n, level) for n in (*trailing, *extra)]
        text = _clip(_text(node) + "".join(" " + _text(n) for n in extra))
        dynamic = dynamic or _joined_words(node)
        if not words:  # only assignments (and redirections)
            self.parts.append(Part((), text, dynamic=dynamic, assigns=tuple(assigns)))
            self._unbind(assigns)
            return
        name = words[0]
        if name.value is None:
            dynamic = dynamic or f"the command name is computed at run time ({name.why})"
        elif name.glob:
            dynamic = dynamic or "the command name is a glob"
        unknown = next((w for w in words[1:] if w.value is None and not w.filename), None)
        divergent = next((w for w in words if w.divergent), None)
        if divergent is not None:
            dynamic = dynamic or divergent.why
        elif unknown is not None and not _inert(words):
            dynamic = dynamic or f"an argument is computed at run time ({unknown.why})"
        self.simple(tuple(words), text, level, dynamic=dynamic, assigns=tuple(assigns))

    def simple(
        self,
        words: tuple[Word, ...],
        text: str,
        level: int,
        *,
        dynamic: str | None = None,
        assigns: tuple[str, ...] = (),
        open_tail: bool = False,
    ) -> None:
        """A simple command: what the programs table knows of it decides whether it is static,
        which files it touches and what it runs in turn (a wrapper's command, ``sh -c`` text)."""
        if level > MAX_DEPTH:
            raise _Limit(f"it nests more than {MAX_DEPTH} levels of commands")
        seen = programs.inspect([w.value for w in words])
        dynamic = dynamic or seen.dynamic or _pipes_problem(words, seen)
        if open_tail and dynamic is None:
            program = posixpath.basename(words[0].value or "")
            if program in programs.XARGS_SAFE:  # the words it adds are judged as files it reads
                if program not in programs.NO_FILE_READS:
                    operation: Literal["read", "list"] = "list" if program in programs.LISTS_ONLY else "read"
                    self.paths.append(
                        PathUse(operation, None, text, "xargs names the files at run time", tree=True)
                    )
            else:
                dynamic = "xargs adds words it reads at run time, options included"
        assigns = (*assigns, *seen.assigns)
        self.parts.append(
            Part(
                words,
                text,
                dynamic=dynamic,
                assigns=assigns,
                transparent=seen.transparent,
                open_tail=open_tail,
                opaque=seen.opaque,
            )
        )
        self._unbind(assigns)
        if seen.dynamic:  # read, eval, source, getopts...: it may set any variable
            self.bindings = {}
        if seen.changes_dir:
            self.changes_dir = True
            # a folder a wrapper or option names (git -C, env -C, tar -C), else cd's own operand
            self.cd_targets.append(PHYSICAL + seen.chdir if seen.chdir is not None else _cd_target(words))
        if seen.makes_links:
            self.links = self.links or f"{text[:60]} makes links, which later paths may go through"
        for operation, index in seen.paths:
            self._path(words[index], operation)
        for operation, index in seen.trees:
            self._path(words[index], operation, tree=True)
        for operation, value in seen.value_paths:
            if value.endswith("/**"):  # everything below a folder (tar -C DIR -x, grep -r with no file)
                self._path(Word(value[:-3] or ".", value), operation, tree=True)
            else:
                self._path(Word(value, value), operation)
        if seen.unknown_writes:
            why = f"it writes files it names itself: {seen.unknown_writes}"
            self.paths.append(PathUse("write", None, text, why=why))
        if not seen.paths_known:
            self.mentions += _mentioned(words)
        if seen.changes_dir and self.cd_targets[-1] is None and self.lost_dir is None:
            self.lost_dir = len(self.mentions)  # later commands run in a folder not known
        for inner in seen.runs:
            if inner.script is not None:
                self.script(inner.script, level + 1)
                continue
            start, stop = inner.span
            inner_words = tuple(
                Word(None, w.raw, "find puts each file's name there", filename=True)
                if w.value in inner.placeholders
                else w
                for w in words[start:stop]
            )
            if not inner_words:
                continue
            unknown = next((w for w in inner_words if w.value is None and not w.filename), None)
            self.simple(
                inner_words,
                _clip(" ".join(w.raw for w in inner_words[:64])),
                level + 1,
                open_tail=inner.open_tail or open_tail,
                dynamic=None if unknown is None else f"a word is computed at run time ({unknown.why})",
            )

    # -- words -----------------------------------------------------------------------------------

    def word(self, node: Node, level: int, *, pattern: bool = False) -> Word:
        """A word's value, with quotes removed; None (and why) when expansions make it unknown.
        Substitutions inside it are walked: the commands they run are parts."""
        if node.type == "word" and not node.child_count:  # most words: plain text, nothing in them
            raw = _text(node)
            if _PLAIN.fullmatch(raw):
                self._count()
                return Word(raw, raw, None, False, False)
        if node.type == "process_substitution" and not pattern:  # a whole word: a pipe's name
            self._count()
            self._substitution(node, level, False)
            return Word(PIPE, _text(node), pipe=True)
        pieces: list[str] = []
        unquoted: list[str] = []  # the word as written, its quoted parts blanked: for brace and ~ checks
        divergent = False
        why: str | None = None
        glob = False
        many = False
        stack = [(node, False)]  # (node, inside double quotes)
        while stack:
            current, quoted = stack.pop()
            self._count()
            kind = current.type
            raw = _text(current)
            if kind in ("word", "number", "regex"):
                unquoted.append(raw if not quoted else "_")
                value, bad, has_glob = _unquoted(raw) if kind == "word" and not quoted else (raw, None, False)
                if bad:
                    why = why or bad
                if kind == "regex" and re.search(r"[$`]", raw):  # [[ a =~ `cmd` ]]: plain text to the grammar
                    why = why or f"an expansion in {_clip(raw, 60)!r}"
                if kind != "number" and _OPENS.search(raw):
                    self._inside(current, level + 1, quoted)
                if (
                    value is not None
                    and value.startswith("~")
                    and not pieces
                    and current.start_byte == node.start_byte
                ):
                    prefix = raw.split("/", 1)[0]  # the tilde prefix ends at the first unquoted slash
                    if "\\" in prefix or ("/" not in raw and current.end_byte != node.end_byte):
                        value, bad = None, f"a ~ prefix with quoted or computed text in {_clip(raw, 40)!r}"
                    else:
                        value, bad = _tilde(value)
                    why = why or bad
                    self.uses_home = self.uses_home or bad is None
                pieces.append(value or "")
                glob = glob or has_glob
            elif kind == "concatenation":
                stack.extend((c, quoted) for c in reversed(current.children))
            elif kind == "string":
                unquoted.append("_")
                stack.extend((c, True) for c in reversed(current.children) if c.is_named)
            elif kind == "string_content":
                value, bad = _double_quoted(raw)
                why = why or bad
                pieces.append(value)
            elif kind == "raw_string":
                unquoted.append("_")
                pieces.append(raw[1:-1])
            elif kind == "ansi_c_string":
                unquoted.append("_")
                inner = raw[2:-1]
                if "'" in inner:
                    why = why or "a $'...' string holding a quote, which dash reads differently"
                    divergent = True
                value, bad = _ansi_c(inner)
                why = why or bad
                pieces.append(value or "")
            elif kind in ("simple_expansion", "expansion") and raw in ("$HOME", "${HOME}"):
                pieces.append(HOME)
                self.uses_home = True
            elif (
                kind in ("simple_expansion", "expansion")
                and (bound := _bound(raw, self.bindings)) is not None
            ):
                if not quoted and re.search(r"[\s*?\[]", bound):
                    why = why or f"{raw} holds a space or a glob, split and expanded when unquoted"
                elif isinstance(bound, Matches):  # one of a glob's matches: as the glob, alone
                    if _text(node) != f'"{raw}"':
                        why = why or f"{raw} is one of a glob's matches, inside a longer word"
                    glob = True
                unquoted.append("_")
                pieces.append(bound)
            elif kind in ("command_substitution", "process_substitution"):
                why = why or f"{'a command' if kind[0] == 'c' else 'a process'} substitution {_clip(raw, 60)}"
                self._substitution(current, level, quoted)
            elif kind in (
                "simple_expansion",
                "expansion",
                "arithmetic_expansion",
                "translated_string",
                "brace_expression",
                "array",
                "special_variable_name",
                "variable_name",
                "extglob_pattern",
            ):
                why = why or f"{_describe(kind)} {_clip(raw, 60)}"
                many = many or not quoted
                self._inside(current, level + 1, quoted)
            elif not current.is_named:
                if kind == '"':
                    continue
                pieces.append(raw)
            else:
                why = why or f"'{kind}' is not judged"
        written = "".join(unquoted)
        if not why and "{" in written and re.search(r"\{[^{}]*(,|\.\.)[^{}]*\}", re.sub(r"\\.", "", written)):
            why = f"a brace expansion in {_clip(_text(node), 60)!r}"
        if not why and re.search(r"(?<!\\)[=:]~", written):
            why = f"a ~ after '=' or ':' in {_clip(_text(node), 60)!r}, which bash expands and dash does not"
        value = None if why else "".join(pieces)
        return Word(value, _text(node), why, glob, many and (pattern or why is not None), divergent=divergent)

    def _inside(self, node: Node, level: int, quoted: bool) -> None:
        """What runs while the shell expands ``node``: the commands of its substitutions are parts,
        and an expansion that does more than read a value (assigns, runs code, or is read by the
        shell otherwise than by the grammar) is a dynamic part, so even echo's words count."""
        stack: list[tuple[Node, bool, Node | None]] = [(node, quoted, None)]
        misread: set[int] = set()
        while stack:
            current, in_string, literal = stack.pop()
            self._count()
            kind = current.type
            if kind in ("command_substitution", "process_substitution"):
                self._substitution(current, level, in_string)
                continue
            if kind == "word" and "`" in _text(current):  # `${x:=`cmd`}`: the grammar leaves it a word
                for inner in _backticks(_text(current), in_string):
                    self._reparse(inner)
                    self.script(inner, level + 1)
                continue
            if kind in _PLAIN_LEAVES and not current.child_count and _OPENS.search(_text(current)):
                self._hidden(current, level)
                continue
            if kind in ("raw_string", "ansi_c_string"):
                if literal is not None and literal.start_byte not in misread:
                    misread.add(literal.start_byte)
                    self._misread(literal, level)
                continue
            if kind in ("expansion", "simple_expansion", "arithmetic_expansion"):
                effect = _effect(kind, *_head(current))
                if effect is not None:
                    self.parts.append(Part((), _clip(_text(current)), dynamic=effect))
                    self.bindings = {}
                if kind == "arithmetic_expansion" or (kind == "expansion" and in_string):
                    literal = current  # its single quotes are plain characters to the shell
            elif kind == "string":
                in_string, literal = True, None
            stack.extend((c, in_string, literal) for c in reversed(current.children))

    def _misread(self, node: Node, level: int) -> None:
        """``"${x:-'$(cmd)'}"`` and ``$(( '$(cmd)' ))``: the shell takes those single quotes as
        plain characters and runs cmd; the grammar reads a quoted string. The expansion is
        dynamic, and its text is read again with the quotes blanked, so every command in it is
        a part (some may not run: judging more than runs is safe)."""
        self.parts.append(
            Part((), _clip(_text(node)), dynamic="single quotes the shell reads as plain characters here")
        )
        self._reread(_text(node).replace("'", "_"), level + 1)

    def _hidden(self, node: Node, level: int) -> None:
        """A pattern the grammar keeps as plain text (``${x##$(cmd)}``, ``${x^^`cmd`}``): the shell
        expands it, so it is read again inside double quotes, single quotes blanked (more may be
        found than runs, never less). Quotes in it make it dynamic: bash and dash differ there."""
        text = _text(node)
        if re.search("['\"]", text):
            self.parts.append(
                Part((), _clip(text), dynamic="a pattern with quotes and substitutions, read as plain text")
            )
        self._reread('"' + text.replace("'", "_") + '"', level + 1)

    def _reread(self, text: str, level: int) -> None:
        """Walk what runs in ``text``, a piece of a word rewritten so the grammar reads it as the
        shell does; it must stay one word."""
        self._reparse(text)
        if level > MAX_DEPTH:
            raise _Limit(f"it nests more than {MAX_DEPTH} levels of commands")
        root, data = _parse(text)
        self._count(root.descendant_count)
        command = root.named_children[0] if root.named_child_count == 1 else None
        if command is None or command.type != "command" or command.named_child_count != 1:
            raise _Limit(f"quoting in {_clip(text, 60)!r} that the analysis cannot follow")
        outer = _local.source
        _local.source = data
        try:
            self._inside(root, level, quoted=False)
        finally:
            _local.source = outer

    def _substitution(self, node: Node, level: int, quoted: bool) -> None:
        """A command or process substitution's commands. Inside backquotes bash first removes the
        backslash before ``$``, a backquote or a backslash (and ``"`` inside double quotes):
        `` `echo \\`cmd\\`` `` runs cmd. The grammar keeps them, so such a body is read again. And
        the first unescaped backquote ends it, quotes or not (`` `echo '`;cmd;`'` ``)."""
        raw = _text(node)
        inner = _unbackquote(raw[1:-1], quoted) if raw.startswith("`") else None
        if inner is not None and inner != raw[1:-1]:
            self._reparse(inner)
            self.script(inner, level + 1)
            return
        bodies = [c for c in node.children if c.is_named]
        if bodies:
            self.statements(bodies, level + 1)

    def _reparse(self, text: str) -> None:
        """Text read again is bounded like the input: no more than :data:`MAX_BYTES` in all."""
        self.reparsed += len(text)
        if self.reparsed > MAX_BYTES:
            raise _Limit(f"it holds over {MAX_BYTES} bytes of nested substitutions; split it")

    def _path(
        self,
        word: Word,
        operation: Literal["read", "write", "list"],
        redirect: bool = False,
        tree: bool = False,
    ) -> None:
        if word.value is None:
            self.paths.append(PathUse(operation, None, word.raw, word.why, redirect, tree))
            return
        value = word.value
        if (redirect and value in _HARMLESS_TARGETS) or word.pipe:  # a pipe: its commands are parts
            return
        # a name with a line break cannot be asked about (see hostfacts), nor shown plainly
        if _CONTROL.search(value.removeprefix(HOME)):
            self.paths.append(PathUse(operation, None, word.raw, "a path with control characters", redirect))
            return
        if word.glob and redirect:
            self.paths.append(PathUse(operation, None, word.raw, "a glob in a redirect target", redirect))
            return
        if re.match(r"/dev/(tcp|udp)/", value) and redirect:
            self.paths.append(
                PathUse(operation, None, word.raw, "a network connection through /dev/tcp", redirect)
            )
            return
        if word.glob:  # the host expands it; without that, judged by the folder its matches stay in
            self.paths.append(
                PathUse(operation, _glob_folder(value), word.raw, None, redirect, tree, glob=value)
            )
            return
        self.paths.append(PathUse(operation, value, word.raw, None, redirect, tree))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_LOOP_VALUES = 16
MAX_UNROLLED = 64  # iterations of nested static loops judged, in all
#: Lower-case variables programs read from the environment: a loop may not set them.
_ENV_LIKE = frozenset("http_proxy https_proxy ftp_proxy all_proxy no_proxy rsync_proxy wais_proxy".split())


class Matches(str):
    """A loop variable's value that is one of a glob's matches (``for f in logs/*.log``): a word
    that is exactly ``"$f"`` is judged as that glob, which the host expands (see hostfacts)."""


def _bound(raw: str, bindings: dict[str, str]) -> str | None:
    """The value of ``$name`` or ``${name}`` when ``name`` is a static loop's variable."""
    match = re.fullmatch(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})", raw)
    if match is None:
        return None
    return bindings.get(match.group(1) or match.group(2))


def _cd_target(words: tuple[Word, ...]) -> str | None:
    """Where ``cd DIR`` or ``pushd DIR`` goes (``cd`` alone: home), :data:`PHYSICAL` first after
    ``-P``; None for anything else that changes folder (``popd``, ``pushd +1``, ``cd -``: a folder
    from the shell's stack)."""
    name = words[0].value
    if name not in ("cd", "pushd"):
        return None
    physical = False
    rest = list(words[1:])
    while rest and rest[0].value is not None and re.fullmatch(r"-[LPe@]+", rest[0].value):
        for flag in rest.pop(0).value or "":  # the last of -L and -P counts
            physical = True if flag == "P" else False if flag == "L" else physical
    if rest and rest[0].value == "--":
        rest.pop(0)
    if not rest:
        return HOME if name == "cd" else None
    target = rest[0].value
    if target is None or rest[0].glob or len(rest) > 1 or re.fullmatch(r"-|[-+][0-9]+", target):
        return None
    return PHYSICAL + target if physical else target


#: What bash passes for a process substitution (on Linux): the name of a pipe.
PIPE = "/dev/fd/63"
#: An option no program knows, put where a process substitution is to see whether the program
#: reads that place as an operand (it then complains of the option) or as an option's value.
_PROBE = "-\x01"


def _pipes_problem(words: tuple[Word, ...], seen: programs.Seen) -> str | None:
    """Why the process substitutions among ``words`` make the command dynamic (None: they are
    files it reads or writes as data, like ``diff <(sort a) <(sort b)``). The pipe holds what
    cmd prints, so it is static only where the program reads it as data: an operand the table
    knows as a file, not an option's value (``wc --files0-from``, ``tar -T``: a list of files
    to read), not a program, script or configuration (``bash <(..)``, ``source``, ``awk -f``)."""
    pipes = [i for i, w in enumerate(words) if w.pipe]
    if not pipes:
        return None
    why = "a process substitution, which the program may run or read as options or file names"
    if pipes[0] == 0:
        return "a process substitution run as a program"
    # a wrapper's command is judged on its own: its words are checked there
    inner = [i for i in pipes if not any(r.script is None and r.span[0] <= i < r.span[1] for r in seen.runs)]
    if not inner:
        return None
    if seen.dynamic or seen.opaque or not seen.paths_known or seen.runs:
        return why
    files = {i for _, i in (*seen.paths, *seen.trees)}
    values = [w.value for w in words]
    for i in inner:
        if i not in files:
            return why
        probe = programs.inspect([_PROBE if k == i else v for k, v in enumerate(values)])
        if probe.dynamic is None and probe.paths_known:  # taken as an option's value
            return why
    return None


def _inert(words: tuple[Word, ...]) -> bool:
    """echo (and printf with a known format) only prints: words computed at run time change what
    it prints, not what it does."""
    name = words[0].value
    if name in ("echo", "true", "false", ":"):
        return True
    return (
        name == "printf"
        and len(words) > 1
        and words[1].value is not None
        and not words[1].value.startswith("-")
    )


def _joined_words(command: Node) -> str | None:
    """bash removes a backslash-newline inside a word (``pw\\<newline>n`` is ``pwn``); the grammar
    splits the word there. Two children with only line continuations between them are one word."""
    for left, right in itertools.pairwise(command.children):
        gap = _local.source[left.end_byte : right.start_byte]
        if gap and not gap.strip(b"\\\n") and b"\\\n" in gap:
            return "a line continuation inside a word"
    return None


def _backticks(text: str, quoted: bool = False) -> list[str]:
    """The command lines inside backquotes in ``text`` (an unescaped pair each)."""
    out, i = [], 0
    while (start := _unescaped(text, "`", i)) >= 0:
        end = start + 1
        while end < len(text) and text[end] != "`":
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            raise _Limit(f"an unterminated backquote in {_clip(text, 60)!r}")
        out.append(_unbackquote(text[start + 1 : end], quoted))
        i = end + 1
    return out


def _unescaped(text: str, char: str, start: int) -> int:
    """Where ``char`` is first in ``text`` from ``start`` without a backslash before it (-1: nowhere)."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == char:
            return i
        else:
            i += 1
    return -1


def _unbackquote(inner: str, quoted: bool) -> str:
    """The command line bash runs for `` `inner` ``: a backslash before ``$``, a backquote or a
    backslash (and ``"`` inside double quotes) is removed before the text is parsed."""
    special = '$`\\"' if quoted else "$`\\"
    out: list[str] = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1] if inner[i + 1] in special else inner[i : i + 2])
            i += 2
            continue
        if c == "`":  # the grammar's end of the substitution is not the shell's
            raise _Limit(f"backquotes in {_clip(inner, 60)!r} that the analysis cannot follow")
        out.append(c)
        i += 1
    return "".join(out)


#: Words the shell reads as syntax in a command's place; the grammar sometimes reads a command
#: named so (after ``!`` or ``time``), and the body of that loop as more commands.
_RESERVED = frozenset(
    "! { } [[ ]] case do done elif else esac fi for function if in select then until while".split()
)
#: Nodes the grammar keeps as plain text though the shell expands what they hold.
_PLAIN_LEAVES = frozenset({"regex", "extglob_pattern", "word"})
_OPENS = re.compile(r"\$[({\[]|`")
#: ``$x``, ``$1``, ``$?``: a plain parameter. Anything else (``$\<newline>``) is not.
_SIMPLE_PARAMETER = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]|[-@*#?$!])")
_PARAMETER_NAME = re.compile(r"#?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[-@*#?$!])")
#: Operators that only read the parameter: defaults, tests, pattern removal and replacement,
#: case changes (their operand words are walked on their own).
_READING_OPERATOR = re.compile(r":?[-+?]|##?|%%?|/[/#%]?|\^\^?|,,?|~~?")
_ARITHMETIC_NUMBER = re.compile(r"\b(?:[0-9]+#[0-9A-Za-z@_]+|0[xX][0-9A-Fa-f]+|[0-9]+)\b")
_HEAD = 256  # bytes of an expansion read to judge it: nested ones are not read again whole


def _head(node: Node) -> tuple[str, bool]:
    """The start of a node's text, and whether that is all of it."""
    end = min(node.end_byte, node.start_byte + _HEAD)
    return _local.source[node.start_byte : end].decode("utf-8", "replace"), end == node.end_byte


def _effect(kind: str, raw: str, whole: bool = True) -> str | None:
    """Why expanding ``raw`` does more than read a value (None: it only reads one). Even where the
    words do not matter (echo, a here-string) ``${x:=v}`` assigns, ``${x@P}`` runs the command
    substitutions x holds, and ``${!x}``, ``$((x))``, ``${x:n}`` and ``${a[n]}`` evaluate a
    value as arithmetic, whose array subscripts run commands too: the value may be a loop's
    word or an earlier ``${x:=...}``."""
    if kind == "simple_expansion":
        return None if _SIMPLE_PARAMETER.fullmatch(raw) else f"{_clip(raw, 40)!r} is not a plain parameter"
    if kind == "arithmetic_expansion":
        inner = raw[3:-2] if raw.startswith("$((") else raw[2:-1]
        if whole and _plain_arithmetic(inner):
            return None
        return "an arithmetic expansion evaluates the variables it names, and their values"
    return _parameter_effect(raw, whole)


def _parameter_effect(raw: str, whole: bool) -> str | None:
    """:func:`_effect` of a ``${...}`` expansion (``raw`` may be only its start: ``whole``)."""
    if not raw.startswith("${") or (whole and not raw.endswith("}")):
        return f"an expansion {_clip(raw, 40)!r} the analysis does not follow"
    body = raw[2:-1] if whole else raw[2:]
    if body.startswith("!"):  # ${!prefix*} and ${!array[@]} list names; ${!x} looks x's value up
        if re.fullmatch(r"![A-Za-z_][A-Za-z0-9_]*(?:[@*]|\[[@*]\])", body):
            return None
        return "an indirect expansion ${!x} evaluates x's value as a name (and its subscript)"
    name = _PARAMETER_NAME.match(body)
    if name is None:
        return f"an expansion {_clip(raw, 40)!r} the analysis does not follow"
    rest = body[name.end() :]
    if rest.startswith("["):
        index = re.match(r"\[(?:[@*]|-?[0-9]+)\]", rest)
        if index is None:
            return "an array subscript, evaluated as arithmetic"
        rest = rest[index.end() :]
    if not rest:
        return None if whole else f"an expansion {_clip(raw, 40)!r} the analysis does not follow"
    if rest[0] == "@":
        return (
            None
            if whole and re.fullmatch(r"@[QEAKakUuL]", rest)
            else "a ${x@P} prompt expansion runs the commands x holds"
        )
    if re.match(r":?=", rest):
        return "${x:=value} assigns a variable"
    if rest[0] == ":" and rest[1:2] not in ("-", "+", "?"):
        if whole and _plain_arithmetic(rest[1:]):
            return None
        return "a substring's offset and length are evaluated as arithmetic"
    if _READING_OPERATOR.match(rest):
        return None
    return f"an expansion {_clip(raw, 40)!r} the analysis does not follow"


def _plain_arithmetic(text: str) -> bool:
    """Arithmetic of numbers only: it names no variable, so evaluating it runs nothing."""
    return re.fullmatch(r"[\s+\-*/%<>=!&|^~?:,()]*", _ARITHMETIC_NUMBER.sub(" ", text)) is not None


#: Where a line continuation would split one of these, bash joins them (``$\<newline>(cmd)`` is
#: ``$(cmd)``) and the grammar does not.
_JOINED = frozenset("(( <( >( << <> <& >> >& >| &> && || |& ;; ;& ))".split())


def _split_operators(text: str) -> None:
    r"""Refuse a line continuation inside an operator or after a ``$``: bash removes it first and
    reads one token, the grammar reads two (``"$\<newline>(cmd)"`` runs cmd)."""
    if "\\\n" not in text:
        return
    for match in re.finditer(r"(?:\\\n)+", text):
        start = slash = match.start()
        while slash > 0 and text[slash - 1] == "\\":
            slash -= 1
        if (start - slash) % 2:
            continue  # an escaped backslash, then a newline
        before = text[start - 1 : start] if start else ""
        after = text[match.end() : match.end() + 1]
        if before == "$" or before + after in _JOINED:
            raise _Limit(f"a line continuation inside {before + after!r}, which bash joins into one token")


def _check_heredoc(node: Node, start: Node) -> None:
    """Refuse a heredoc whose end the grammar finds elsewhere than the shell: the shell ends it at
    the first line equal to its delimiter with quotes removed (``<<E'O'F`` ends at ``EOF``), and
    lines after that are commands. A delimiter with ``$`` or a backquote ends differently in bash
    (``<<$'E'`` is E) and dash."""
    word = _heredoc_word(_local.source, start.start_byte)
    if word != _text(start) or re.search(r"[$`]", word):
        raise _Limit(f"a heredoc delimiter {_clip(word, 40)!r} that bash and dash may end elsewhere")
    delimiter = _unquote_delimiter(word)
    tabs = any(not c.is_named and _text(c) == "<<-" for c in node.children)
    end = next((_text(c) for c in node.children if c.type == "heredoc_end"), "")
    body = next((_text(c) for c in node.children if c.type == "heredoc_body"), "")
    if tabs:
        end = end.lstrip("\t")
    if end not in ("", delimiter) or any(
        (line.lstrip("\t") if tabs else line) == delimiter for line in body.split("\n")
    ):
        raise _Limit(f"a heredoc (<<{_clip(word, 40)}) whose end the analysis cannot find")


def _heredoc_word(data: bytes, start: int) -> str:
    """A heredoc's delimiter word as the shell reads it: up to an unquoted blank or operator."""
    quote = 0
    i = start
    while i < len(data) and data[i] != 0x0A:
        c = data[i]
        if c == 0x5C and data[i + 1 : i + 2] == b"\n":
            raise _Limit("a heredoc delimiter with a line continuation")
        if quote:
            if c == quote:
                quote = 0
            elif c == 0x5C and quote == 0x22:
                i += 1
        elif c == 0x5C:
            i += 1
        elif c in b"'\"":
            quote = c
        elif c in b" \t;&|<>()":
            break
        i += 1
    if quote:
        raise _Limit("a heredoc delimiter with an unterminated quote")
    return data[start : min(i, len(data))].decode("utf-8", "surrogatepass")


def _unquote_delimiter(word: str) -> str:
    """A delimiter word with its quotes removed, as the shell compares it with the body's lines."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(word):
        c = word[i]
        if quote == "'":
            quote = "" if c == "'" else quote
            out.append("" if c == "'" else c)
        elif quote == '"':
            if c == "\\" and word[i + 1 : i + 2] in ('"', "\\", "$", "`"):
                out.append(word[i + 1])
                i += 1
            elif c == '"':
                quote = ""
            else:
                out.append(c)
        elif c == "\\":
            out.append(word[i + 1 : i + 2])
            i += 1
        elif c in "'\"":
            quote = c
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _relative(path: str) -> bool:
    return not path.startswith(("/", HOME))


def _glob_folder(value: str) -> str:
    """The folder every match of a glob stays below: ``/var/log/*.log`` -> ``/var/log``."""
    head = re.split(r"[*?\[]", value, maxsplit=1)[0]
    folder = head.rsplit("/", 1)[0] if "/" in head else "."
    return folder or "/"


def _mentioned(words: tuple[Word, ...]) -> list[str]:
    """Every argument and option value that could name a file (``--from=F``, ``-fF``, ``F``)."""
    out = []
    for word in words[1:]:
        value = word.value
        if not value or value in ("-", "--"):
            continue
        if value.startswith("--"):
            _, eq, rest = value.partition("=")
            if eq and rest:
                out += [rest, rest[1:]] if rest.startswith("@") and len(rest) > 1 else [rest]
        elif value.startswith("-") and len(value) > 2:
            out += [value[k:] for k in range(2, min(len(value), 24))]
        elif not value.startswith("-"):
            out.append(value)
            if value.startswith("@") and len(value) > 1:  # gcc, binutils: @FILE holds more options
                out.append(value[1:])
    return out


def _item_body_start(item: Node) -> int:
    """Where a case item's commands start (after its ``)``)."""
    for child in item.children:
        if child.type == ")":
            return child.end_byte
    return item.end_byte


_DESCRIPTIONS = {
    "simple_expansion": "a parameter expansion",
    "expansion": "a parameter expansion",
    "special_variable_name": "a special parameter",
    "variable_name": "a variable",
    "arithmetic_expansion": "an arithmetic expansion",
    "translated_string": "a locale-translated string",
    "brace_expression": "a brace expansion",
    "array": "an array",
    "extglob_pattern": "an extended glob",
}


def _describe(kind: str) -> str:
    return _DESCRIPTIONS.get(kind, kind)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PLAIN = re.compile(r"[^\\$`()*?\[{}=:~]*")


def _unquoted(raw: str) -> tuple[str | None, str | None, bool]:
    """An unquoted word's value: backslashes removed. Returns (value, why not static, glob)."""
    if _PLAIN.fullmatch(raw):  # most words: nothing to remove, expand or refuse
        return raw, None, False
    out: list[str] = []
    glob = False
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            if raw[i + 1 : i + 2] == "\n":
                i += 2
                continue
            out.append(raw[i + 1 : i + 2])
            i += 2
            continue
        if c in "$`":
            return None, f"an expansion in {_clip(raw, 60)!r}", False
        if c in "()":
            return None, f"a pattern or syntax in {_clip(raw, 60)!r} that is not judged", False
        if c in "*?[":
            glob = True
        out.append(c)
        i += 1
    unescaped = re.sub(r"\\.", "", raw)
    if "{" in unescaped and "}" in unescaped and re.search(r"\{[^{}]*(,|\.\.)[^{}]*\}", unescaped):
        return None, f"a brace expansion in {_clip(raw, 60)!r}", False
    if re.search(r"[=:]~", unescaped):
        return (
            None,
            f"a ~ after '=' or ':' in {_clip(raw, 60)!r}, which bash expands and dash does not",
            False,
        )
    return "".join(out), None, glob


def _double_quoted(raw: str) -> tuple[str, str | None]:
    out: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append("" if nxt == "\n" else nxt if nxt in '$`"\\' else c + nxt)
            i += 2
            continue
        if c in "$`":
            return "", f"an expansion in {_clip(raw, 60)!r}"
        out.append(c)
        i += 1
    return "".join(out), None


def _tilde(value: str) -> tuple[str | None, str | None]:
    """``~`` and ``~/x`` are the user's home; ``~user``, ``~+`` and ``~-`` are not known."""
    if value == "~" or value.startswith("~/"):
        return HOME + value[1:], None
    return None, f"{value.split('/')[0]} is a directory known only on the host"


_ANSI_CHARS = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdefABCDEF")


def _digits(text: str, start: int, allowed: frozenset[str], limit: int) -> int:
    """Where a run of at most ``limit`` digits of ``allowed`` from ``start`` ends."""
    end = start
    while end < len(text) and end - start < limit and text[end] in allowed:
        end += 1
    return end


def _ansi_c(inner: str) -> tuple[str | None, str | None]:
    """bash's decoding of ``$'...'`` (``ansicstr`` in bash's strtrans.c), and why it is not
    known (None: it is). bash ends the string at its first NUL (``\\0``, ``\\x00``, ``\\c@``,
    ``\\u0000``, ``\\400``): what follows is not there at all. A byte or character above ASCII
    depends on the host's locale. An escape bash does not know keeps its backslash."""
    out: list[str] = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c != "\\" or i + 1 >= len(inner):
            out.append(c)
            i += 1
            continue
        escape, i = inner[i + 1], i + 2
        if escape in _ANSI_CHARS:
            code = ord(_ANSI_CHARS[escape])
        elif escape in _OCTAL:
            end = _digits(inner, i, _OCTAL, 2)
            code, i = int(escape + inner[i:end], 8) & 0xFF, end
        elif escape == "x" and inner[i : i + 1] == "{":  # \x{HHH...}
            end = _digits(inner, i + 1, _HEX, len(inner))
            code = int(inner[i + 1 : end] or "0", 16) & 0xFF
            i = end + 1 if inner[end : end + 1] == "}" else end
        elif escape in "xuU":
            end = _digits(inner, i, _HEX, {"x": 2, "u": 4, "U": 8}[escape])
            if end == i:  # no digits: kept as written
                out.append("\\" + escape)
                continue
            code, i = int(inner[i:end], 16), end
        elif escape == "c" and i < len(inner):
            control, i = inner[i], i + 1
            if control == "\\" and inner[i : i + 1] == "\\":
                i += 1
            if ord(control) > 0x7F:  # bash takes the first byte of its encoding
                return None, "a $'\\c' escape of a character outside ASCII"
            code = 0x7F if control == "?" else ord(control.upper()) & 0x1F
        else:
            out.append("\\" + escape)
            continue
        if code == 0:
            return None, "a $'...' string holding a NUL, where bash ends the string"
        if code > 0x7F:
            return None, "a $'...' escape outside ASCII, which depends on the host's locale"
        out.append(chr(code))
    return "".join(out), None


def _strip_quotes(text: str) -> str:
    """``text`` with quoted strings blanked, to look for operators outside them."""
    return re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"|\\.", "_", text)


def resolve_home(value: str, home: str | None) -> str | None:
    """A value with :data:`HOME` replaced by the host's home directory (None: not known)."""
    if HOME not in value:
        return value
    if not home:
        return None
    return value.replace(HOME, home.rstrip("/") or "/")


def absolute(path: str, home: str | None, cwd: str | None) -> str | None:
    """A path as the host will open it: home resolved, relative paths joined to ``cwd``."""
    resolved = resolve_home(path, home)
    if resolved is None:
        return None
    if resolved.startswith("/"):
        return resolved
    base = resolve_home(cwd, home) if cwd else home
    if not base or not base.startswith("/"):
        return None
    return posixpath.join(base, resolved)


__all__ = [
    "HOME",
    "PHYSICAL",
    "PIPE",
    "Analysis",
    "Part",
    "PathUse",
    "Word",
    "absolute",
    "analyse",
    "resolve_home",
]

"""Is a piece of SQL exactly one statement that only reads? The guard for read-only SQL tools.

A specialist model may run SQL through a declarative tool such as ``sqlite3 -safe -readonly DB QUERY``
or ``psql -X -A -d DB -c QUERY``. The query is hostile data: a model follows instructions it reads in
the rows it just selected, and it makes mistakes. A tool that promises to only read must therefore
judge the query itself. Why the checks below look the way they do:

* **A real parser** (sqlglot), never keyword matching: ``SELECT 'a; DROP TABLE t'`` is one harmless
  statement, while ``SELECT 1 --`` newline ``; DROP TABLE t`` is two.
* **Fail closed.** Whatever sqlglot cannot parse, parses into its generic ``Command`` (it does that
  for EXPLAIN, SHOW, SAVEPOINT, VACUUM...), or parses into a construct missing from the allow list
  below is refused. A parser that guesses is a hole.
* **Judge what the database will read.** sqlglot's lexer is not the database's lexer, and a
  statement hidden where one of them sees a comment or a string and the other sees code would slip
  through. So before the tree is trusted, every place where they could disagree is checked:

  - everything between two tokens must be whitespace or a comment by the *database's* rules
    (PostgreSQL nests ``/* */``; MySQL runs the text of ``/*! ... */`` and needs a space after
    ``--``; SQLite ends ``--`` only at a newline);
  - a string whose end depends on a server setting (a backslash before a quote:
    ``standard_conforming_strings``, ``NO_BACKSLASH_ESCAPES``) is refused;
  - outside strings and quoted names, Unicode space and format characters are refused: sqlglot
    skips U+00A0 or U+2028 as space, PostgreSQL reads them as part of a word; control characters
    and a carriage return without its newline are refused anywhere;
  - SQLite parameters (``$x``, ``:x``, ``@x``, ``#x``) are refused: SQLite reads ``$x(...)`` as one
    token up to the ``)``, which sqlglot does not;
  - a dollar quote glued to a word, PostgreSQL ``U&"..."`` identifiers, and quoting a database does
    not have (backticks in PostgreSQL) are refused;
  - a backslash outside strings is refused: psql, mysql and sqlite3 read it as a client
    meta-command (``\\! id`` runs a shell command).

* **Never an option.** SQL that starts with ``-`` is refused: sqlite3 takes the query as a plain
  argument, reads ``--version`` there as an option and (3.40) has no ``--`` to stop that.
* **Exactly one statement**, counted on sqlglot's ``;`` tokens after the checks above. Empty
  statements (a trailing ``;`` or ``;;``) do nothing, so ``SELECT 1;`` is allowed.
* **Read statements only:** SELECT, TABLE, VALUES, WITH whose every part reads, EXPLAIN (without
  ANALYZE, which runs the statement) of one of those, SHOW (PostgreSQL, MySQL), DESCRIBE (MySQL).
  Anywhere in the tree: no INSERT/UPDATE/DELETE/MERGE (data-modifying CTEs), no SELECT ... INTO
  (creates a table or writes a file), no row locks (FOR UPDATE/SHARE), no assignments.
* **Functions are judged by the name the text calls** (every ``name (`` among the tokens), not by
  the class sqlglot maps a name to: functions that read or write server files, run SQL given as a
  string, change settings or sequences, take locks, signal other sessions or talk to other
  servers are refused. PostgreSQL's ``pg_`` functions are refused except a short list of harmless
  ones (sizes, catalog definitions, type and recovery information). PostgreSQL also calls a
  function with no ``(`` at all: ``x.f`` means ``f(x)`` when x has no column f, so the name after
  every dot in an expression is judged as a function name too.
* **Bounded work:** at most 100 000 characters, at most 100 levels of brackets, and sqlglot's own
  recursion limit turned into a refusal.

This is a guard rail, not the wall. A user-defined or extension function can do anything and no
parser sees inside it. The wall is the account: give each specialist a database role that is not a
superuser and can only read (SELECT grants, ``default_transaction_read_only = on``), run sqlite3
with ``-safe -readonly`` and psql with ``-X``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, Tokenizer, TokenType

DIALECTS = ("sqlite", "postgres", "mysql")
MAX_SQL_CHARS = 100_000
MAX_NESTING = 100

# --- functions ---------------------------------------------------------------------------------

# pg_ functions a read-only tool may call: sizes, catalog definitions, type and server facts.
# Every other pg_ function is refused: most read server files, signal sessions, change settings,
# replication state or statistics, take advisory locks, or sleep.
SAFE_PG_FUNCTIONS = frozenset(
    {
        "pg_size_pretty",
        "pg_size_bytes",
        "pg_database_size",
        "pg_relation_size",
        "pg_total_relation_size",
        "pg_table_size",
        "pg_indexes_size",
        "pg_tablespace_size",
        "pg_column_size",
        "pg_typeof",
        "pg_is_in_recovery",
        "pg_postmaster_start_time",
        "pg_conf_load_time",
        "pg_backend_pid",
        "pg_blocking_pids",
        "pg_get_viewdef",
        "pg_get_indexdef",
        "pg_get_constraintdef",
        "pg_get_triggerdef",
        "pg_get_functiondef",
        "pg_get_function_arguments",
        "pg_get_function_result",
        "pg_get_function_identity_arguments",
        "pg_get_expr",
        "pg_get_userbyid",
        "pg_get_serial_sequence",
        "pg_get_keywords",
        "pg_encoding_to_char",
        "pg_char_to_encoding",
        "pg_table_is_visible",
        "pg_type_is_visible",
        "pg_function_is_visible",
        "pg_has_role",
        "pg_trigger_depth",
        "pg_jit_available",
        "pg_last_xact_replay_timestamp",
        "pg_current_wal_lsn",
        "pg_last_wal_receive_lsn",
        "pg_last_wal_replay_lsn",
        "pg_wal_lsn_diff",
        "pg_input_is_valid",
        "pg_describe_object",
        "pg_identify_object",
        "pg_options_to_table",
    }
)

# Refused in every dialect: a name that is harmless in one database is rarely a column in another.
DENIED_FUNCTIONS: dict[str, str] = {
    # PostgreSQL: server files, large objects, other servers, SQL given as text, settings, state
    "pg_read_file": "reads server files",
    "pg_read_binary_file": "reads server files",
    "pg_stat_file": "reads server files",
    "pg_ls_dir": "lists server directories",
    "pg_file_write": "writes server files",
    "lo_import": "reads server files into the database",
    "lo_export": "writes server files",
    "loread": "reads large objects",
    "lowrite": "writes large objects",
    **dict.fromkeys(
        (
            "lo_create",
            "lo_creat",
            "lo_unlink",
            "lo_open",
            "lo_close",
            "lo_put",
            "lo_get",
            "lo_from_bytea",
            "lo_truncate",
            "lo_truncate64",
            "lo_lseek",
            "lo_lseek64",
            "lo_tell",
            "lo_tell64",
        ),
        "reads or writes large objects",
    ),
    "set_config": "changes settings",
    "setseed": "changes session state",
    "nextval": "changes a sequence",
    "setval": "changes a sequence",
    "txid_current": "assigns a transaction id (a write)",
    "pg_terminate_backend": "ends other sessions",
    "pg_cancel_backend": "cancels other sessions' queries",
    "pg_reload_conf": "reloads the server configuration",
    "pg_rotate_logfile": "rotates the server log",
    "pg_sleep": "stalls the session",
    "pg_sleep_for": "stalls the session",
    "pg_sleep_until": "stalls the session",
    "pg_notify": "sends a notification",
    "ts_stat": "runs SQL given as a string",
    "ts_rewrite": "can run SQL given as a string",
    "connectby": "runs SQL given as a string",
    "gin_clean_pending_list": "changes an index",
    "brin_summarize_new_values": "changes an index",
    "brin_summarize_range": "changes an index",
    "brin_desummarize_range": "changes an index",
    "http": "talks to other servers",
    # SQLite (CLI extensions: fileio, zipfile, sqlar, eval)
    "load_extension": "loads native code",
    "readfile": "reads files",
    "writefile": "writes files",
    "edit": "runs an editor program",
    "fts3_tokenizer": "installs native code pointers",
    "fsdir": "lists directories",
    "zipfile": "reads or writes zip files",
    "zipfile_cds": "reads zip files",
    "sqlar_compress": "belongs to the sqlar file archive",
    "sqlar_uncompress": "belongs to the sqlar file archive",
    "eval": "runs SQL given as a string",
    # MySQL
    "load_file": "reads server files",
    "sleep": "stalls the session",
    "benchmark": "burns server CPU",
    "get_lock": "takes a lock",
    "release_lock": "releases a lock",
    "release_all_locks": "releases locks",
    "master_pos_wait": "waits on replication",
    "source_pos_wait": "waits on replication",
    "wait_for_executed_gtid_set": "waits on replication",
    "sys_exec": "runs programs",
    "sys_eval": "runs programs",
}

DENIED_FUNCTION_PREFIXES: tuple[tuple[str, str], ...] = (
    ("pg_ls_", "lists server directories"),
    ("pg_file_", "writes server files"),
    ("pg_advisory_", "takes advisory locks"),
    ("pg_try_advisory_", "takes advisory locks"),
    ("dblink", "talks to other servers"),
    ("http_", "talks to other servers"),
    ("query_to_xml", "runs SQL given as a string"),
    ("cursor_to_xml", "reads a cursor (declared by another statement)"),
    ("table_to_xml", "runs a query over a whole table"),
    ("schema_to_xml", "runs queries over a whole schema"),
    ("database_to_xml", "runs queries over the whole database"),
    ("crosstab", "runs SQL given as a string"),
    ("binary_upgrade_", "changes the catalog"),
    ("pg_logical_", "changes logical replication state"),
    ("pg_replication_", "changes replication state"),
    ("pg_create_", "creates server objects"),
    ("pg_drop_", "drops server objects"),
    ("pg_stat_reset", "resets statistics"),
)


def _denied_function(name: str) -> str | None:
    """Why calling `name` is not a read, from the deny tables; None when they do not name it."""
    name = name.lower()
    if name in DENIED_FUNCTIONS:
        return f"function {name} {DENIED_FUNCTIONS[name]}"
    for prefix, why in DENIED_FUNCTION_PREFIXES:
        if name.startswith(prefix):
            return f"function {name} {why}"
    return None


def _function_problem(name: str, dialect: str) -> str | None:
    """Why a call of `name` is refused, or None. Case-insensitive: stricter than PostgreSQL."""
    lowered = name.lower()
    if lowered in SAFE_PG_FUNCTIONS:
        return None
    problem = _denied_function(lowered)
    if problem is None and dialect == "postgres" and lowered.startswith("pg_"):
        problem = (
            f"function {lowered} is not on the list of pg_ functions a read-only tool may call "
            "(most read server files, signal sessions or change server state)"
        )
    return problem


# --- lexical agreement between sqlglot and the database ------------------------------------------

_STRING_TOKENS = frozenset(
    {
        TokenType.STRING,
        TokenType.BYTE_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.HEX_STRING,
        TokenType.BIT_STRING,
        TokenType.UNICODE_STRING,
        TokenType.RAW_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.NATIONAL_RAW_STRING,
    }
)
# Tokens whose text is data (or a quoted name): not code, so not scanned for code-only hazards.
_QUOTED_TOKENS = _STRING_TOKENS | {TokenType.IDENTIFIER, TokenType.HINT}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SPACE = " \t\n\r"
_LINE_END = re.compile(r"\n")  # SQLite and MySQL end `--` comments only at a newline
_LINE_END_POSTGRES = re.compile(r"[\n\r]")


def _control_problem(sql: str) -> str | None:
    """Control characters (but tab, newline, CRLF) end words and lines differently per lexer."""
    match = _CONTROL.search(sql)
    if match is None:
        return None
    if match.group() == "\r":
        return "a carriage return not followed by a newline is not allowed"
    return f"control character U+{ord(match.group()):04X} is not allowed"


def _unicode_space_problem(text: str) -> str | None:
    """Outside strings, Unicode space and format characters are refused: sqlglot reads U+00A0 or
    U+2028 as space, PostgreSQL as part of a word. Letters (``café``) are fine."""
    for match in _NON_ASCII.finditer(text):
        char = match.group()
        if unicodedata.category(char)[0] in "CZ":
            name = unicodedata.name(char, "a control or unassigned character")
            return f"character U+{ord(char):04X} ({name}) outside a string is not allowed"
    return None


def _comment_end(sql: str, start: int, nested: bool) -> int | None:
    """Index just past the block comment opened at `start`, or None if it never closes."""
    depth, i = 0, start + 2
    while i < len(sql):
        if nested and sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            if depth == 0:
                return i + 2
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return None


def _line_comment_at(sql: str, i: int, dialect: str) -> bool:
    if dialect == "mysql":  # `#`, or `--` and a space: `--1` is minus minus one
        return sql[i] == "#" or (sql.startswith("--", i) and sql[i + 2 : i + 3] in (" ", "\t", "\n", "\r"))
    return sql.startswith("--", i)


def _gap_problem(sql: str, start: int, end: int, dialect: str) -> str | None:
    """Text between two tokens must be whitespace or comments by the database's own rules."""
    problem = _unicode_space_problem(sql[start:end])
    if problem:
        return problem
    i = start
    while i < end:
        if sql[i] in _SPACE:
            i += 1
            continue
        if _line_comment_at(sql, i, dialect):
            newline = (_LINE_END_POSTGRES if dialect == "postgres" else _LINE_END).search(sql, i)
            j = newline.start() if newline else len(sql)
        elif sql.startswith("/*", i):
            if dialect == "mysql" and (sql.startswith("/*!", i) or sql.startswith("/*M!", i)):
                return "MySQL runs the SQL inside /*! ... */ comments; they are not allowed"
            j = _comment_end(sql, i, nested=dialect == "postgres")
            if j is None:
                return "a /* comment is not closed"
        else:
            return f"sqlglot skipped {sql[i : i + 20]!r}, which the database would read"
        if j > end:
            return "a comment ends at a different place for the database than for sqlglot"
        i = j
    return None


def _quoted_problem(sql: str, token: Token, dialect: str) -> str | None:
    """A string or quoted name must end where the database ends it, whatever its settings."""
    raw = sql[token.start : token.end + 1]
    kind = token.token_type
    if kind == TokenType.IDENTIFIER:
        if dialect == "postgres" and not raw.startswith('"'):
            return f"{raw[0]}...{raw[-1]} quoting is not PostgreSQL syntax"
        return None
    if kind == TokenType.HEREDOC_STRING:
        tag = _DOLLAR_TAG.match(raw)
        if dialect != "postgres" or tag is None or not raw.endswith(tag.group()):
            return "dollar quoting is only allowed in PostgreSQL, with a tag of ASCII letters, digits and _"
        before = sql[token.start - 1] if token.start else " "
        if before.isalnum() or before in "_$" or ord(before) > 0x7F:
            return "a dollar quote right after a word: PostgreSQL reads the $ as part of the word"
        return None
    backslash_escapes = kind == TokenType.BYTE_STRING and dialect == "postgres"  # E'...': always
    if dialect in ("postgres", "mysql") and raw[-1] in "'\"" and not backslash_escapes:
        quote = raw[-1]
        body = raw[raw.index(quote) + 1 :]
        for i, char in enumerate(body):
            if char == quote:
                run = len(body[:i]) - len(body[:i].rstrip("\\"))
                if run % 2:
                    return (
                        "a backslash before a quote in a string: where the string ends depends on "
                        "server settings; double the quote instead"
                    )
    return None


def _code_problem(sql: str, token: Token, dialect: str) -> str | None:
    """Code tokens must not hold characters the database or its client reads differently."""
    raw = sql[token.start : token.end + 1]
    if token.token_type == TokenType.UNKNOWN:
        return f"unexpected character {raw!r}"
    problem = _unicode_space_problem(raw)
    if problem:
        return problem
    if "\\" in raw:
        return "a backslash outside a string (the database client reads it as a meta-command)"
    if dialect == "sqlite" and any(char in raw for char in "$@:#"):
        return "SQLite parameters ($x, :x, @x, #x) are not allowed"
    if dialect == "postgres" and raw in ("U", "u") and sql.startswith('&"', token.end + 1):
        return 'U&"..." identifiers are not allowed'
    return None


@cache
def _tokenizer_class(dialect: str) -> type[Tokenizer]:
    """The dialect's tokenizer, but with real tokens after EXPLAIN, SHOW, VACUUM...: sqlglot
    otherwise folds the rest of such a statement into one string token with made-up positions."""
    base = Dialect.get_or_raise(dialect).tokenizer_class
    return type(f"Plain{base.__name__}", (base,), {"COMMANDS": set()})


def _lexical_problem(sql: str, tokens: Sequence[Token], dialect: str) -> str | None:
    position = 0
    for token in tokens:
        if not position <= token.start <= token.end < len(sql):
            return "sqlglot's tokens do not line up with the text"
        problem = _gap_problem(sql, position, token.start, dialect)
        if problem is None and token.token_type in _QUOTED_TOKENS:
            problem = _quoted_problem(sql, token, dialect)
        elif problem is None:
            problem = _code_problem(sql, token, dialect)
        if problem:
            return problem
        position = token.end + 1
    return _gap_problem(sql, position, len(sql), dialect)


def _nesting_problem(tokens: Sequence[Token]) -> str | None:
    depth = 0
    for token in tokens:
        if token.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE):
            depth += 1
            if depth > MAX_NESTING:
                return f"the SQL nests brackets more than {MAX_NESTING} levels deep"
        elif token.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE):
            depth -= 1
    return None


def _called_function_problem(tokens: Sequence[Token], dialect: str) -> str | None:
    """Every `name (` in the text is a call (or harmless); judge the name as written, whatever
    function class, if any, sqlglot maps it to."""
    for i, token in enumerate(tokens[:-1]):
        if token.token_type not in _STRING_TOKENS and tokens[i + 1].token_type == TokenType.L_PAREN:
            problem = _function_problem(token.text, dialect)
            if problem:
                return problem
    return None


# --- statements and trees ------------------------------------------------------------------------

_READ_STARTS = frozenset(
    {TokenType.SELECT, TokenType.WITH, TokenType.VALUES, TokenType.TABLE, TokenType.L_PAREN}
)
_READ_ROOTS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

_NOT_READ_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"),
        "is transaction control; a read-only tool runs one statement on its own",
    ),
    "SET": "changes settings",
    "RESET": "changes settings",
    "COPY": "is not a read statement (it reads or writes files and can run programs)",
    "DO": "runs procedural code",
    "CALL": "runs a procedure",
    "LOAD": "loads code or data",
    "PRAGMA": "is not allowed (pragmas change database settings)",
    "ATTACH": "opens another database file",
}

# sqlglot classes that are not reads, with the statement word to name them by.
_DENIED_NODES: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Insert, "INSERT is not a read statement"),
    (exp.Update, "UPDATE is not a read statement"),
    (exp.Delete, "DELETE is not a read statement"),
    (exp.Merge, "MERGE is not a read statement"),
    (exp.Copy, "COPY is not a read statement"),
    (exp.Create, "CREATE is not a read statement"),
    (exp.Drop, "DROP is not a read statement"),
    (exp.Alter, "ALTER is not a read statement"),
    (exp.TruncateTable, "TRUNCATE is not a read statement"),
    (exp.Grant, "GRANT is not a read statement"),
    (exp.Revoke, "REVOKE is not a read statement"),
    (exp.Into, "SELECT ... INTO writes a new table or a file"),
    (exp.Lock, "FOR UPDATE/FOR SHARE locks rows, which needs write access"),
    (exp.PropertyEQ, "assignment (:=) changes a variable"),
    (exp.NextValueFor, "NEXT VALUE FOR changes a sequence"),
    (exp.Command, "a statement sqlglot does not understand is not allowed"),
    (exp.Parameter, "query parameters are not allowed: the tool sends no values for them"),
    (exp.Placeholder, "query parameters are not allowed: the tool sends no values for them"),
    (exp.Hint, "optimizer hints are not allowed"),
)

# Everything a plain query is made of. Anything else is refused, so an unfamiliar construct fails
# closed. Functions (exp.Func) are judged by name; operators (Binary, Unary, Predicate) only combine.
_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Func,
    exp.Binary,
    exp.Unary,
    exp.Predicate,
    exp.Select,
    exp.Union,
    exp.Intersect,
    exp.Except,
    exp.Subquery,
    exp.Values,
    exp.Tuple,
    exp.With,
    exp.CTE,
    exp.RecursiveWithSearch,
    exp.From,
    exp.Join,
    exp.Table,
    exp.TableAlias,
    exp.Lateral,
    exp.Where,
    exp.Group,
    exp.Having,
    exp.Qualify,
    exp.Order,
    exp.Ordered,
    exp.Limit,
    exp.Offset,
    exp.Fetch,
    exp.LimitOptions,
    exp.Distinct,
    exp.Window,
    exp.WindowSpec,
    exp.Filter,
    exp.WithinGroup,
    exp.IgnoreNulls,
    exp.RespectNulls,
    exp.Rollup,
    exp.Cube,
    exp.GroupingSets,
    exp.TableSample,
    exp.Column,
    exp.Identifier,
    exp.Star,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Var,
    exp.DataType,
    exp.DataTypeParam,
    exp.Interval,
    exp.IntervalSpan,
    exp.Alias,
    exp.Aliases,
    exp.Bracket,
    exp.Slice,
    exp.AtTimeZone,
    exp.RawString,
    exp.ByteString,
    exp.UnicodeString,
    exp.BitString,
    exp.HexString,
    exp.National,
    exp.Introducer,
    exp.SessionParameter,
    exp.IndexTableHint,
    exp.ColumnDef,
    exp.JSONPath,
    exp.JSONPathPart,
    exp.Show,
)


def _attribute_call_problem(node: exp.Expression) -> str | None:
    """PostgreSQL reads `x.f` as the call `f(x)` when x has no column f ("attribute notation"), so
    `SELECT f.pg_read_file FROM CAST('postgresql.conf' AS text) AS f` reads a server file with no
    `(` after the name. Judge the name after every dot in an expression as a function name."""
    if isinstance(node, exp.Column) and node.table:
        name = node.name
    elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Identifier):
        name = node.expression.name
    else:
        return None
    problem = _function_problem(name, "postgres")
    return f"{problem} (PostgreSQL reads x.{name.lower()} as {name.lower()}(x))" if problem else None


def _tree_problem(tree: exp.Expression, dialect: str) -> str | None:
    for node in tree.walk():
        for cls, why in _DENIED_NODES:
            if isinstance(node, cls):
                return why
        if isinstance(node, exp.Anonymous):
            problem = _function_problem(node.name, dialect)
            if problem:
                return problem
        if dialect == "postgres":
            problem = _attribute_call_problem(node)
            if problem:
                return problem
        if not isinstance(node, _ALLOWED_NODES) or (isinstance(node, exp.Show) and node is not tree):
            return f"{type(node).__name__} is not allowed in a read-only query"
    return None


def _parse_problem(sql: str, tokens: list[Token], dialect: str) -> str | None:
    """Parse one statement's tokens (the very tokens checked above) and judge the tree."""
    try:
        trees = [tree for tree in Dialect.get_or_raise(dialect).parser().parse(tokens, sql) if tree]
    except RecursionError:
        raise
    except Exception as error:  # sqlglot raises several kinds; any of them means "not understood"
        detail = " ".join(_ANSI.sub("", str(error)).split())[:200]
        return f"cannot parse the SQL: {detail}"
    if len(trees) != 1:
        return "cannot parse the SQL as one statement"
    tree = trees[0]
    problem = _tree_problem(tree, dialect)
    read_root = isinstance(tree, _READ_ROOTS) or (dialect == "mysql" and isinstance(tree, exp.Show))
    if problem is None and not read_root:
        problem = f"{tree.key.upper()} is not a read statement"
    return problem


def _word(token: Token) -> str:
    return "" if token.token_type in _QUOTED_TOKENS else token.text.upper()


def _name_tokens(tokens: Sequence[Token]) -> bool:
    """`name` or `name.name...`, the way SHOW and DESCRIBE take names."""
    if len(tokens) % 2 == 0:
        return False
    for i, token in enumerate(tokens):
        if i % 2:
            if token.token_type != TokenType.DOT:
                return False
        elif token.token_type != TokenType.IDENTIFIER and not _WORD.fullmatch(token.text):
            return False
    return True


_PG_EXPLAIN_OPTIONS = frozenset(
    {
        "VERBOSE",
        "COSTS",
        "SETTINGS",
        "GENERIC_PLAN",
        "BUFFERS",
        "WAL",
        "TIMING",
        "SUMMARY",
        "MEMORY",
        "SERIALIZE",
        "FORMAT",
    }
)
_PG_EXPLAIN_VALUES = frozenset(
    {"TRUE", "FALSE", "ON", "OFF", "1", "0", "TEXT", "XML", "JSON", "YAML", "NONE", "BINARY"}
)


def _explain_problem(sql: str, tokens: list[Token], dialect: str) -> str | None:
    """EXPLAIN shows a plan without running the statement, unless ANALYZE: then it runs it."""
    rest = tokens[1:]
    if dialect == "postgres" and rest and rest[0].token_type == TokenType.L_PAREN:
        close = next((i for i, t in enumerate(rest) if t.token_type == TokenType.R_PAREN), None)
        if close is None:
            return "EXPLAIN options are not closed"
        option: list[Token] = []
        for token in [*rest[1:close], None]:
            if token is not None and token.token_type != TokenType.COMMA:
                option.append(token)
                continue
            name = _word(option[0]) if option else ""
            if name in ("ANALYZE", "ANALYSE"):
                return "EXPLAIN ANALYZE runs the statement"
            value_ok = len(option) == 1 or (len(option) == 2 and _word(option[1]) in _PG_EXPLAIN_VALUES)
            if name not in _PG_EXPLAIN_OPTIONS or not value_ok:
                return f"EXPLAIN option {' '.join(t.text for t in option) or '(empty)'} is not understood"
            option = []
        rest = rest[close + 1 :]
    skippable = {"postgres": ("VERBOSE",), "mysql": ("EXTENDED", "PARTITIONS")}.get(dialect, ())
    while rest and _word(rest[0]) in ("ANALYZE", "ANALYSE", *skippable):
        if _word(rest[0]) in ("ANALYZE", "ANALYSE"):
            return "EXPLAIN ANALYZE runs the statement"
        rest = rest[1:]
    if dialect == "sqlite" and [_word(t) for t in rest[:2]] == ["QUERY", "PLAN"]:
        rest = rest[2:]
    if dialect == "mysql":
        if len(rest) > 2 and _word(rest[0]) == "FORMAT" and rest[1].token_type == TokenType.EQ:
            rest = rest[3:]
        if rest and rest[0].token_type not in _READ_STARTS:  # DESCRIBE table [column]
            names = rest[:-1] if len(rest) > 1 and rest[-2].token_type != TokenType.DOT else rest
            column = rest[len(names) :]
            if _name_tokens(names) and (
                not column or column[0].token_type in (TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING)
            ):
                return None
    if not rest:
        return "EXPLAIN needs a statement"
    return _statement_problem(sql, rest, dialect, explained=True)


def _show_problem(sql: str, tokens: list[Token], dialect: str) -> str | None:
    rest = tokens[1:]
    if dialect == "sqlite":
        return "SHOW is not a SQLite statement"
    if dialect == "mysql":
        return _parse_problem(sql, tokens, dialect)
    phrase = " ".join(_word(t) for t in rest)
    if phrase in ("ALL", "TIME ZONE", "TRANSACTION ISOLATION LEVEL", "SESSION AUTHORIZATION"):
        return None
    if rest and _name_tokens(rest):
        return None
    return "SHOW takes one setting name"


def _statement_problem(sql: str, tokens: list[Token], dialect: str, explained: bool = False) -> str | None:
    word = _word(tokens[0])
    if word == "EXPLAIN" or (dialect == "mysql" and word in ("DESCRIBE", "DESC")):
        return "EXPLAIN of EXPLAIN is not allowed" if explained else _explain_problem(sql, tokens, dialect)
    if word == "SHOW" and not explained:
        return _show_problem(sql, tokens, dialect)
    if tokens[0].token_type not in _READ_STARTS:
        name = word or tokens[0].text
        return f"{name} {_NOT_READ_WORDS.get(word, 'is not a read statement')}"
    return _parse_problem(sql, tokens, dialect)


def _problem(sql: str, dialect: str) -> str | None:
    if sql.startswith("-"):
        # sqlite3 takes its SQL as a plain argument and reads one starting with `-` as an option
        # (`sqlite3 DB --version`), and it knows no `--` to end options.
        return "the SQL starts with '-', which sqlite3 reads as an option; start with the statement"
    problem = _control_problem(sql)
    if problem:
        return problem
    try:
        tokens = _tokenizer_class(dialect)(dialect).tokenize(sql)
    except RecursionError:
        raise
    except Exception as error:
        return f"cannot parse the SQL: {' '.join(_ANSI.sub('', str(error)).split())[:200]}"
    problem = _lexical_problem(sql, tokens, dialect) or _nesting_problem(tokens)
    if problem:
        return problem
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [statement for statement in statements if statement]
    if not statements:
        return "no SQL statement"
    if len(statements) > 1:
        return f"{len(statements)} statements; a read-only tool runs exactly one"
    return _statement_problem(sql, statements[0], dialect) or _called_function_problem(statements[0], dialect)


def read_only_problem(sql: str, dialect: str) -> str | None:
    """Why `sql` is not exactly one read-only statement in `dialect` ("sqlite", "postgres", "mysql"), or None when it is."""  # noqa: E501
    if dialect not in DIALECTS:
        return f"unknown SQL dialect {dialect!r}; expected one of {', '.join(DIALECTS)}"
    if not isinstance(sql, str):
        return "the SQL must be text"
    if len(sql) > MAX_SQL_CHARS:
        return f"the SQL is {len(sql)} characters long; at most {MAX_SQL_CHARS} are allowed"
    try:
        return _problem(sql, dialect)
    except RecursionError:
        return "the SQL is nested too deeply to check"

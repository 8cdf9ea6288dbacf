"""The read-only SQL guard: exactly one statement, and it only reads.

The cases are classes from THREATS.md (several statements, transaction control and SET, COPY ...
PROGRAM, functions that read server files) plus the places where sqlglot's lexer and the
database's could disagree. Everyday reads must pass: a guard that refuses ordinary work gets
switched off.

Ground truth, not just the guard's opinion:

* every statement allowed for SQLite runs for real on a throwaway database opened read-write,
  through Python's sqlite3 and through the sqlite3 CLI the tool runs (without -readonly or -safe,
  so only the guard stands between the text and the file); the database file and its directory
  (names, bytes, mtimes, so even a journal created and deleted shows) must be unchanged;
* every statement allowed for PostgreSQL runs through ``psql -X -A -c`` (exactly how the tool sends
  it) against a real server started for the session, as a superuser, inside a transaction that
  must end with no transaction id assigned (PostgreSQL assigns one on any write) and with an
  unchanged fingerprint of table contents, the sequence, the catalog size and session settings.
  The fixture fails, never skips, when PostgreSQL cannot start.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gtp_remote.policy.sql import MAX_NESTING, MAX_SQL_CHARS, read_only_problem

SCHEMA = """
CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL, email text, created date);
CREATE TABLE orders (id integer PRIMARY KEY, user_id integer REFERENCES users (id), amount numeric,
                     status text, created_at timestamp, doc text);
CREATE TABLE t (a integer, b text, "select" text, "delete" text);
CREATE INDEX orders_user ON orders (user_id);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;
INSERT INTO users VALUES (1, 'ann', 'ann@example.com', '2024-01-02'), (2, 'bob', NULL, '2024-02-03'),
                         (3, 'cy', 'cy@example.com', '2024-03-04');
INSERT INTO orders VALUES (1, 1, 50, 'paid', '2024-01-05 10:00:00', '{"k": "v", "n": 1}'),
                          (2, 1, 150, 'open', '2024-01-06 11:00:00', '{"k": "w", "n": 2}'),
                          (3, 2, 250, 'paid', '2024-02-07 12:00:00', '{"k": "x", "n": 3}');
INSERT INTO t VALUES (1, 'delete me; not', 'x', 'y'), (2, 'b', NULL, NULL);
"""
POSTGRES_SCHEMA = SCHEMA + "CREATE SEQUENCE s;\n"

# -- reads that must pass --------------------------------------------------------------------------

# Valid in both SQLite and PostgreSQL, and run for real in both.
ALLOWED_BOTH = [
    "SELECT 1",
    "select * from users",
    "SeLeCt NaMe FrOm UsErS",
    "SELECT u.name, count(o.id) AS n FROM users u LEFT JOIN orders o ON o.user_id = u.id "
    "GROUP BY u.name HAVING count(o.id) >= 0 ORDER BY n DESC, u.name LIMIT 10 OFFSET 0",
    "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE amount > 100)",
    "SELECT name FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)",
    "SELECT (SELECT max(amount) FROM orders) AS top",
    "SELECT * FROM users CROSS JOIN (SELECT 1 AS one) AS x",
    "SELECT o.id, u.name FROM orders o INNER JOIN users u ON u.id = o.user_id WHERE o.status = 'paid'",
    "SELECT id, amount, sum(amount) OVER (PARTITION BY user_id ORDER BY id) AS running, "
    "row_number() OVER w FROM orders WINDOW w AS (ORDER BY amount)",
    "SELECT rank() OVER (ORDER BY amount DESC), lag(amount) OVER (ORDER BY id) FROM orders",
    "SELECT count(*) OVER () FROM users",
    "WITH paid AS (SELECT * FROM orders WHERE status = 'paid') "
    "SELECT user_id, sum(amount) FROM paid GROUP BY user_id",
    "WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM a, b",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000) SELECT count(*) FROM c",
    "SELECT id FROM users UNION SELECT user_id FROM orders",
    "SELECT id FROM users UNION ALL SELECT user_id FROM orders ORDER BY 1",
    "SELECT id FROM users INTERSECT SELECT user_id FROM orders",
    "SELECT id FROM users EXCEPT SELECT user_id FROM orders",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT count(*), min(amount), max(amount), avg(amount), sum(amount) FROM orders",
    "SELECT status, count(DISTINCT user_id) FROM orders GROUP BY status",
    "SELECT DISTINCT status FROM orders",
    "SELECT CASE WHEN amount > 100 THEN 'big' ELSE 'small' END AS size FROM orders",
    "SELECT coalesce(email, 'none'), nullif(name, ''), upper(name), lower(name), length(name), "
    "substr(name, 1, 2), replace(name, 'a', 'b'), trim(name) FROM users",
    "SELECT CAST(amount AS integer) FROM orders",
    "SELECT * FROM users WHERE name LIKE 'a%' AND email IS NOT NULL OR id BETWEEN 1 AND 2",
    "SELECT count(*) FROM orders WHERE status IN ('paid', 'open')",
    "SELECT max(created) FROM users",
    "SELECT * FROM big_orders",
    "SELECT u.* FROM users AS u ORDER BY u.id LIMIT 1",
    "SELECT 'a' || 'b' AS ab, 2 * /* inline */ 3 AS six",
    # comments, including ones that hold statements
    "SELECT * FROM users -- trailing comment",
    "/* leading comment */ SELECT 1",
    "SELECT 1 /* ; DROP TABLE users; */",
    "SELECT 1 -- ; DROP TABLE users",
    "\n-- a comment line\nSELECT 1",
    # strings and quoted names that look like code
    "SELECT 'delete from users; drop table t' AS s",
    "SELECT 'it''s; fine'",
    "SELECT * FROM users WHERE name = 'x; DELETE FROM users'",
    "SELECT 'pg_read_file(''/etc/passwd'')' AS s",
    "SELECT 'load_extension(''x''); VACUUM INTO ''/tmp/x''' AS s",
    'SELECT "select", "delete" FROM t',
    'SELECT "update" FROM (SELECT 1 AS "update") AS x',
    'SELECT "pg_read_file" FROM (SELECT 1 AS "pg_read_file") AS x',
    'SELECT name AS "DROP TABLE users" FROM users',
    # trailing semicolons and whitespace: an empty statement does nothing, so they are fine
    "SELECT * FROM users;",
    "SELECT * FROM users ;   -- done",
    "SELECT 1; -- a comment after the statement",
    "SELECT 1\r\n  FROM users\r\n WHERE id = 1",
    "\n\tSELECT 1\n",
    "SELECT name FROM users WHERE name = 'Zoë' OR name = 'naïve café'",
]

ALLOWED_SQLITE = [
    "EXPLAIN QUERY PLAN SELECT * FROM orders WHERE user_id = 1",
    "explain query plan select * from users u join orders o on o.user_id = u.id",
    "EXPLAIN SELECT 1",
    "SELECT date('now'), strftime('%Y-%m', created), julianday('now') - julianday(created) FROM users",
    "SELECT json_extract(doc, '$.k'), doc ->> '$.n' FROM orders",
    "SELECT * FROM json_each('[1, 2, 3]')",
    "SELECT * FROM pragma_table_info('users')",
    "SELECT name FROM sqlite_master WHERE type = 'table'",
    "SELECT [name] FROM [users]",
    "SELECT `name` FROM `users`",
    "SELECT typeof(amount), iif(amount > 100, 'big', 'small') FROM orders",
    "SELECT group_concat(name, ';') FROM users",
    "SELECT * FROM orders INDEXED BY orders_user WHERE user_id = 1",
    "SELECT * FROM users NOT INDEXED",
    "SELECT x'41', total(amount) FROM orders",
    "SELECT * FROM users WHERE name GLOB 'a*'",
    "SELECT printf('%d;%s', 1, 'x')",
    "SELECT 'C:\\dir\\' AS path",  # SQLite has no backslash escapes: the quote ends the string
    "SELECT sqlite_version()",
    "SELECT [a;b] FROM (SELECT 1 AS [a;b])",
    "WITH x AS (SELECT 1 AS v) SELECT * FROM x;",
]

ALLOWED_POSTGRES = [
    "EXPLAIN SELECT * FROM orders",
    "EXPLAIN (FORMAT JSON, COSTS off) SELECT * FROM orders WHERE user_id = 1",
    "EXPLAIN (VERBOSE, COSTS false) SELECT 1",
    "EXPLAIN VERBOSE SELECT 1",
    "explain select * from big_orders",
    "SHOW search_path",
    "SHOW ALL",
    "SHOW TIME ZONE",
    "show work_mem",
    "SHOW TRANSACTION ISOLATION LEVEL",
    "TABLE users",
    "(SELECT 1)",
    "SELECT 1;;",
    "SELECT now() - interval '1 day', date_trunc('month', created), extract(year FROM created), "
    "to_char(created, 'YYYY-MM') FROM users",
    "SELECT * FROM users WHERE created >= date '2024-01-01'",
    "SELECT CURRENT_DATE, CURRENT_TIMESTAMP, localtimestamp",
    "SELECT doc::jsonb ->> 'k', doc::jsonb -> 'n', (doc::jsonb) #>> '{k}' FROM orders",
    "SELECT $$a; DROP TABLE users; $$ AS s",
    "SELECT $tag$ it's; $$ nested $tag$ AS s",
    "SELECT $a$ $b$; DELETE FROM users; $b$ $a$ AS s",
    "SELECT E'it\\'s; DELETE FROM users' AS s",  # E'' always escapes: one string
    "SELECT E'line\\nbreak'",
    "SELECT 'x1' ~ '^x\\d+$'",  # a backslash not before a quote reads the same either way
    "SELECT U&'\\0041'",
    "/* /* nested */ ; DELETE FROM users */ SELECT 1",  # PostgreSQL nests block comments
    "SELECT 1 /* a /* b */ ; DROP TABLE users */",
    "SELECT id FROM users WHERE id = ANY (ARRAY[1, 2])",
    "SELECT DISTINCT ON (user_id) user_id, amount FROM orders ORDER BY user_id, amount DESC",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders",
    "SELECT count(*) FILTER (WHERE status = 'paid') FROM orders",
    "SELECT * FROM generate_series(1, 3) AS g(x)",
    "SELECT * FROM users, LATERAL (SELECT count(*) FROM orders o WHERE o.user_id = users.id) AS c",
    "SELECT * FROM users u JOIN LATERAL (SELECT * FROM orders o WHERE o.user_id = u.id LIMIT 1) o ON true",
    "SELECT pg_size_pretty(pg_database_size(current_database())), pg_typeof(1), pg_is_in_recovery(), "
    "pg_backend_pid() > 0",
    "SELECT pg_get_viewdef('big_orders'::regclass), pg_total_relation_size('users')",
    "SELECT * FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    "SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'r' ORDER BY relname LIMIT 5",
    "SELECT s.name, s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'work_mem'",
    "SELECT current_setting('search_path'), current_user, version()",
    "SELECT has_table_privilege('users', 'SELECT')",
    "SELECT string_agg(name, ', ' ORDER BY name), array_agg(id) FROM users",
    "SELECT jsonb_build_object('a', 1), to_jsonb(u) FROM users u",
    "SELECT json_agg(o) FROM orders o",
    'SELECT name FROM users ORDER BY name COLLATE "C"',
    "SELECT 1 FETCH FIRST 1 ROWS ONLY",
    "SELECT status, count(*) FROM orders GROUP BY ROLLUP (status)",
    "SELECT * FROM users TABLESAMPLE SYSTEM (100)",
    "SELECT x$y FROM (SELECT 1 AS x$y) AS s",
    "SELECT * FROM t WHERE b IS DISTINCT FROM 'x'",
    "SELECT * FROM (VALUES (1, 'a')) AS v(x, y)",
    "SELECT id FROM users WHERE id IN (VALUES (1), (2))",
    "SELECT name FROM users WHERE name ILIKE 'A%'",
    "SELECT split_part('a,b', ',', 1), regexp_replace('abc', 'b', 'x'), position('b' in 'abc')",
    "SELECT make_interval(days => 1), greatest(1, 2), round(2.5)",
    "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'users'::regclass AND a.attnum > 0",
    "WITH RECURSIVE n(i) AS (VALUES (1) UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT sum(i) FROM n",
]

ALLOWED_MYSQL = [
    "SELECT 1",
    "SELECT `name` FROM `users` WHERE id = 1",
    "SELECT 1 # a comment",
    "SELECT 1 -- a comment",
    "SELECT 1--1",
    "SELECT 'it''s'",
    "SELECT @@version",
    "SHOW TABLES",
    "SHOW CREATE TABLE users",
    "SHOW DATABASES LIKE 'app%'",
    "EXPLAIN SELECT * FROM users",
    "EXPLAIN FORMAT=JSON SELECT * FROM users",
    "DESCRIBE users",
    "DESC app.users name",
    "SELECT * FROM users USE INDEX (primary_idx) WHERE id = 1",
]

# -- statements that must be refused, with a part of the reason ------------------------------------

REFUSED_BOTH = [
    # more than one statement, however hidden
    ("SELECT 1; DELETE FROM users", "2 statements"),
    ("SELECT 1;DELETE FROM users", "2 statements"),
    ("select 1; delete from users", "2 statements"),
    ("SELECT 1; SELECT 2", "2 statements"),
    ("SELECT 'a'; SELECT 'b';", "2 statements"),
    ("SELECT 1 -- x\n; DROP TABLE users", "2 statements"),
    ("SELECT 1 /* x */; DROP TABLE users", "2 statements"),
    ("SELECT 1 /* ; */ ; DELETE FROM users", "2 statements"),
    ("SELECT 1 UNION SELECT 2; DROP TABLE users", "2 statements"),
    ("SELECT * FROM users; UPDATE users SET name = 'x'; SELECT 1", "3 statements"),
    ("SELECT 'x'';'; DELETE FROM users", "2 statements"),
    # writes and schema changes
    ("DELETE FROM users", "DELETE is not a read statement"),
    ("delete from users where id = 1", "DELETE is not a read statement"),
    ("DeLeTe FrOm users", "DELETE is not a read statement"),
    ("UPDATE users SET name = 'x'", "UPDATE is not a read statement"),
    ("INSERT INTO users (id, name) VALUES (9, 'x')", "INSERT is not a read statement"),
    ("INSERT INTO users SELECT * FROM users", "INSERT is not a read statement"),
    ("CREATE TABLE x (a int)", "CREATE is not a read statement"),
    ("CREATE TEMP TABLE x (a int)", "CREATE is not a read statement"),
    ("CREATE TEMPORARY TABLE x AS SELECT 1", "CREATE is not a read statement"),
    ("CREATE VIEW v2 AS SELECT 1", "CREATE is not a read statement"),
    ("CREATE INDEX i ON users (name)", "CREATE is not a read statement"),
    ("DROP TABLE users", "DROP is not a read statement"),
    ("DROP VIEW big_orders", "DROP is not a read statement"),
    ("ALTER TABLE users ADD COLUMN x int", "ALTER is not a read statement"),
    # data-modifying WITH
    ("WITH x AS (SELECT 1) DELETE FROM users", "DELETE is not a read statement"),
    ("WITH x AS (SELECT 1) INSERT INTO users SELECT 9, 'x', NULL, NULL", "INSERT is not a read statement"),
    ("WITH x AS (SELECT 1) UPDATE users SET name = 'x'", "UPDATE is not a read statement"),
    # transaction control
    ("BEGIN", "transaction control"),
    ("COMMIT", "transaction control"),
    ("ROLLBACK", "transaction control"),
    ("SAVEPOINT a", "transaction control"),
    ("RELEASE SAVEPOINT a", "transaction control"),
    ("ROLLBACK TO SAVEPOINT a", "transaction control"),
    ("END", "transaction control"),
    # EXPLAIN of a write
    ("EXPLAIN DELETE FROM users", "DELETE is not a read statement"),
    ("EXPLAIN INSERT INTO users (id, name) VALUES (9, 'x')", "INSERT is not a read statement"),
    ("EXPLAIN EXPLAIN SELECT 1", "EXPLAIN of EXPLAIN"),
    # characters lexers disagree on, client meta-commands
    ("SELECT\u00a01", "U+00A0"),
    ("SELECT 1\u2028", "U+2028"),
    ("SELECT 1 -- x\u2028DELETE FROM users", "U+2028"),
    ("SELECT\u200b1", "U+200B"),
    ("\ufeffSELECT 1", "U+FEFF"),
    ("SELECT 1\x00; DELETE FROM users", "U+0000"),
    ("SELECT 1\x0c", "U+000C"),
    ("SELECT 1 --x\r; DELETE FROM users", "carriage return"),
    ("\\! id", "backslash"),
    ("SELECT 1 \\g", "backslash"),
    ("SELECT 1 /* never closed", "cannot parse"),
    ("SELECT 'never closed", "cannot parse"),
    # nothing to run
    ("", "no SQL statement"),
    ("   \n ", "no SQL statement"),
    (";", "no SQL statement"),
    ("\n-- only a comment", "no SQL statement"),
    # sqlite3 reads an argument starting with `-` as an option, even after the database
    ("-- a comment first\nSELECT 1", "starts with '-'"),
    ("--version", "starts with '-'"),
    ("-Ax", "starts with '-'"),
    ("/* only a comment */ ;", "no SQL statement"),
    # not SQL
    ("please delete everything", "is not a read statement"),
    ("SELECT FROM WHERE", "cannot parse"),
]

REFUSED_SQLITE = [
    ("VACUUM", "VACUUM is not a read statement"),
    ("VACUUM INTO '/tmp/x.db'", "VACUUM is not a read statement"),
    ("vacuum into '/tmp/x.db'", "VACUUM is not a read statement"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "ATTACH"),
    ("ATTACH '/tmp/x.db' AS x", "ATTACH"),
    ("DETACH DATABASE x", "DETACH is not a read statement"),
    ("PRAGMA writable_schema=1", "PRAGMA"),
    ("PRAGMA journal_mode=WAL", "PRAGMA"),
    ("PRAGMA table_info(users)", "PRAGMA"),
    ("pragma query_only = off", "PRAGMA"),
    ("SELECT load_extension('x')", "function load_extension loads native code"),
    ("SELECT LOAD_EXTENSION('/tmp/evil.so', 'init')", "function load_extension"),
    ("SELECT writefile('/tmp/x', 'y')", "function writefile writes files"),
    ("SELECT readfile('/etc/passwd')", "function readfile reads files"),
    ("SELECT * FROM fsdir('/etc')", "function fsdir"),
    ("SELECT edit('x', 'vi')", "function edit runs an editor program"),
    ("SELECT fts3_tokenizer('simple')", "function fts3_tokenizer"),
    ("SELECT * FROM zipfile('/tmp/x.zip')", "function zipfile"),
    ("SELECT name FROM users WHERE name IN (SELECT readfile('/etc/passwd'))", "function readfile"),
    ("WITH f AS (SELECT writefile('/tmp/x', 'y')) SELECT * FROM f", "function writefile"),
    ("REPLACE INTO users VALUES (9, 'x', NULL, NULL)", "REPLACE is not a read statement"),
    ("INSERT OR IGNORE INTO users (id, name) VALUES (1, 'x')", "INSERT is not a read statement"),
    ("INSERT OR REPLACE INTO users (id, name) VALUES (1, 'x')", "INSERT is not a read statement"),
    (
        "INSERT INTO users (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        "INSERT is not a read statement",
    ),
    ("UPSERT INTO users VALUES (1)", "UPSERT is not a read statement"),
    ("REINDEX", "REINDEX is not a read statement"),
    ("ANALYZE", "ANALYZE is not a read statement"),
    ("BEGIN IMMEDIATE", "transaction control"),
    ("CREATE TRIGGER tr AFTER INSERT ON users BEGIN DELETE FROM orders; END", "statements"),
    ("EXPLAIN QUERY PLAN DELETE FROM users", "DELETE is not a read statement"),
    ("SHOW TABLES", "SHOW is not a SQLite statement"),
    # SQLite reads `$x(...)` as one token up to `)`: here `, 2` is code to SQLite, string to sqlglot
    ("SELECT $x('), 2 --')", "SQLite parameters"),
    ("SELECT :name", "SQLite parameters"),
    ("SELECT @v", "SQLite parameters"),
    ("SELECT 1 # ; DELETE FROM users", "SQLite parameters"),
    ("SELECT ?", "query parameters"),
    # SQLite block comments do not nest: the DELETE is code (PostgreSQL allows this one)
    ("/* /* */ ; DELETE FROM users */ SELECT 1", "DELETE is not a read statement"),
    (".shell id", "is not a read statement"),
    ("SELECT * FROM users; .shell id", "2 statements"),
]

REFUSED_POSTGRES = [
    # transaction control and settings
    ("START TRANSACTION", "transaction control"),
    ("BEGIN READ WRITE", "transaction control"),
    ("begin; delete from users; commit", "3 statements"),
    ("ABORT", "transaction control"),
    ("SET default_transaction_read_only = off", "SET changes settings"),
    ("set default_transaction_read_only to off", "SET changes settings"),
    ("SET TRANSACTION READ WRITE", "SET changes settings"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "SET changes settings"),
    ("RESET ALL", "RESET changes settings"),
    ("SELECT set_config('default_transaction_read_only', 'off', false)", "set_config changes settings"),
    ("SELECT pg_catalog.set_config('x.y', 'z', true)", "function set_config"),
    ("SHOW search_path; SET search_path = evil", "2 statements"),
    ("SHOW search_path, work_mem", "SHOW takes one setting name"),
    # COPY, DO, CALL and other statements
    ("COPY users TO '/tmp/x'", "COPY is not a read statement"),
    ("COPY users FROM '/etc/passwd'", "COPY is not a read statement"),
    ("COPY (SELECT 1) TO PROGRAM 'id'", "COPY is not a read statement"),
    ("copy (select 1) to program 'id'", "COPY is not a read statement"),
    ("COPY users TO STDOUT", "COPY is not a read statement"),
    ("DO $$ BEGIN DELETE FROM users; END $$", "DO runs procedural code"),
    ("CALL p()", "CALL runs a procedure"),
    ("LISTEN ch", "LISTEN is not a read statement"),
    ("NOTIFY ch, 'x'", "NOTIFY is not a read statement"),
    ("VACUUM users", "VACUUM is not a read statement"),
    ("VACUUM FULL", "VACUUM is not a read statement"),
    ("ANALYZE users", "ANALYZE is not a read statement"),
    ("TRUNCATE users", "TRUNCATE is not a read statement"),
    ("GRANT SELECT ON users TO public", "GRANT is not a read statement"),
    ("REVOKE ALL ON users FROM public", "REVOKE is not a read statement"),
    ("MERGE INTO users u USING orders o ON u.id = o.id WHEN MATCHED THEN DELETE", "MERGE is not a read"),
    ("LOCK TABLE users", "LOCK is not a read statement"),
    ("PREPARE p AS SELECT 1", "PREPARE is not a read statement"),
    ("EXECUTE p", "EXECUTE is not a read statement"),
    ("DECLARE c CURSOR FOR SELECT 1", "DECLARE is not a read statement"),
    ("REFRESH MATERIALIZED VIEW mv", "REFRESH is not a read statement"),
    ("CHECKPOINT", "CHECKPOINT is not a read statement"),
    ("DISCARD ALL", "DISCARD is not a read statement"),
    ("LOAD 'plpgsql'", "LOAD loads code"),
    ("CLUSTER users", "CLUSTER is not a read statement"),
    ("COMMENT ON TABLE users IS 'x'", "COMMENT is not a read statement"),
    ("ALTER SYSTEM SET work_mem = '1GB'", "ALTER is not a read statement"),
    ("CREATE EXTENSION dblink", "CREATE is not a read statement"),
    # data-modifying CTEs, INTO, locks
    ("WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d", "DELETE is not a read statement"),
    ("WITH u AS (UPDATE users SET name = 'x' RETURNING *) SELECT count(*) FROM u", "UPDATE is not a read"),
    (
        "WITH i AS (INSERT INTO users (id, name) VALUES (9, 'x') RETURNING id) SELECT * FROM i",
        "INSERT is not a read statement",
    ),
    (
        "WITH a AS (SELECT 1), b AS (WITH c AS (DELETE FROM orders RETURNING id) SELECT * FROM c) "
        "SELECT * FROM b",
        "DELETE is not a read statement",
    ),
    ("SELECT * INTO users2 FROM users", "SELECT ... INTO"),
    ("SELECT * INTO TEMP users2 FROM users", "SELECT ... INTO"),
    ("SELECT * FROM users FOR UPDATE", "FOR UPDATE/FOR SHARE"),
    ("SELECT * FROM users FOR SHARE", "FOR UPDATE/FOR SHARE"),
    ("SELECT * FROM users FOR NO KEY UPDATE", "FOR UPDATE/FOR SHARE"),
    ("SELECT * FROM users FOR KEY SHARE SKIP LOCKED", "FOR UPDATE/FOR SHARE"),
    ("SELECT * FROM (SELECT * FROM users FOR UPDATE) AS x", "FOR UPDATE/FOR SHARE"),
    # EXPLAIN ANALYZE runs its statement
    ("EXPLAIN ANALYZE DELETE FROM users", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("explain analyse select 1", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN VERBOSE ANALYZE SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN (FORMAT JSON, analyze true) SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN (ANALYZE false) SELECT 1", "EXPLAIN ANALYZE runs the statement"),  # strict on purpose
    ("EXPLAIN (FORMAT JSON) DELETE FROM users", "DELETE is not a read statement"),
    ("EXPLAIN (BOGUS) SELECT 1", "EXPLAIN option BOGUS is not understood"),
    ("EXPLAIN CREATE TABLE x AS SELECT 1", "CREATE is not a read statement"),
    ("EXPLAIN EXECUTE p", "EXECUTE is not a read statement"),
    # functions that read files, run SQL text, change state or talk to other servers
    ("SELECT pg_read_file('/etc/passwd')", "function pg_read_file reads server files"),
    ("SELECT PG_READ_FILE('/etc/passwd')", "function pg_read_file reads server files"),
    ("SELECT pg_catalog.pg_read_file('/etc/passwd')", "function pg_read_file"),
    ("SELECT \"pg_read_file\"('/etc/passwd')", "function pg_read_file"),
    ("SELECT pg_read_file /* gap */ ('/etc/passwd')", "function pg_read_file"),
    ("SELECT * FROM (SELECT pg_read_file('/etc/passwd')) AS s", "function pg_read_file"),
    ("WITH f AS (SELECT pg_read_file('/etc/passwd') AS x) SELECT * FROM f", "function pg_read_file"),
    ("SELECT coalesce(NULL, pg_read_file('/etc/passwd'))", "function pg_read_file"),
    ("SELECT * FROM users WHERE name = pg_read_file('/etc/passwd')", "function pg_read_file"),
    ("SELECT * FROM users ORDER BY pg_read_file('/etc/passwd')", "function pg_read_file"),
    ("SELECT 1 UNION SELECT length(pg_read_file('/etc/passwd'))", "function pg_read_file"),
    ("SELECT pg_read_binary_file('/etc/passwd')", "function pg_read_binary_file reads server files"),
    ("SELECT * FROM pg_ls_dir('.')", "function pg_ls_dir"),
    ("SELECT * FROM ROWS FROM (pg_ls_dir('.')) AS d", "function pg_ls_dir"),
    ("SELECT pg_stat_file('postgresql.conf')", "function pg_stat_file reads server files"),
    ("SELECT pg_ls_logdir()", "function pg_ls_logdir"),
    # attribute notation: x.f is f(x); this one really prints the server's postgresql.conf
    ("SELECT f.pg_read_file FROM CAST('postgresql.conf' AS text) AS f", "function pg_read_file"),
    ("SELECT (f).pg_read_file FROM CAST('postgresql.conf' AS text) AS f", "function pg_read_file"),
    (
        "SELECT pg_catalog.pg_read_file FROM CAST('postgresql.conf' AS text) AS pg_catalog",
        "function pg_read_file",
    ),
    ("SELECT f.pg_promote FROM CAST(true AS boolean) AS f", "function pg_promote"),
    ("SELECT lo_import('/etc/passwd')", "function lo_import"),
    ("SELECT lo_export(1, '/tmp/x')", "function lo_export writes server files"),
    ("SELECT lo_create(0)", "function lo_create"),
    ("SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)", "function dblink talks to other servers"),
    ("SELECT dblink_exec('host=x', 'DROP TABLE users')", "function dblink_exec"),
    ("SELECT http_get('http://evil.example/')", "function http_get talks to other servers"),
    ("SELECT query_to_xml('DELETE FROM users RETURNING *', true, true, '')", "function query_to_xml"),
    ("SELECT query_to_xml_and_xmlschema('SELECT 1', true, true, '')", "function query_to_xml"),
    ("SELECT table_to_xml('users', true, true, '')", "function table_to_xml"),
    ("SELECT cursor_to_xml('c', 1, true, true, '')", "function cursor_to_xml"),
    ("SELECT * FROM ts_stat('SELECT 1')", "function ts_stat runs SQL given as a string"),
    ("SELECT * FROM crosstab('SELECT 1') AS ct(a int)", "function crosstab"),
    ("SELECT pg_terminate_backend(1)", "function pg_terminate_backend ends other sessions"),
    ("SELECT pg_cancel_backend(1)", "function pg_cancel_backend"),
    ("SELECT pg_reload_conf()", "function pg_reload_conf"),
    ("SELECT pg_rotate_logfile()", "function pg_rotate_logfile"),
    ("SELECT pg_sleep(10)", "function pg_sleep"),
    ("SELECT pg_sleep_for('1 minute')", "function pg_sleep_for"),
    ("SELECT nextval('s')", "function nextval changes a sequence"),
    ("SELECT setval('s', 1)", "function setval changes a sequence"),
    ("SELECT txid_current()", "function txid_current assigns a transaction id"),
    ("SELECT pg_current_xact_id()", "function pg_current_xact_id is not on the list"),
    ("SELECT pg_advisory_lock(1)", "function pg_advisory_lock takes advisory locks"),
    ("SELECT pg_try_advisory_xact_lock(1)", "function pg_try_advisory_xact_lock"),
    ("SELECT pg_create_restore_point('x')", "function pg_create_restore_point"),
    ("SELECT pg_drop_replication_slot('x')", "function pg_drop_replication_slot"),
    ("SELECT pg_logical_emit_message(true, 'x', 'y')", "function pg_logical_emit_message"),
    ("SELECT pg_replication_origin_create('x')", "function pg_replication_origin_create"),
    ("SELECT pg_switch_wal()", "function pg_switch_wal is not on the list"),
    ("SELECT pg_notify('ch', 'x')", "function pg_notify"),
    ("SELECT pg_stat_reset()", "function pg_stat_reset"),
    ("SELECT setseed(0.5)", "function setseed"),
    ("SELECT brin_summarize_new_values('i')", "function brin_summarize_new_values"),
    # lexical tricks
    ("SELECT 'a\\'; DELETE FROM users; --'", "backslash before a quote"),  # standard_conforming_strings
    ("SELECT 'C:\\'", "backslash before a quote"),
    ("SELECT E'\\''; DELETE FROM users; --'", "2 statements"),  # E'\'' is one quote, then code
    ("SELECT E'x\\\\'; DELETE FROM users", "2 statements"),
    ("SELECT 1 AS x$$; DELETE FROM users; $$", "cannot parse"),  # x$$ is one word to PostgreSQL
    ("SELECT 1$$;$$", "dollar quote right after a word"),
    ("SELECT `a;b`", "unexpected character"),
    ("SELECT U&\"\\0070g_read_file\"('/etc/passwd')", 'U&"..." identifiers'),
    ("SELECT $1", "query parameters"),
    ("SELECT 1 FROM users ORDER/**/BY 1", "cannot parse"),  # fails closed where sqlglot is unsure
]

REFUSED_MYSQL = [
    ("SELECT 1 /*! , sleep(10) */", "/*! ... */"),
    ("SELECT 1 /*!50000 ; DROP TABLE users */", "/*! ... */"),
    ("SELECT 1 /*M! , 2 */", "/*! ... */"),
    ("SELECT 1 --1; DELETE FROM users", "2 statements"),
    ("SELECT 'it\\'s'", "backslash before a quote"),
    ("SELECT LOAD_FILE('/etc/passwd')", "function load_file reads server files"),
    ("SELECT 1 INTO OUTFILE '/tmp/x'", "cannot parse"),
    ("SELECT 1 INTO @v", "SELECT ... INTO"),
    ("SELECT @v := 1", "assignment"),
    ("SELECT * FROM users LOCK IN SHARE MODE", "FOR UPDATE/FOR SHARE"),
    ("SELECT * FROM users FOR UPDATE", "FOR UPDATE/FOR SHARE"),
    ("SELECT sleep(5)", "function sleep"),
    ("SELECT benchmark(100000000, md5('x'))", "function benchmark"),
    ("SELECT get_lock('x', 10)", "function get_lock"),
    ("SELECT /*+ SET_VAR(sql_mode='') */ 1", "optimizer hints"),
    ("DO sleep(1)", "DO runs procedural code"),
    ("SET @a = 1", "SET changes settings"),
    ("HANDLER users OPEN", "HANDLER is not a read statement"),
    ("LOAD DATA INFILE '/etc/passwd' INTO TABLE users", "LOAD loads code or data"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("REPLACE INTO users VALUES (1)", "REPLACE is not a read statement"),
    ("SELECT 1 \\! id", "backslash"),
    ("SHOW TABLES; DROP TABLE users", "2 statements"),
]


def _cases(*groups: tuple[str, list]) -> list:
    """pytest params (dialect, sql[, why]) with short readable ids."""
    params = []
    for dialect, cases in groups:
        for case in cases:
            values = case if isinstance(case, tuple) else (case,)
            params.append(pytest.param(dialect, *values, id=f"{dialect}-{values[0]!r:.70}"))
    return params


@pytest.mark.parametrize(
    ("dialect", "sql"),
    _cases(
        ("sqlite", ALLOWED_BOTH),
        ("postgres", ALLOWED_BOTH),
        ("sqlite", ALLOWED_SQLITE),
        ("postgres", ALLOWED_POSTGRES),
        ("mysql", ALLOWED_MYSQL),
    ),
)
def test_allows_reads(dialect: str, sql: str) -> None:
    assert read_only_problem(sql, dialect) is None


@pytest.mark.parametrize(
    ("dialect", "sql", "why"),
    _cases(
        ("sqlite", REFUSED_BOTH),
        ("postgres", REFUSED_BOTH),
        ("sqlite", REFUSED_SQLITE),
        ("postgres", REFUSED_POSTGRES),
        ("mysql", REFUSED_MYSQL),
    ),
)
def test_refuses_with_a_reason(dialect: str, sql: str, why: str) -> None:
    problem = read_only_problem(sql, dialect)
    assert problem is not None, f"allowed: {sql!r}"
    assert why in problem


# -- bounds ----------------------------------------------------------------------------------------


def test_refuses_text_over_the_size_limit() -> None:
    at_limit = "SELECT 1" + " " * (MAX_SQL_CHARS - len("SELECT 1"))
    assert read_only_problem(at_limit, "postgres") is None
    assert "at most 100000" in (read_only_problem(at_limit + " ", "postgres") or "")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_large_query_is_checked_quickly(dialect: str) -> None:
    sql = "SELECT " + ", ".join(f"a + {i} AS c{i}" for i in range(5300)) + " FROM (SELECT 1 AS a) AS x"
    assert 90_000 < len(sql) <= MAX_SQL_CHARS
    started = time.monotonic()
    assert read_only_problem(sql, dialect) is None
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("SELECT " + "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1), "more than 100 levels"),
        ("SELECT " + "(" * 10_000, "more than 100 levels"),
        ("SELECT " + "(" * MAX_NESTING + "1" + ")" * MAX_NESTING, "nested too deeply"),
        ("SELECT " + "NOT " * 5000 + "1", "nested too deeply"),
        ("SELECT " + "- " * 5000 + "1", "nested too deeply"),
    ],
    ids=["brackets", "unclosed", "recursion", "not-chain", "minus-chain"],
)
def test_refuses_deep_nesting_without_crashing(sql: str, why: str) -> None:
    for dialect in ("sqlite", "postgres", "mysql"):
        assert why in (read_only_problem(sql, dialect) or ""), dialect


def test_refuses_an_unknown_dialect() -> None:
    assert "unknown SQL dialect" in (read_only_problem("SELECT 1", "oracle") or "")


# -- ground truth: SQLite --------------------------------------------------------------------------


def _snapshot(directory: Path) -> dict[str, object]:
    """Names, bytes and mtimes of a directory's files, and the directory's own mtime."""
    files = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}
    return {"files": files, "dir_mtime": directory.stat().st_mtime_ns}


def _run_on_sqlite(tmp_path: Path, sql: str) -> tuple[dict[str, object], dict[str, object]]:
    """Snapshots of a fresh database's directory before and after running `sql` read-write, through
    Python's sqlite3 and through the sqlite3 CLI the tool runs (here without -readonly and -safe)."""
    directory = tmp_path / "db"
    directory.mkdir()
    database = directory / "app.db"
    setup = sqlite3.connect(database)
    setup.executescript(SCHEMA)
    setup.close()
    time.sleep(0.002)  # a write from now on shows as a new mtime
    before = _snapshot(directory)
    connection = sqlite3.connect(database, isolation_level=None)  # read-write, autocommit
    try:
        connection.execute(sql).fetchall()  # raises if SQLite sees more than one statement
    finally:
        connection.close()
    sqlite_cli = shutil.which("sqlite3")
    if sqlite_cli:
        run = subprocess.run(
            [sqlite_cli, "-bail", "-batch", "-init", os.devnull, str(database), sql],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert run.returncode == 0 and not run.stderr, run.stderr
    return before, _snapshot(directory)


@pytest.mark.parametrize("sql", [*ALLOWED_BOTH, *ALLOWED_SQLITE])
def test_sqlite_allowed_statements_do_not_write(tmp_path: Path, sql: str) -> None:
    assert read_only_problem(sql, "sqlite") is None
    before, after = _run_on_sqlite(tmp_path, sql)
    assert after == before


def test_sqlite_snapshot_sees_a_write(tmp_path: Path) -> None:
    """The ground truth above can fail: a write changes the snapshot."""
    before, after = _run_on_sqlite(tmp_path, "UPDATE users SET name = name || '!' WHERE id = 1")
    assert after != before


# -- ground truth: PostgreSQL ----------------------------------------------------------------------


@dataclass
class Postgres:
    bin: Path
    socket_dir: str
    database: str = "gtp"

    def psql(self, *commands: str, database: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run each command as psql runs a `-c` (one query message each) in one session."""
        args = [
            str(self.bin / "psql"),
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.socket_dir,
            "-U",
            "postgres",
            "-d",
            database or self.database,
        ]
        for command in commands:
            args += ["-c", command]
        return subprocess.run(args, capture_output=True, text=True, timeout=30)


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL on a unix socket in a temp dir, run by an unprivileged user.

    PostgreSQL refuses to run as root, so as root the server runs as `nobody`. Fails (never skips)
    when the server cannot start: these tests are the ground truth for the guard.
    """
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql")
    as_server = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    home = tempfile.mkdtemp(prefix="gtp-pg-")
    data = os.path.join(home, "data")
    if as_server:
        shutil.chown(home, "nobody")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*as_server, *args], capture_output=True, text=True, timeout=60)

    started = False
    try:
        steps = [
            run(
                str(bin_dir / "initdb"),
                "-D",
                data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ),
            run(
                str(bin_dir / "pg_ctl"),
                "-D",
                data,
                "-l",
                os.path.join(home, "log"),
                "-w",
                "-t",
                "30",
                "-o",
                f"-k {home} -c listen_addresses= -c fsync=off",
                "start",
            ),
        ]
        for step in steps:
            if step.returncode != 0:
                log = Path(home, "log")
                pytest.fail(
                    f"PostgreSQL did not start: {step.args}\n{step.stdout}\n{step.stderr}\n"
                    f"{log.read_text() if log.exists() else ''}"
                )
        started = True
        server = Postgres(bin=bin_dir, socket_dir=home)
        created = server.psql("CREATE DATABASE gtp", database="postgres")
        schema = server.psql(POSTGRES_SCHEMA)
        if created.returncode or schema.returncode:
            pytest.fail(f"could not create the test database: {created.stderr}{schema.stderr}")
        yield server
    finally:
        if started:
            run(str(bin_dir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


# Everything a write could change: rows, the sequence, the catalog (temp tables), session settings.
FINGERPRINT = """SELECT 'FP=' || md5(concat_ws('|',
    (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM users x),
    (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM orders x),
    (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM t x),
    (SELECT last_value::text || is_called::text FROM s),
    (SELECT count(*)::text FROM pg_class),
    (SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings
     WHERE source NOT IN ('default', 'override', 'configuration file'))))"""
NO_XID = "SELECT 'XID=' || coalesce(pg_current_xact_id_if_assigned()::text, 'none')"


@pytest.mark.parametrize("sql", [*ALLOWED_BOTH, *ALLOWED_POSTGRES])
def test_postgres_allowed_statements_do_not_write(postgres: Postgres, sql: str) -> None:
    assert read_only_problem(sql, "postgres") is None
    run = postgres.psql("BEGIN", FINGERPRINT, sql, FINGERPRINT, NO_XID, "ROLLBACK")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    fingerprints = [line for line in lines if line.startswith("FP=")]
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1], run.stdout[-2000:]
    assert "XID=none" in lines, "the statement was assigned a transaction id: it wrote"


def test_postgres_fingerprint_and_xid_see_a_write(postgres: Postgres) -> None:
    """The ground truth above can fail: a write changes the fingerprint and assigns an xid."""
    run = postgres.psql(
        "BEGIN",
        FINGERPRINT,
        "UPDATE users SET name = name || '!' WHERE id = 1",
        FINGERPRINT,
        NO_XID,
        "ROLLBACK",
    )
    assert run.returncode == 0, run.stderr
    fingerprints = [line for line in run.stdout.splitlines() if line.startswith("FP=")]
    assert fingerprints[0] != fingerprints[1]
    assert "XID=none" not in run.stdout
    sequence = postgres.psql("BEGIN", FINGERPRINT, "SELECT nextval('s')", FINGERPRINT, "ROLLBACK")
    fingerprints = [line for line in sequence.stdout.splitlines() if line.startswith("FP=")]
    assert fingerprints[0] != fingerprints[1], "nextval writes without an xid; the fingerprint sees it"


def test_postgres_attribute_notation_really_calls_the_function(postgres: Postgres) -> None:
    """Why the guard judges names after a dot: with no `(` at all, this reads a server file."""
    sql = "SELECT f.pg_read_file FROM CAST('PG_VERSION' AS text) AS f"
    run = postgres.psql(sql)
    assert run.returncode == 0 and run.stdout.strip().isdigit(), run.stderr
    assert "function pg_read_file" in (read_only_problem(sql, "postgres") or "")

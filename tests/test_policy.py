"""The policy engine's own rules: how rules match, how layers combine, what is dynamic, limits.

The attack and benign corpora (test_policy_attacks.py, test_policy_benign.py) prove the engine
against real shells; these pin down its semantics one at a time, with the reason each verdict
gives (what an operator reads).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import ValidationError

from gtp_remote.config import load_inventory
from gtp_remote.policy import (
    Facts,
    Layers,
    Policy,
    PolicyConfig,
    analyse,
    hostfacts,
    isolate,
    rule_warnings,
    shell,
)

FACTS = Facts(home="/home/ops", cwd="/home/ops")


def policy(name: str = "test", **rules: object) -> Policy:
    return Policy(PolicyConfig.model_validate(rules), name)


def verdict(p: Policy | Layers, command: str, **kw: object) -> str:
    return p.check_command(command, FACTS, **kw).action  # type: ignore[arg-type]


# -- rules ---------------------------------------------------------------------------------------------


def test_rules_match_word_by_word():
    p = policy(commands={"allow": ["git diff *", "git status", "kubectl get *", "systemctl status *"]})
    assert verdict(p, "git diff HEAD~1 -- src/") == "allow"
    assert verdict(p, "git diff") == "allow"  # a trailing "*" word is any number of words, none too
    assert verdict(p, "git difftool -x sh") != "allow"  # not a word-prefix of diff
    assert verdict(p, "git status") == "allow" and verdict(p, "git status --porcelain") == "deny"
    assert verdict(p, "kubectl   'get'  \"pods\" -A") == "allow"  # quotes and spacing are the shell's
    assert verdict(p, "systemctl restart nginx") == "deny"


def test_a_glob_ending_inside_a_word_is_warned_about():
    config = PolicyConfig.model_validate(
        {"commands": {"allow": ["git diff*", "ls *"], "confirm": ["kubectl delete*"]}}
    )
    warnings = rule_warnings(config)
    assert len(warnings) == 2 and "git diff *" in warnings[0] and "kubectl delete *" in warnings[1]


def test_deny_rules_also_match_the_whole_line_and_any_path_to_the_program():
    p = policy(commands={"deny": ["git push*", "rm *"]})
    assert verdict(p, "git push origin main") == "deny"  # as a glob over the joined words, too
    assert verdict(p, "/usr/bin/rm -rf x") == "deny" and verdict(p, "\\rm x") == "deny"


def test_broken_rules_are_errors_at_load_time():
    with pytest.raises(ValidationError, match="bad regular expression"):
        PolicyConfig.model_validate({"commands": {"deny": ["re:(unclosed"]}})
    with pytest.raises(ValidationError, match="cannot split"):
        PolicyConfig.model_validate({"commands": {"deny": ["echo 'unclosed"]}})
    with pytest.raises(ValidationError, match="dynamic"):
        PolicyConfig.model_validate({"dynamic": "allow"})  # never allow


# -- layers --------------------------------------------------------------------------------------------


def test_the_strictest_layer_wins_and_empty_layers_abstain():
    token = policy("token chatgpt", commands={"deny": ["curl *"]})
    server = policy("server db", commands={"allow": ["curl *", "ls *"], "confirm": ["touch *"]})
    empty = policy("group all")
    layers = Layers([token, server, empty])
    assert verdict(layers, "ls -la") == "allow"
    decision = layers.check_command("curl -s http://x", FACTS)
    assert (decision.action, decision.layer, decision.rule) == ("deny", "token chatgpt", "curl *")
    assert verdict(layers, "touch x") == "confirm"
    assert Layers([empty]).check_command("rm -rf /", FACTS).reason == "no policy applies"


def test_only_rules_or_settings_make_a_layer_active():
    assert not PolicyConfig().active
    assert PolicyConfig.model_validate({"dynamic": "deny"}).active
    assert PolicyConfig.model_validate({"default": "deny"}).active


def test_code_needs_an_explicit_allow_and_deny_rules_on_its_runner_count():
    assert policy(commands={"allow": ["ls *"]}).check_code("python", "python3 -").action == "confirm"
    assert (
        policy(commands={"allow": ["ls *"]}, code="allow").check_code("python", "python3 -").action == "allow"
    )
    assert (
        policy(commands={"deny": ["python3 *"]}, code="allow").check_code("python", "python3 -").action
        == "deny"
    )
    assert policy(dynamic="deny").check_code("bash", "bash -s").action == "deny"


# -- dynamic -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "ls $DIR",
        "ls $(pwd)",
        "x=ls; $x",
        "ls {a,b}",
        "/bin/l? -la",
        "eval ls",
        "bash -c 'ls'",
        "python3 -c 'print(1)'",
        "echo hi | sh",
        "LD_PRELOAD=/tmp/x.so ls",
        "env PATH=/tmp ls",
        "ls; trap 'ls' EXIT",
        "f() { ls; }; f",
        "(( x = 1 ))",
        "ls <(cat x)",
        "cat <<EOF\n$(ls)\nEOF",
        "printf -v 'a[$(ls)]' x",
        "[[ $a -eq 1 ]]",
    ],
)
def test_what_cannot_be_known_from_the_text_asks_never_allows(command: str):
    p = policy(commands={"allow": ["*"]})  # even an allow-everything rule does not allow these
    decision = p.check_command(command, FACTS)
    assert decision.action == "confirm", decision
    assert "dynamic: confirm" in decision.reason
    assert policy(commands={"allow": ["*"]}, dynamic="deny").check_command(command, FACTS).action == "deny"


def test_a_deny_rule_through_unknown_words_asks_and_names_the_rule():
    p = policy(commands={"deny": ["rm -rf *"]})
    decision = p.check_command('rm -rf "$target"', FACTS)
    assert decision.action == "deny"  # rm -rf with anything: denied whatever $target holds
    decision = p.check_command("rm $flags /srv", FACTS)  # $flags may or may not be -rf
    assert decision.action == "confirm" and "rule 'rm -rf *' may match" in decision.reason


def test_loops_over_literal_words_are_judged_once_per_word():
    p = policy(commands={"allow": ["systemctl is-active *", "echo *"], "deny": ["systemctl stop *"]})
    assert verdict(p, 'for s in nginx app; do systemctl is-active "$s"; done') == "allow"
    assert verdict(p, "for s in nginx; do systemctl stop $s; done") == "deny"
    assert verdict(p, "for c in systemctl; do $c stop app; done") == "deny"  # the name is the word
    q = policy(commands={"allow": ["wc *"]}, paths={"deny": ["**/secret*"]})
    assert verdict(q, "for f in *.log; do wc $f; done") == "confirm"  # split and globbed again
    assert verdict(q, 'for f in *.log; do wc "$f.bak"; done') == "confirm"  # not a match itself
    expanded = Facts("/h", "/h", expanded={"/h/*": ("/h/a.log", "/h/secret.txt"), "/h/*.log": ("/h/a.log",)})
    assert q.check_command('for f in *; do wc "$f"; done', expanded).action == "deny"  # each match
    assert q.check_command('for f in *.log; do wc "$f"; done', expanded).action == "allow"
    assert verdict(p, "for PATH in /tmp; do echo x; done") == "confirm"  # not a shell variable's name
    assert verdict(p, "for s in 'a b'; do systemctl is-active $s; done") == "confirm"  # split: unquoted


def test_the_request_env_and_assignments_are_judged_by_the_safe_set():
    p = policy(commands={"allow": ["sort *", "ls *"]})
    assert verdict(p, "LANG=C sort x") == "allow" and verdict(p, "LC_ALL=C TZ=UTC ls") == "allow"
    assert verdict(p, "PAGER=sh ls") == "confirm"
    assert p.check_command("ls", FACTS, env=["LANG"]).action == "allow"
    assert p.check_command("ls", FACTS, env=["BASH_ENV"]).action == "confirm"
    widened = policy(commands={"allow": ["ls *"]}, safe_env=["LANG", "PGCONNECT_*"])
    assert widened.check_command("PGCONNECT_TIMEOUT=5 ls", FACTS).action == "allow"


# -- paths ---------------------------------------------------------------------------------------------


def test_paths_home_relative_and_after_cd():
    p = policy(
        commands={"allow": ["cat *", "cd *", "echo *"]}, paths={"deny": ["**/.ssh/**", "write:/etc/**"]}
    )
    assert verdict(p, "cat ~/.ssh/id_rsa") == "deny" and verdict(p, "cat $HOME/.ssh/id_rsa") == "deny"
    assert verdict(p, "cat .ssh/id_rsa") == "deny"  # relative to the cwd, the home here
    assert verdict(p, "cd /etc && echo x > passwd") == "deny"  # judged in every folder it may be
    assert verdict(p, "cd $D && cat x") == "confirm"  # a cd to a folder not known
    assert verdict(p, "echo x > /etc/../etc/motd") == "deny"
    assert Policy(p.config).check_command("cat ~/.ssh/id_rsa", Facts()).action == "confirm"  # no home


def test_a_redirect_under_a_command_allow_list_needs_a_path_rule():
    p = policy(commands={"allow": ["ls *"]})
    assert verdict(p, "ls 2>/dev/null") == "allow" and verdict(p, "ls 2>&1") == "allow"
    assert verdict(p, "ls > out.txt") == "deny"
    assert (
        policy(commands={"allow": ["ls *"]}, paths={"allow": ["write:/tmp/**"]})
        .check_command("ls > /tmp/out.txt", FACTS)
        .action
        == "allow"
    )


def test_host_facts_resolve_links_expand_globs_and_clear_trees():
    p = policy(commands={"allow": ["cat *", "grep *"]}, paths={"deny": ["**/secret*"]})
    plain = shell.analyse("cat notes/link")
    facts = Facts("/h", "/h", resolved={"/h/notes/link": "/h/secret.txt"})
    assert p.judge(plain, facts).action == "deny"  # a link the host resolves to a secret
    tree = shell.analyse("grep -r x /srv/app")
    assert p.judge(tree, FACTS).action == "confirm"  # may hold a secret: not known
    assert p.judge(tree, Facts("/h", "/h", clean=frozenset({"read:/srv/app"}))).action == "allow"
    glob = shell.analyse("cat /etc/*.conf")
    facts = Facts("/h", "/h", expanded={"/etc/*.conf": ("/etc/a.conf", "/etc/secret.conf")})
    assert p.judge(glob, facts).action == "deny"


def test_host_answers_are_keyed_as_written_and_cannot_be_forged():
    """The kernel resolves a link before a ``..`` after it, so the probe asks about the path as
    written; an answer for anything not asked, or malformed, leaves the facts blind."""
    p = policy(commands={"allow": ["cat *"]}, paths={"deny": ["**/secret*"]})
    analysis = shell.analyse("cat link/../x.txt")
    questions = hostfacts.Questions(analysis, Facts("/h", "/h"), Layers([p]))
    script = questions.script()
    assert script is not None and "/h/link/../x.txt" in script

    def record(*fields: bytes) -> str:  # NUL-terminated fields, hex-encoded, as the probe prints
        return b"".join(f + b"\x00" for f in fields).hex()

    answer = record(b"P", b"0", b"f", b"/h/secret.txt")  # what realpath -m said
    assert p.judge(analysis, questions.learn(Facts("/h", "/h"), answer)).action == "deny"
    forgeries = [
        record(b"P", b"0", b"f", b"/h/x")[:-2],  # cut short
        record(b"P", b"7", b"f", b"/"),  # a question never asked
        "junk",
        record(b"P", b"0", b"q", b"/"),  # no such kind
    ]
    for forged in (*forgeries, "P\t0\tf\t/h/x\n", record(b"O", b"0")):
        facts = questions.learn(Facts("/h", "/h"), forged)
        assert facts.blind and p.judge(analysis, facts).action == "confirm", forged
    assert questions.learn(Facts("/h", "/h"), None).blind  # the probe failed


@pytest.mark.parametrize("sh", ["dash", "bash"])
def test_the_probe_run_by_a_real_shell_answers_what_that_shell_would_do(sh, tmp_path):
    """The probe script runs in dash and bash on a real folder: links behind ``..``, bracket
    classes and bash-only negation in globs, names that try to inject, and a glob with too many
    matches (blind, so nothing is taken as it seems)."""
    import subprocess

    root = tmp_path
    (root / "secret.txt").write_text("s")
    (root / "d").mkdir()
    (root / "d" / "link").symlink_to(root / "sub")
    (root / "sub").mkdir()
    (root / "x.txt").write_text("x")
    (root / "$(touch PWNED)").write_text("x")
    (root / "many").mkdir()
    for i in range(hostfacts.MAX_MATCHES + 1):
        (root / "many" / f"f{i}").write_text("")
    p = policy(commands={"allow": ["cat *"]}, paths={"deny": ["**/secret*"]})
    facts = Facts(str(root), str(root))

    def judged(command: str) -> str:
        analysis = shell.analyse(command)
        questions = hostfacts.Questions(analysis, facts, Layers([p]))
        script = questions.script()
        assert script is not None, command
        out = subprocess.run([sh, "-c", script], capture_output=True, text=True, cwd=root, check=True)
        return p.judge(analysis, questions.learn(facts, out.stdout)).action

    assert judged("cat d/link/../secret.txt") == "deny"  # the kernel: sub/../secret.txt
    assert judged("cat d/link/../x.txt") == "allow"
    assert judged("cat [[:lower:]]ecret.txt") == "deny"
    assert judged("cat [^x]ecret.txt") == "deny"  # bash negation; dash reads a literal ^
    assert judged("cat [[=s=]]ecret.txt") == "deny"
    assert judged("cat *.txt") == "deny"
    assert judged("cat x*") == "allow"
    assert judged("cat ./'$(touch PWNED)'* x.txt") == "allow"
    assert not (root / "PWNED").exists()
    assert judged("cat many/*") == "confirm"  # more matches than are asked about: blind


def test_a_program_named_by_a_file_outside_the_system_folders_is_opaque():
    """``./ls`` or ``/tmp/cat`` is whatever file lies there: no rule for ``ls`` or ``cat`` speaks
    for it, under a deny list too; only an allow rule naming the file lets it run."""
    deny = policy(commands={"deny": ["rm *"]})
    assert verdict(deny, "/usr/bin/cat /etc/hostname") == "allow"
    assert verdict(deny, "/tmp/cat /etc/hostname") == "confirm"
    assert verdict(deny, "./ls") == "confirm"
    named = policy(commands={"allow": ["/opt/tools/report *"]})
    assert verdict(named, "/opt/tools/report --today") == "allow"


def test_deny_and_confirm_rules_see_through_renamed_copies_allow_rules_never_do():
    """``rm.real``, ``slogin`` (ssh) and ``perl5.36-x86_64-linux-gnu`` are the programs a deny rule
    names; an allow rule for ``ssh`` does not let ``slogin`` through."""
    deny = policy(commands={"deny": ["rm *", "ssh *", "perl *"], "confirm": ["vim *"]})
    assert verdict(deny, "rm.real -f victim") == "deny"
    assert verdict(deny, "slogin host") == "deny"
    assert verdict(deny, "perl5.36-x86_64-linux-gnu -v") == "deny"
    assert verdict(deny, "/usr/bin/rm victim") == "deny"
    assert verdict(deny, "vim.basic notes") == "confirm"
    assert verdict(policy(commands={"allow": ["ssh *"]}), "slogin host") != "allow"


def test_paths_nobody_could_ask_about_are_not_taken_as_they_seem():
    p = policy(commands={"allow": ["cat *"]}, paths={"deny": ["**/secret*"]})
    many = "cat " + " ".join(f"f{i}" for i in range(hostfacts.MAX_PATHS + 1))
    analysis = shell.analyse(many)
    questions = hostfacts.Questions(analysis, Facts("/h", "/h"), Layers([p]))
    assert questions.script() is None
    assert p.judge(analysis, questions.learn(Facts("/h", "/h"), "")).action == "confirm"
    assert verdict(p, "cat $'a\\nb'") == "confirm"  # a name with a line break: dynamic


def test_writing_where_programs_read_code_from_asks_under_command_rules():
    denylist = policy(commands={"deny": ["pwn *"]})
    for command in (
        "echo pwn >> ~/.bashrc",
        "printf '[core]' | tee .gitconfig",
        "cp x repo/.git/hooks/pre-commit",
        "uniq a ~/.ssh/authorized_keys",
        "cp tool ~/.local/bin/ls",
    ):
        assert verdict(denylist, command) == "confirm", command
    assert verdict(denylist, "echo hi > notes.txt") == "allow"
    assert denylist.check_path("/h/.gitconfig", "write").action == "confirm"
    assert denylist.check_path("/h/.gitconfig", "read").action == "allow"
    paths_only = policy(paths={"deny": ["**/secret*"]})  # says nothing about what may run
    assert paths_only.check_path("/h/.gitconfig", "write").action == "allow"


def test_a_file_a_command_writes_under_an_allow_list_asks_without_a_path_rule():
    p = policy(commands={"allow": ["uniq *", "touch *"]})
    assert verdict(p, "uniq in.txt") == "allow"
    assert verdict(p, "uniq in.txt out.txt") == "confirm"
    assert verdict(p, "touch stamp") == "confirm"
    with_rule = policy(commands={"allow": ["uniq *"]}, paths={"allow": ["write:/h/out/**", "read:**"]})
    assert verdict(with_rule, "uniq in.txt /h/out/x") == "allow"


# -- limits --------------------------------------------------------------------------------------------


def test_what_cannot_be_parsed_or_is_too_big_is_refused_with_a_reason(monkeypatch):
    p = policy(commands={"allow": ["*"]})
    assert "not valid shell" in p.check_command("echo 'unterminated", FACTS).reason
    assert "NUL" in p.check_command("echo a\x00b", FACTS).reason
    assert p.check_command("echo " + "x" * (shell.MAX_BYTES + 1), FACTS).action == "deny"
    assert "levels" in p.check_command("nice " * 200 + "ls", FACTS).reason
    assert "words and operators" in p.check_command("echo a; " * 40_000, FACTS).reason  # before parsing
    monkeypatch.setattr(shell, "MAX_NODES", 50)
    assert "syntax nodes" in p.check_command("echo a; " * 40, FACTS).reason


def test_a_parse_stopped_at_its_deadline_leaves_the_next_command_judged_afresh(monkeypatch):
    """A stopped tree-sitter parser resumes its old parse on the next call: that misread the next
    command and crashed the gateway (a segfault). The parser is dropped instead."""
    monkeypatch.setattr(shell, "PARSE_SECONDS", 0.002)  # what is under the size caps parses in time
    p = policy(commands={"allow": ["ls *", "echo *"], "deny": ["rm *"]})
    slow = "ls | " * 2_000 + "ls"
    for _ in range(2):
        assert "to parse" in p.check_command(slow, FACTS).reason
        assert p.check_command("rm -rf / ; echo " + "x " * 10_000, FACTS).action == "deny"


def test_judging_is_linear_and_large_input_leaves_the_event_loop():
    p = policy(commands={"allow": ["cat *", "sudo *", "ls *"]})
    data = "cat <<'EOF'\n" + "a line of data\n" * 69_000 + "EOF\n"  # 1 MB
    started = time.perf_counter()
    assert p.check_command(data, FACTS).action == "allow"
    assert time.perf_counter() - started < 1.0
    chain = "sudo " * 16_000 + "ls"  # 80 kB of wrappers: took 6.8 s and 1.6 GB before
    started = time.perf_counter()
    assert p.check_command(chain, FACTS).action == "deny"
    assert time.perf_counter() - started < 1.5

    async def ticks_while_judging() -> int:
        count = 0
        judging = asyncio.ensure_future(analyse("echo " + "hi" * 500_000))
        while not judging.done():
            count += 1
            await asyncio.sleep(0.001)
        return count

    assert asyncio.run(ticks_while_judging()) > 1  # the loop kept running


STALLS = {  # inputs that stalled the parser, or took it long, before they were bounded
    "valid pipes": "a|" * 2_499 + "a",
    "invalid pipes": "a|" * 2_500,
    "bars": "|" * 4_900,
    "parens": ")" * 4_900,
    "redirects": "<" * 14_000,
    "arithmetic shift taken for a heredoc": "echo $((1<<2))\n" + "a|" * 2_400,
    "dense 1 MB": "a|" * 500_000,
    "1 MB of commands": "echo word\n" * 100_000,
    "1 MB of arguments": "echo" + " a" * 500_000,
    "1 MB heredoc": "cat > f <<'EOF'\n" + "a line of text $x `y` | ; (\n" * 36_000 + "EOF\n",
    "1 MB word": "echo " + "a" * 1_000_000,
}


@pytest.mark.parametrize("name", STALLS)
def test_judging_is_bounded_and_never_holds_the_event_loop(name):
    """Every input is judged (or refused) within the worker's deadline, and the event loop keeps
    turning meanwhile: tree-sitter's error recovery holds the GIL, so slow shapes are parsed in a
    worker process that is killed at its deadline. What is too heavy to judge is refused at once."""

    async def judged(text: str) -> tuple[float, float, str]:
        gaps: list[float] = []
        judging = asyncio.ensure_future(analyse(text))
        started = last = time.perf_counter()
        while not judging.done():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
        return time.perf_counter() - started, max(gaps, default=0.0), (await judging).error or "ok"

    asyncio.run(analyse("a|" * 300))  # a worker is started once (imports): not what is measured
    gaps = []
    for attempt in range(3):  # a busy 2-core machine may not run us for a while: best of three
        shell._CACHE.clear()  # and leading blanks: no cache (ours, the worker's) answers it
        took, gap, error = asyncio.run(judged(" " * attempt + STALLS[name]))
        assert took < isolate.SECONDS + 0.5, (took, error)
        gaps.append(gap)
        if gap < 0.15:
            break
    assert min(gaps) < 0.15, (gaps, error)
    if name.startswith("1 MB") or name.startswith("dense"):
        assert took < 0.1 if error != "ok" else took < 0.3, (took, error)  # refused at once


def test_words_reused_by_an_unrolled_loop_cannot_multiply_what_is_judged():
    """A static loop's value is reused in every command of its body: 200 kB became 60 MB of paths
    to match against every rule (31 s on the event loop). What an analysis hands the judge is
    capped; past it, the command is refused, quickly."""
    value = "a/" * 50_000
    body = "; ".join(f"sort -o $x/{n} notes.txt" for n in range(30))
    command = f"for x in {value}; do {body}; done"
    p = policy(commands={"deny": ["rm *"]}, paths={"deny": ["**/protected/**"]})
    started = time.perf_counter()
    decision = p.check_command(command, FACTS)
    assert decision.action == "deny" and "characters of words and paths" in decision.reason
    assert time.perf_counter() - started < 2.0
    assert shell.analyse("for x in a b; do sort -o $x/0 notes.txt; done").size < 100


def test_a_worker_past_its_deadline_is_killed_and_replaced(monkeypatch):
    monkeypatch.setattr(isolate, "SECONDS", 0.0005)
    monkeypatch.setattr(isolate, "START_SECONDS", 0.0)
    pipes = "ls|" * 300 + "ls"
    assert "took over" in (asyncio.run(analyse(pipes)).error or "")
    monkeypatch.undo()
    p = policy(commands={"allow": ["ls"]})
    assert p.judge(asyncio.run(analyse(pipes)), FACTS).action == "allow"


def test_the_shipped_devops_rules_refuse_system_namespaces_in_any_spelling():
    devops = Policy(load_inventory("hosts").specialists["devops-llm"].policy, "devops-llm")
    denied = [
        "kubectl delete ns kube-system",
        "kubectl delete namespace kube-system",
        "kubectl delete Namespace kube-system",
        "kubectl delete namespaces kube-system",
        "kubectl delete ns/kube-system",
        "kubectl delete ns,deploy kube-system",
        "kubectl delete deploy,ns kube-system",
        "kubectl delete ns --all",
        "kubectl delete pods --all -n prod",
        "kubectl delete pods -A --all",
        "kubectl -n kube-system delete pod coredns-1",
        "kubectl delete pod x -nkube-system",
        "kubectl delete pod x --namespace=kube-system",
        "kubectl scale deploy coredns --replicas=0 -n kube-system",
        "kubectl DELETE NS KUBE-SYSTEM",
    ]
    for command in denied:
        assert devops.check_command(command, FACTS).action == "deny", command
    confirmed = [
        "kubectl delete pod web-1 -n prod",
        "kubectl scale deploy web --replicas=0",
        "kubectl drain node-1",
        "kubectl cordon node-1",
        "kubectl exec web-1 -- ls",
        "kubectl cp web-1:/tmp/x ./x",
        "kubectl port-forward svc/web 8080:80",
        "kubectl apply -f web.yaml",
        "kubectl patch deploy web -p '{}'",
        "kubectl edit deploy web",
    ]
    for command in confirmed:
        assert devops.check_command(command, FACTS).action == "confirm", command
    for command in (
        "kubectl get pods -A",
        "kubectl logs -n kube-system coredns-1",
        "kubectl scale deploy web --replicas=5",
    ):
        assert devops.check_command(command, FACTS).action == "allow", command


def test_the_readme_chatgpt_token_reads_freely_and_asks_before_the_rest():
    import re

    import yaml

    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if b.startswith("tokens:"))
    config = yaml.safe_load(block)["tokens"]["chatgpt"]["policy"]
    chatgpt = Policy(PolicyConfig.model_validate(config), "token chatgpt")
    assert verdict(chatgpt, "journalctl -u app --since '1 hour ago' | tail -n 50") == "allow"
    assert verdict(chatgpt, "curl -s http://internal/metrics") == "confirm"  # not named: asks
    assert verdict(chatgpt, "ps aux | grep nginx") == "allow"
    assert verdict(chatgpt, "kubectl get pods -A -o wide") == "allow"
    assert verdict(chatgpt, "cat ~/.ssh/id_rsa") == "deny"
    assert verdict(chatgpt, "rm -rf /srv/app") == "deny"
    assert verdict(chatgpt, "systemctl restart nginx") == "confirm"
    assert verdict(chatgpt, "echo done > /srv/app/flag") == "confirm"
    assert chatgpt.check_path("/srv/app/config.yaml", "write").action == "confirm"
    assert chatgpt.check_path("/srv/app/config.yaml", "read").action == "allow"
    assert chatgpt.check_code("python", "python3 -").action == "confirm"

"""The policy: compound commands are split part by part, so nothing denied hides; unknowns fail closed."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from gtp_remote.policy import (
    Decision,
    Policy,
    PolicyConfig,
    PolicyParseError,
    RuleSet,
    normalise_path,
    split_command,
)

DENY_NS = PolicyConfig(commands=RuleSet(deny=["kubectl delete namespace*"]))


def policy(**rules: object) -> Policy:
    """A policy from a dict as the inventory would hold it."""
    return Policy(PolicyConfig.model_validate(rules))


# -- splitting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("kubectl get pods; kubectl get svc", ["kubectl get pods", "kubectl get svc"]),
        ("make build && make test", ["make build", "make test"]),
        ("test -f /etc/app.conf || touch /etc/app.conf", ["test -f /etc/app.conf", "touch /etc/app.conf"]),
        ("ps aux | grep nginx | wc -l", ["ps aux", "grep nginx", "wc -l"]),
        ("make 2>&1 |& tee build.log", ["make", "tee build.log"]),
        ("sleep 10 & echo started", ["sleep 10", "echo started"]),
        ("uptime\ndf -h\n\nfree -m\n", ["uptime", "df -h", "free -m"]),
        ("ls;;ls", ["ls", "ls"]),
    ],
)
def test_separators_split_commands(command: str, parts: list[str]) -> None:
    assert split_command(command) == parts


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("echo 'a; b && c | d'", ["echo a; b && c | d"]),
        ('echo "a; b && c | d"', ["echo a; b && c | d"]),
        ("grep -E 'foo|bar' app.log", ["grep -E foo|bar app.log"]),
        ("echo a\\;b", ["echo a;b"]),
        ("echo '$(rm -rf /)' '`rm -rf /`'", ["echo $(rm -rf /) `rm -rf /`"]),
        ('echo "it\'s" \'say "hi"\'', ['echo it\'s say "hi"']),
        ("kubectl   'get'  \"pods\"\t-A", ["kubectl get pods -A"]),
        ("echo 'two  spaces'", ["echo two  spaces"]),
        ("echo a#b # a comment; rm -rf /", ["echo a#b"]),
        ("kube\\\nctl get \\\n  pods", ["kubectl get pods"]),
    ],
)
def test_quotes_escapes_and_comments_do_not_split(command: str, parts: list[str]) -> None:
    assert split_command(command) == parts


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("echo $(kubectl get ns)", ["kubectl get ns", "echo $(kubectl get ns)"]),
        ('echo "ns: $(kubectl get ns)"', ["kubectl get ns", "echo ns: $(kubectl get ns)"]),
        ("echo `hostname`", ["hostname", "echo `hostname`"]),
        ('echo "`hostname`"', ["hostname", "echo `hostname`"]),
        (
            "echo $(cat $(ls -t | head -1))",
            ["ls -t", "head -1", "cat $(ls -t | head -1)", "echo $(cat $(ls -t | head -1))"],
        ),
        ("echo `echo \\`id\\``", ["id", "echo `id`", "echo `echo \\`id\\``"]),
        ("(cd /srv/app && git pull)", ["cd /srv/app", "git pull"]),
        ("{ date; uptime; } > report.txt", ["date", "uptime"]),
        (
            "diff <(sort a.txt) <(sort b.txt)",
            ["sort a.txt", "sort b.txt", "diff <(sort a.txt) <(sort b.txt)"],
        ),
        ("tar cf >(gzip > out.tgz) src", ["gzip", "tar cf >(gzip > out.tgz) src"]),
        ("echo $((1 + $(wc -l < f)))", ["wc -l", "echo $((1 + $(wc -l < f)))"]),
        ("echo ${NAME:-$(whoami)}", ["whoami", "echo ${NAME:-$(whoami)}"]),
        ("echo $HOME $1 $", ["echo $HOME $1 $"]),
    ],
)
def test_substitutions_subshells_and_groups_are_split(command: str, parts: list[str]) -> None:
    assert split_command(command) == parts


@pytest.mark.parametrize(
    ("command", "inner"),
    [
        ("sh -c 'kubectl get ns; kubectl get pods'", ["kubectl get ns", "kubectl get pods"]),
        ('bash -c "uptime && df -h"', ["uptime", "df -h"]),
        ("bash -lc 'uptime'", ["uptime"]),
        ("bash -ec 'uptime'", ["uptime"]),
        ("bash -o pipefail -c 'ps | wc -l'", ["ps", "wc -l"]),
        ("/bin/sh -c uptime", ["uptime"]),
        ("eval 'uptime; df -h'", ["uptime", "df -h"]),
        ("eval uptime '&&' df", ["uptime", "df"]),
        ("su -c 'systemctl restart app' deploy", ["systemctl restart app"]),
        ("find /tmp -name '*.log' -exec rm -f {} \\;", ["rm -f {}"]),
        ("ssh -p 2222 -o BatchMode=yes db1 'df -h; uptime'", ["df -h", "uptime"]),
        ("watch -n 5 'kubectl get pods | wc -l'", ["kubectl get pods", "wc -l"]),
        ("env -S 'kubectl get pods'", ["kubectl get pods"]),
    ],
)
def test_shell_strings_are_split_again(command: str, inner: list[str]) -> None:
    parts = split_command(command)
    assert parts[-len(inner) :] == inner


def test_bash_without_c_runs_a_file_not_a_string() -> None:
    assert split_command("bash deploy.sh") == ["bash deploy.sh"]


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("FOO=1 BAR='a b' make test", ["make test"]),
        ("LANG=C", ["LANG=C"]),
        ("sudo systemctl restart nginx", ["sudo systemctl restart nginx", "systemctl restart nginx"]),
        ("sudo -u app -E ls", ["sudo -u app -E ls", "ls"]),
        ("env -i PATH=/bin ls", ["env -i PATH=/bin ls", "ls"]),
        ("nohup ./worker.sh", ["nohup ./worker.sh", "./worker.sh", "worker.sh"]),
        ("time make", ["time make", "make"]),
        ("command ls", ["command ls", "ls"]),
        ("exec -a name ls", ["exec -a name ls", "ls"]),
        ("nice -n 10 make", ["nice -n 10 make", "make"]),
        ("timeout -s KILL 30s curl x", ["timeout -s KILL 30s curl x", "curl x"]),
        ("xargs -n 1 -P4 rm", ["xargs -n 1 -P4 rm", "rm"]),
        ("/usr/bin/kubectl get pods", ["/usr/bin/kubectl get pods", "kubectl get pods"]),
    ],
)
def test_assignments_are_dropped_and_wrappers_unwrapped(command: str, parts: list[str]) -> None:
    assert split_command(command) == parts


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("ls -l > out.txt 2>&1", ["ls -l"]),
        ("sort < in.txt >> out.txt 2> err.txt", ["sort"]),
        ("make &> build.log", ["make"]),
        ("cat <<< 'a here string; not a command'", ["cat"]),
        ("exec 3<> /dev/tcp/host/80", ["exec"]),
    ],
)
def test_redirections_leave_the_command_text(command: str, parts: list[str]) -> None:
    assert split_command(command) == parts


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("cat <<EOF > /etc/motd\nrm -rf /; reboot\nEOF\nuptime", ["cat", "uptime"]),
        ("cat <<-EOF\n\trm -rf /\n\tEOF\nuptime", ["cat", "uptime"]),
        ("cat <<'EOF'\n$(rm -rf /)\nEOF", ["cat"]),
        ("cat <<EOF\nuser: $(whoami)\nEOF", ["cat", "whoami"]),
        ("cat <<EOF\nno end", ["cat"]),
        ("cat <<A <<B\na; b\nA\nc; d\nB\nls", ["cat", "ls"]),
    ],
)
def test_heredoc_bodies_are_data(command: str, parts: list[str]) -> None:
    """Bodies are not commands; only an unquoted delimiter's $(...) runs, as in bash."""
    assert split_command(command) == parts


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("if test -f x; then rm x; else touch x; fi", ["test -f x", "rm x", "touch x"]),
        ("for ns in a b; do kubectl get ns $ns; done", ["kubectl get ns $ns"]),
        ("while true; do date; sleep 1; done", ["true", "date", "sleep 1"]),
        ("! grep -q x f", ["grep -q x f"]),
        ("f() { rm -rf /tmp/x; }; f", ["rm -rf /tmp/x", "f"]),
        ("function f { uptime; }", ["uptime"]),
        ("$'\\x6bubectl' get", ["kubectl get"]),
        (
            "hosts=(web1 'web 2' $(hostname)); echo ${hosts[@]}",
            ["hostname", "hosts=(web1 web 2 $(hostname))", "echo ${hosts[@]}"],
        ),
    ],
)
def test_shell_syntax_around_commands(command: str, parts: list[str]) -> None:
    assert split_command(command) == parts


@pytest.mark.parametrize(
    "command",
    [
        "echo 'unterminated",
        'echo "unterminated',
        "echo $(uptime",
        "echo `uptime",
        "echo $((1 + 2)",
        "(uptime",
        "uptime)",
        "ls >",
        "cat <<",
        "echo (x)",
        "$'abc",
        "echo ${x",
        "hosts=(a; b)",
        "case $1 in start) run;; esac",  # not supported: refused rather than guessed at
    ],
)
def test_unparseable_commands_raise(command: str) -> None:
    with pytest.raises(PolicyParseError):
        split_command(command)


def test_deep_nesting_is_refused_not_crashed() -> None:
    with pytest.raises(PolicyParseError):
        split_command("echo " + "$(" * 2000 + ")" * 2000)


# -- command decisions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "kubectl delete namespace prod",
        "kubectl get pods; kubectl delete namespace prod",
        "kubectl get pods\nkubectl delete namespace prod",
        "kubectl get pods && kubectl delete namespace prod",
        "false || kubectl delete namespace prod",
        "echo prod | kubectl delete namespace prod",
        "kubectl get pods & kubectl delete namespace prod",
        "echo $(kubectl delete namespace prod)",
        'echo "$(kubectl delete namespace prod)"',
        "echo `kubectl delete namespace prod`",
        "(kubectl delete namespace prod)",
        "{ kubectl delete namespace prod; }",
        "cat <(kubectl delete namespace prod)",
        "bash -c 'kubectl delete namespace prod'",
        'sh -c "kubectl get pods; kubectl delete namespace prod"',
        "bash -c \"bash -c 'kubectl delete namespace prod'\"",
        "eval kubectl delete namespace prod",
        "sudo kubectl delete namespace prod",
        "sudo -u root nohup timeout 5 kubectl delete namespace prod",
        "KUBECONFIG=/x kubectl delete namespace prod",
        "env KUBECONFIG=/x kubectl delete namespace prod",
        "echo prod | xargs kubectl delete namespace",
        "/usr/local/bin/kubectl delete namespace prod",
        "kubectl 'delete' \"namespace\" prod",
        "kubectl  delete   namespace prod",
        "kube\\\nctl delete namespace prod",
        "if true; then kubectl delete namespace prod; fi",
        "for n in prod; do kubectl delete namespace $n; done",
        "f() { kubectl delete namespace prod; }; f",
        "find . -exec kubectl delete namespace prod \\;",
        "ls > $(kubectl delete namespace prod)",
        "cat <<EOF\n$(kubectl delete namespace prod)\nEOF",
        "ssh db1 'kubectl get pods; kubectl delete namespace prod'",
        "watch kubectl delete namespace prod",
        "env -S 'kubectl delete namespace prod'",
        "$'kubectl' delete namespace prod",
    ],
)
def test_a_denied_command_cannot_hide(command: str) -> None:
    decision = Policy(DENY_NS).check_command(command)
    assert decision.action == "deny", decision
    assert decision.rule == "kubectl delete namespace*"
    assert decision.part is not None and decision.part.startswith("kubectl delete namespace")


@pytest.mark.parametrize(
    "command",
    [
        "echo 'kubectl delete namespace prod'",
        "grep 'kubectl delete namespace' history.txt",
        "cat <<'EOF'\nkubectl delete namespace prod\nEOF",
        "kubectl get namespace prod",
    ],
)
def test_quoted_text_is_not_a_command(command: str) -> None:
    assert Policy(DENY_NS).check_command(command).action == "allow"


def test_deny_reason_names_the_rule_and_the_part() -> None:
    decision = Policy(DENY_NS).check_command("kubectl get pods; kubectl delete namespace prod")
    assert decision == Decision(
        "deny",
        "denied by rule 'kubectl delete namespace*' (part: kubectl delete namespace prod)",
        "kubectl delete namespace*",
        "kubectl delete namespace prod",
    )
    assert decision.to_dict() == {
        "action": "deny",
        "reason": decision.reason,
        "rule": "kubectl delete namespace*",
        "part": "kubectl delete namespace prod",
    }


def test_an_allow_list_denies_everything_else() -> None:
    p = policy(commands={"allow": ["kubectl get *", "uptime"]})
    assert p.check_command("kubectl get pods -A").action == "allow"
    assert p.check_command("uptime && kubectl get nodes").action == "allow"
    refused = p.check_command("kubectl get pods | rm -rf /")
    assert refused.action == "deny"
    assert refused.part == "rm -rf /"
    assert refused.rule is None
    assert "no rule matches, default deny" in refused.reason
    assert p.check_command("uptimes").action == "deny"


def test_a_wrapper_and_what_it_runs_must_both_be_allowed() -> None:
    only_kubectl = policy(commands={"allow": ["kubectl get *"]})
    assert only_kubectl.check_command("sudo kubectl get pods").action == "deny"
    with_sudo = policy(commands={"allow": ["kubectl get *", "sudo *"]})
    assert with_sudo.check_command("sudo kubectl get pods").action == "allow"
    assert with_sudo.check_command("sudo rm -rf /").action == "deny"


def test_shell_c_needs_the_shell_and_the_script_allowed() -> None:
    p = policy(commands={"allow": ["bash -c *", "uptime"]})
    assert p.check_command("bash -c 'uptime'").action == "allow"
    assert p.check_command("bash -c 'uptime; reboot'").part == "reboot"


def test_confirm_pauses_and_deny_still_wins() -> None:
    p = policy(
        commands={
            "allow": ["kubectl *"],
            "confirm": ["kubectl scale *", "kubectl delete *"],
            "deny": ["kubectl delete namespace*"],
        }
    )
    scale = p.check_command("kubectl scale deployment web --replicas=5")
    assert (scale.action, scale.rule) == ("confirm", "kubectl scale *")
    assert scale.reason == (
        "needs approval by rule 'kubectl scale *' (part: kubectl scale deployment web --replicas=5)"
    )
    assert p.check_command("kubectl get pods && kubectl delete pod web-1").action == "confirm"
    assert p.check_command("kubectl delete pod web-1; kubectl delete namespace prod").action == "deny"
    assert p.check_command("kubectl get pods").action == "allow"


def test_a_part_allowed_and_denied_is_denied() -> None:
    p = policy(commands={"allow": ["rm *"], "deny": ["rm -rf /*"]})
    assert p.check_command("rm -rf /var").action == "deny"
    assert p.check_command("rm old.log").action == "allow"


def test_regex_rules() -> None:
    p = policy(commands={"deny": [r"re:(sudo )?shutdown( .*)?", r"re:rm\s+-[a-z]*r[a-z]*f.*"]})
    assert p.check_command("shutdown -h now").action == "deny"
    assert p.check_command("rm -rf /tmp").action == "deny"
    assert p.check_command("rm -r /tmp").action == "allow"
    assert p.check_command("echo shutdown").action == "allow"  # fullmatch, not search


def test_explicit_defaults() -> None:
    assert policy(commands={"allow": ["ls"]}, default="allow").check_command("reboot").action == "allow"
    assert policy(default="confirm").check_command("reboot").action == "confirm"
    assert policy(default="deny").check_command("ls").action == "deny"


def test_no_policy_allows_anything_that_parses_or_not() -> None:
    for p in (Policy(), Policy(PolicyConfig()), policy(default="allow")):
        assert p.check_command("rm -rf / && reboot").action == "allow"
        assert p.check_command("echo 'oops").action == "allow"


@pytest.mark.parametrize("command", ["echo 'a", "kubectl get $(pods", "echo `x", "ls )"])
def test_parse_failures_fail_closed(command: str) -> None:
    decision = Policy(DENY_NS).check_command(command)
    assert decision.action == "deny"
    assert "could not parse" in decision.reason
    assert policy(default="deny").check_command(command).action == "deny"


@pytest.mark.parametrize("command", ["", "   ", "\n\n", "# only a comment", "; ;"])
def test_an_empty_command_is_denied(command: str) -> None:
    assert Policy().check_command(command) == Decision("deny", "empty command")


# -- redirections and paths --------------------------------------------------------------------------


def test_a_redirect_to_a_denied_path_is_denied() -> None:
    p = policy(paths={"deny": ["write:/etc/**", "read:/etc/shadow"]})
    decision = p.check_command("echo 'nameserver 1.1.1.1' > /etc/resolv.conf")
    assert decision == Decision(
        "deny",
        "denied by rule 'write:/etc/**' (write: /etc/resolv.conf)",
        "write:/etc/**",
        "/etc/resolv.conf",
    )
    assert p.check_command("uptime >> /etc/../etc/motd").part == "/etc/motd"
    assert p.check_command("ls 2>/etc/err").action == "deny"
    assert p.check_command("make &> /etc/log").action == "deny"
    assert p.check_command("wc -l < /etc/shadow").action == "deny"
    assert p.check_command("wc -l < /etc/hosts").action == "allow"
    assert p.check_command("bash -c 'uptime > /etc/motd'").action == "deny"
    assert p.check_command("cat /etc/hosts > /tmp/hosts 2>&1").action == "allow"


def test_discarding_output_is_not_a_write() -> None:
    p = policy(paths={"allow": ["write:/srv/app/**"]})
    assert p.check_command("make 2>/dev/null >/dev/stdout").action == "allow"
    assert p.check_command("make > /tmp/out").action == "deny"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/srv/app/../../etc/passwd", "/etc/passwd"),
        ("/srv//app/./x", "/srv/app/x"),
        ("//etc/passwd", "/etc/passwd"),
        ("/../etc", "/etc"),
        ("/srv/app/", "/srv/app"),
        ("logs/../app.log", "app.log"),
    ],
)
def test_paths_are_normalised_lexically(path: str, expected: str) -> None:
    assert normalise_path(path) == expected


def test_path_globs() -> None:
    p = policy(paths={"deny": ["/etc/**", "/home/*/.ssh/*", "**/*.pem", "/srv/app/[!a]*.key"]})
    denied = [
        "/etc",
        "/etc/passwd",
        "/etc/ssl/private/key",
        "/home/bob/.ssh/id_rsa",
        "/opt/tls/server.pem",
        "server.pem",
        "/srv/app/z.key",
    ]
    allowed = ["/etcetera", "/home/bob/x/.ssh/id_rsa", "/home/bob/.ssh/keys/x", "/srv/app/a.key", "/pem"]
    for path in denied:
        assert p.check_path(path, "read").action == "deny", path
    for path in allowed:
        assert p.check_path(path, "read").action == "allow", path


def test_operation_prefixes() -> None:
    p = policy(paths={"deny": ["write:/etc/**", "list:/root/**"], "confirm": ["read:/var/log/**"]})
    assert p.check_path("/etc/hosts", "read").action == "allow"
    assert p.check_path("/etc/hosts", "write").action == "deny"
    assert p.check_path("/root", "list").action == "deny"
    assert p.check_path("/root/.bashrc", "read").action == "allow"
    assert p.check_path("/var/log/syslog", "read").action == "confirm"
    assert p.check_path("/var/log/syslog", "write").action == "allow"


def test_dot_dot_cannot_escape_an_allowed_folder() -> None:
    p = policy(paths={"allow": ["/srv/app/**"]})
    assert p.check_path("/srv/app/config/settings.yaml", "write").action == "allow"
    escape = p.check_path("/srv/app/../../etc/passwd", "read")
    assert (escape.action, escape.part) == ("deny", "/etc/passwd")


def test_a_path_allow_list_only_restricts_its_own_operations() -> None:
    p = policy(paths={"allow": ["write:/srv/app/**"]})
    assert p.check_path("/srv/app/x", "write").action == "allow"
    assert p.check_path("/etc/x", "write").action == "deny"
    assert p.check_path("/etc/x", "read").action == "allow"


def test_path_regex_and_trailing_slash_rules() -> None:
    p = policy(paths={"deny": [r"write:re:/etc/.*\.conf", "/var/secrets/"]})
    assert p.check_path("/etc/nginx/nginx.conf", "write").action == "deny"
    assert p.check_path("/etc/nginx/nginx.conf", "read").action == "allow"
    assert p.check_path("/var/secrets/db", "read").action == "deny"


@pytest.mark.parametrize(("path", "operation"), [("", "read"), ("/a\0b", "read"), ("/x", "delete")])
def test_bad_paths_and_operations_are_denied(path: str, operation: str) -> None:
    assert Policy().check_path(path, operation).action == "deny"  # type: ignore[arg-type]


# -- argv --------------------------------------------------------------------------------------------


def test_check_argv_judges_the_words_as_one_command() -> None:
    p = Policy(DENY_NS)
    assert p.check_argv(["kubectl", "get", "pods"]).action == "allow"
    decision = p.check_argv(["kubectl", "delete", "namespace", "prod; echo"])
    assert (decision.action, decision.part) == ("deny", "kubectl delete namespace prod; echo")
    assert p.check_argv(["kubectl", "get", "pods; kubectl delete namespace prod"]).action == "allow"
    assert p.check_argv(["sh", "-c", "kubectl delete namespace prod"]).action == "deny"
    assert p.check_argv(["sudo", "kubectl", "delete", "namespace", "x"]).action == "deny"
    assert p.check_argv([]).action == "deny"
    assert p.check_argv([""]).action == "deny"


def test_check_argv_with_an_allow_list() -> None:
    p = policy(commands={"allow": ["helm list *", "helm status *"]})
    assert p.check_argv(["helm", "list", "-A"]).action == "allow"
    assert p.check_argv(["helm", "uninstall", "web"]).action == "deny"


# -- configuration -----------------------------------------------------------------------------------


def test_policy_config_loads_from_yaml() -> None:
    doc = yaml.safe_load(
        """
        commands:
          allow: ["kubectl get *", "kubectl describe *"]
          confirm: ["kubectl scale *"]
          deny: ["kubectl delete namespace*"]
        paths:
          deny: ["write:/etc/**"]
        default: confirm
        """
    )
    config = PolicyConfig.model_validate(doc)
    assert config.commands.confirm == ["kubectl scale *"]
    assert config.default == "confirm"
    assert Policy(config).check_command("kubectl logs web").action == "confirm"


def test_policy_config_accepts_names_and_aliases() -> None:
    by_alias = PolicyConfig.model_validate({"commands": {"deny": ["rm *"]}, "default": "deny"})
    by_name = PolicyConfig(commands=RuleSet(deny=["rm *"]), default="deny")
    assert by_alias == by_name
    assert PolicyConfig().default is None
    assert PolicyConfig().commands == RuleSet()


@pytest.mark.parametrize(
    "doc",
    [
        {"command": {"deny": ["rm *"]}},
        {"commands": {"denied": ["rm *"]}},
        {"commands": {"deny": "rm *"}},
        {"default": "maybe"},
        {"commands": {"deny": ["re:(unclosed"]}},
        {"paths": {"allow": ["write:"]}},
        {"commands": {"allow": [""]}},
    ],
)
def test_policy_config_rejects_mistakes(doc: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PolicyConfig.model_validate(doc)


def test_policy_config_is_frozen() -> None:
    config = PolicyConfig()
    with pytest.raises(ValidationError):
        config.default = "deny"  # type: ignore[misc]


def test_a_docs_only_specialist() -> None:
    """Lists anywhere, reads and writes only documentation files."""
    p = policy(paths={"allow": ["list:**", "**/*.md", "**/*.rst", "**/*.txt"]})
    assert p.check_path("/etc", "list").action == "allow"
    assert p.check_path("/srv/docs/guide/README.md", "write").action == "allow"
    assert p.check_path("notes.txt", "read").action == "allow"
    assert p.check_path("/srv/docs/conf.py", "read").action == "deny"
    assert p.check_command("cat README.md > /srv/app/settings.py").action == "deny"

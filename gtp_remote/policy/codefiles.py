"""Files that make other programs run code: writing one is running code the policy cannot read.

An owner who allows ``git status`` and denies ``pwn`` means that ``git status`` never runs
``pwn``. But ``core.fsmonitor`` in ``~/.gitconfig`` makes every later ``git status`` run whatever
it names; so do ``LESSOPEN`` in ``~/.lesskey``, a line in ``~/.bashrc``, an ``exec:`` plugin in a
kubeconfig, a hook in ``.git/hooks`` or a program of the same name earlier on ``PATH``. A write
to such a file is judged like code handed to an interpreter: the layer's ``dynamic`` action
(confirm by default), wherever the layer has command rules at all (a layer of path rules only
says nothing about what may run).

The list is of well-known places, not a proof: programs read many more files. It is one more
rail; the wall is an account that cannot write where its own programs look for configuration.
Globs as in path rules (``**/`` any folders, ``DIR/**`` the folder and all below it).
"""

from __future__ import annotations

from gtp_remote.policy.rules import PathRule

CODE_FILES: tuple[str, ...] = (
    # shells: profiles, rc files, completions and the folders they source
    "**/.profile", "**/.bash_profile", "**/.bash_login", "**/.bash_logout", "**/.bashrc",
    "**/.bash_aliases", "**/.bash_completion", "**/.bash_completion.d/**", "**/.zshenv", "**/.zprofile",
    "**/.zshrc", "**/.zlogin", "**/.zlogout", "**/.kshrc", "**/.mkshrc", "**/.cshrc", "**/.tcshrc",
    "**/.login", "**/.logout", "**/.config/fish/**", "**/.inputrc", "**/.pam_environment",
    "**/.config/environment.d/**", "**/.xprofile", "**/.xinitrc", "**/.xsession", "**/.xsessionrc",
    # git: configuration, hooks, attributes that name filters
    "**/.gitconfig", "**/.config/git/**", "**/.git", "**/.git/config", "**/.git/hooks/**",
    "**/.git/info/attributes", "**/.gitmodules", "**/.hgrc", "**/.hg/hgrc", "**/.git/modules/**",
    "**/.git/worktrees/**", "**/config.worktree", "**/.git/commondir",
    # a folder with HEAD, objects/ and refs/ is a bare repository whose config git obeys
    "**/HEAD", "**/*.git/config",
    # pagers, editors, debuggers, multiplexers
    "**/.lesskey", "**/.config/lesskey", "**/.less", "**/.lessfilter", "**/.manpath", "**/.selected_editor",
    "**/.vimrc", "**/.gvimrc", "**/.exrc", "**/.nexrc", "**/.vim/**",
    "**/.config/nvim/**", "**/.emacs", "**/.emacs.d/**", "**/.gdbinit", "**/.config/gdb/**",
    "**/.lldbinit", "**/.pdbrc", "**/.valgrindrc", "**/.tigrc", "**/.config/mc/**",
    "**/.tmux.conf", "**/.config/tmux/**", "**/.screenrc", "**/.mailcap", "**/.nanorc", "**/.config/nano/**",
    "**/.muttrc", "**/.mutt/**", "**/.mailrc", "**/.toprc", "**/.config/procps/**",
    # terminfo entries (tput init, tset and reset run an entry's iprog), X resources, desktop
    # associations, and the user-dirs file that scripts source
    "**/.terminfo", "**/.terminfo/**", "**/.Xresources", "**/.Xdefaults", "**/.config/mimeapps.list",
    "**/.local/share/applications/**", "**/.config/user-dirs.dirs",
    # clients with hooks: ssh, kubectl, docker, database shells, download tools
    "**/.ssh/**", "**/.kube/**", "**/.docker/**", "**/.psqlrc", "**/.sqliterc", "**/.my.cnf",
    "**/.mylogin.cnf", "**/.wgetrc", "**/.curlrc", "**/.config/curlrc", "**/.terraformrc", "**/.netrc",
    "**/.gnupg/**", "**/.psqlrc-*", "**/.mongorc.js", "**/.mongoshrc.js", "**/.local/share/helm/**",
    "**/.config/helm/**",
    # language tool chains: start-up files, package managers' configuration, import paths
    "**/.npmrc", "**/.yarnrc", "**/.yarnrc.yml", "**/.pydistutils.cfg", "**/.pip/**", "**/.config/pip/**",
    "**/site-packages/**", "**/dist-packages/**", "**/sitecustomize.py", "**/usercustomize.py",
    "**/.pythonrc", "**/.pythonrc.py", "**/.irbrc", "**/.pryrc", "**/.gemrc", "**/.bundle/**",
    "**/.cargo/config", "**/.cargo/config.toml", "**/.Rprofile", "**/.perldb", "**/.m2/**",
    "**/.gradle/**", "**/gradle.properties", "**/.mavenrc", "**/mavenrc", "**/.mvn/**", "**/.jvmopts",
    "**/.sbtopts", "**/rust-toolchain", "**/rust-toolchain.toml", "**/.ghci", "**/.ocamlinit",
    "**/.julia/config/**", "**/.ipython/**", "**/.jupyter/**", "**/matplotlibrc",
    "**/.config/matplotlib/**", "**/.pylintrc", "**/pylintrc", "**/bunfig.toml", "**/.bunfig.toml",
    "**/.bazelrc",
    # files that set a later program's environment (LD_PRELOAD, BASH_ENV): direnv, dotenv loaders
    "**/.envrc", "**/.env", "**/.flaskenv",
    # what runs by itself: user services, autostart, cron; and folders on PATH
    "**/.config/systemd/**", "**/.local/share/systemd/**", "**/.config/autostart/**", "**/bin/**",
    "**/sbin/**", "**/.local/bin/**",
    # the system's own configuration (an account that can write there can do anything anyway)
    "/etc/**", "/var/spool/cron/**",
)  # fmt: skip

_RULES = tuple(PathRule.compile(f"write:{glob}") for glob in CODE_FILES)


def code_file(path: str) -> str | None:
    """The pattern that makes ``path`` (absolute, normalised) a file other programs run code
    from, or None."""
    for rule in _RULES:
        if rule.regex.fullmatch(path):
            return rule.text.removeprefix("write:")
    return None

"""`overlock completion bash|zsh|fish`, loaded into the real shells and asked to complete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bases import clean_env
from overlock.cli.main import build_parser

OVERLOCK = str(Path(sys.executable).with_name("overlock"))


def _shell(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):  # .ci/run installs zsh and fish; a skip there hides a gap
            pytest.fail(f"{name} is not installed, and CI must test every shell")
        pytest.skip(f"{name} is not installed here; .ci/run installs it so CI runs this")
    return found


def _script(shell: str, tmp_path: Path) -> Path:
    run = subprocess.run(
        [OVERLOCK, "completion", shell], capture_output=True, text=True, env=clean_env()
    )
    assert run.returncode == 0 and run.stderr == "", run.stderr
    path = tmp_path / f"overlock.{shell}"
    path.write_text(run.stdout)
    return path


def _top_level_commands() -> set[str]:
    import argparse

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("the parser has no subcommands")


def _bash_complete(script: Path, *words: str) -> list[str]:
    """What bash's completion function for overlock offers for ``words`` (the last is the
    word under the cursor), set up as bash's programmable completion sets it up."""
    code = (
        f"source {script}\n"
        "spec=$(complete -p overlock) || exit 9\n"
        # The function `complete -F` registered, called as readline would call it.
        "func=${spec#*-F }; func=${func%% *}\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))\n'
        'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}\n'
        '"$func" overlock "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    run = subprocess.run(
        [_shell("bash"), "--norc", "--noprofile", "-c", code, "bash", "overlock", *words],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_bash_completes_commands_options_and_choices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script("bash", tmp_path)
    assert _bash_complete(script, "sy") == ["sync"]
    # Generated from the parser: every command is offered, none written by hand.
    assert set(_bash_complete(script, "")) == _top_level_commands()
    assert _bash_complete(script, "-v", "--color", "always", "sy") == ["sync"]
    assert _bash_complete(script, "kernel", "in") == ["install"]
    assert _bash_complete(script, "cache", "pr") == ["prune"]
    assert _bash_complete(script, "cache", "clean", "pa") == ["pages"]
    assert _bash_complete(script, "lock", "--color", "") == ["auto", "always", "never"]
    assert _bash_complete(script, "completion", "") == ["bash", "fish", "zsh"]
    options = _bash_complete(script, "lock", "--")
    assert {"--check", "--upgrade-package", "--index-url", "--proxy", "--manifest"} <= set(options)
    assert "--take-over" not in options  # sync's, not lock's
    # An option's value is not taken for a command.
    assert _bash_complete(script, "--color", "never", "lo") == ["lock"]
    # A value without choices completes as a path.
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "overlay.toml").write_text("")
    monkeypatch.chdir(tmp_path / "proj")
    assert _bash_complete(script, "sync", "-m", "ov") == ["overlay.toml"]


def test_zsh_loads_the_script_and_its_tables_answer(tmp_path: Path) -> None:
    script = _script("zsh", tmp_path)
    code = (
        f"autoload -U compinit; compinit -u; source {script} || exit 9\n"
        'print -r -- "registered ${_comps[overlock]}"\n'
        'print -r -- "path [$(__overlock_path -v --color never kernel)]"\n'
        "print -r -- \"commands [$(__overlock_commands 'overlock kernel')]\"\n"
    )
    run = subprocess.run(
        [_shell("zsh"), "-fc", code],
        capture_output=True,
        text=True,
        env=clean_env({"HOME": str(tmp_path)}),
    )
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert "registered _overlock" in run.stdout
    assert "path [overlock kernel]" in run.stdout
    assert "commands [install list remove]" in run.stdout


def _zsh_offers(script: Path, tmp_path: Path, *words: str) -> list[str]:
    """What ``_overlock`` hands zsh's completion system for ``words`` (the last under the
    cursor). Outside a completion widget zsh has no ``compadd``; these functions stand in
    for it, ``_describe`` and ``_files`` and print what they were given, so the script itself
    runs unchanged in the real zsh."""
    code = (
        f"autoload -U compinit; compinit -u; source {script} || exit 9\n"
        'compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }\n'
        "_describe() { local name=${@[-1]}; print -rl -- ${(P)name}; }\n"
        "_files() { print -r -- '<files>'; }\n"
        'words=(overlock "$@"); CURRENT=${#words}; _overlock\n'
    )
    run = subprocess.run(
        [_shell("zsh"), "-fc", code, "zsh", *words],
        capture_output=True,
        text=True,
        env=clean_env({"HOME": str(tmp_path)}),
    )
    assert run.returncode == 0 and run.stderr == "", run.stderr
    return run.stdout.splitlines()


def test_zsh_offers_commands_with_descriptions_options_and_choices(tmp_path: Path) -> None:
    script = _script("zsh", tmp_path)
    offered = _zsh_offers(script, tmp_path, "sy")
    assert "sync:make the prefix hold exactly the lock" in offered
    assert {line.split(":")[0] for line in offered} == _top_level_commands()
    assert [o.split(":")[0] for o in _zsh_offers(script, tmp_path, "kernel", "in")] == [
        "install",
        "list",
        "remove",
    ]
    assert _zsh_offers(script, tmp_path, "lock", "--color", "") == ["auto", "always", "never"]
    assert "--upgrade-package" in _zsh_offers(script, tmp_path, "lock", "--up")
    assert _zsh_offers(script, tmp_path, "sync", "-m", "") == ["<files>"]


def test_fish_completes_commands_options_and_choices(tmp_path: Path) -> None:
    script = _script("fish", tmp_path)

    def complete(line: str) -> list[str]:
        run = subprocess.run(
            [_shell("fish"), "--no-config", "-c", f"source {script}; complete -C {line!r}"],
            capture_output=True,
            text=True,
            env=clean_env({"HOME": str(tmp_path)}),
        )
        assert run.returncode == 0 and run.stderr == "", run.stderr
        return [row.split("\t")[0] for row in run.stdout.splitlines()]

    assert complete("overlock sy") == ["sync"]
    assert set(complete("overlock ")) == _top_level_commands()
    assert complete("overlock kernel in") == ["install"]
    assert complete("overlock cache clean st") == ["stamps", "store"]
    assert complete("overlock --color ") == ["always", "auto", "never"]
    assert "--dry-run" in complete("overlock sync --")
    assert complete("overlock --color never lo") == ["lock"]


def test_an_options_value_is_never_taken_for_a_command(tmp_path: Path) -> None:
    """On a parser whose option value can spell a subcommand (overlock's own cannot, today)."""
    import argparse

    from overlock.cli.completion import bash_script

    parser = argparse.ArgumentParser(prog="overlock")
    parser.add_argument("--name")
    sub = parser.add_subparsers()
    sub.add_parser("install").add_argument("--user", action="store_true")
    sub.add_parser("list")
    script = tmp_path / "synthetic.bash"
    script.write_text(bash_script(parser))
    assert _bash_complete(script, "--name", "install", "li") == ["list"]
    assert _bash_complete(script, "install", "--u") == ["--user"]

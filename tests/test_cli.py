"""CLI conventions: help with examples, -q/-v, colour and progress only on a terminal."""

from __future__ import annotations

import argparse
import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

from harness.project import Run
from overlock.cli.main import build_parser
from overlock.cli.output import Output


def _subcommands(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{path} {name}".strip()
                nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                if nested:
                    yield from _subcommands(sub, full)
                else:
                    yield full, sub


def test_every_command_has_help_with_an_example_and_verbosity_flags() -> None:
    commands = dict(_subcommands(build_parser()))
    assert {"lock", "sync", "run", "activate", "rollback", "base snapshot"} <= set(commands)
    for name, sub in commands.items():
        text = sub.format_help()
        examples = re.split(r"\nexamples?:\n", text)
        assert len(examples) == 2, f"`overlock {name} --help` shows no example"
        assert f"overlock {name}" in examples[1], name
        assert "-q, --quiet" in text and "-v, --verbose" in text, name


def test_help_exits_0_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from overlock.cli.main import main

    for name in dict(_subcommands(build_parser())):
        with pytest.raises(SystemExit) as caught:
            main([*name.split(), "--help"])
        assert caught.value.code == 0
        assert "usage: overlock" in capsys.readouterr().out


def _tty() -> tuple[TextIO, int]:
    """A real terminal: the writing end of a pty, and the fd to read what was drawn."""
    leader, follower = pty.openpty()
    return open(follower, "w", encoding="utf-8"), leader


def _drawn(fd: int, complete: Callable[[str], bool]) -> str:
    """What was drawn on the terminal, read until ``complete`` says it is all there.

    A pty hands over what was written in pieces of its own choosing, fewer and later on a
    loaded machine: one read is not "everything". The deadline only bounds a broken test.
    """
    drawn = b""
    deadline = time.monotonic() + 60
    while not complete(drawn.decode(errors="replace")) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            drawn += os.read(fd, 65536)
    return drawn.decode()


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = Output()
    stream, fd = _tty()
    with stream:
        out.out = stream
        assert out.style("ok", "green") == "\033[32mok\033[0m"
        monkeypatch.setenv("NO_COLOR", "1")
        assert out.style("ok", "green") == "ok"
        monkeypatch.delenv("NO_COLOR")
        monkeypatch.setenv("TERM", "dumb")
        assert out.style("ok", "green") == "ok"
    os.close(fd)
    monkeypatch.setenv("TERM", "xterm")
    out.out = io.StringIO()  # not a terminal
    assert out.style("ok", "green") == "ok"


def test_progress_draws_on_a_terminal_and_is_silent_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    stream, fd = _tty()
    with stream:
        out = Output()
        out.err = stream
        with out.progress("installing", 2) as bar:
            bar.advance("alpha")
            bar.advance("beta")
        stream.flush()
        drawn = _drawn(fd, lambda text: "2/2 beta" in text and text.endswith("\r"))
        assert "installing 1/2 alpha" in drawn and "installing 2/2 beta" in drawn
        assert drawn.endswith("\r")  # the line is cleared when done

        quiet = Output(verbosity=-1)
        quiet.err = stream
        with quiet.progress("installing", 1) as bar:
            bar.advance("alpha")
        assert bar.done == 1
    os.close(fd)
    piped = Output()
    piped.err = io.StringIO()
    with piped.progress("installing", 1) as bar:
        bar.advance("alpha")
    assert piped.err.getvalue() == ""


def test_errors_are_a_sentence_and_a_hint_and_tracebacks_need_v(
    overlock: Callable[..., Run], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "overlay.toml"
    run = overlock("lock", "-m", str(missing))
    assert run.code == 2
    first, *rest = run.err.strip().splitlines()
    assert first.startswith("overlock: error: ") and str(missing) in first
    assert rest and rest[0].lstrip().startswith("hint:")
    assert "Traceback" not in run.err
    verbose = overlock("lock", "-v", "-m", str(missing))
    assert verbose.code == 2 and "Traceback" in verbose.err


def test_verbosity_before_or_after_the_command_counts(
    overlock: Callable[..., Run], tmp_path: Path
) -> None:
    # pip and uv users write `overlock -v lock`; the command's defaults must not reset it.
    missing = str(tmp_path / "nowhere" / "overlay.toml")
    for args in (("-v", "lock"), ("lock", "-v"), ("-v", "show"), ("-v", "-v", "check")):
        run = overlock(*args, "-m", missing)
        assert "Traceback" in run.err, args
    assert "Traceback" not in overlock("lock", "-m", missing).err
    # -q before the command quiets as -q after it does.
    assert overlock("-q", "-v", "lock", "-m", missing).err.count("Traceback") == 0


def test_quiet_silences_notes_but_not_errors(overlock: Callable[..., Run], tmp_path: Path) -> None:
    run = overlock("lock", "-q", "-m", str(tmp_path / "overlay.toml"))
    assert run.code == 2 and "overlock: error:" in run.err and run.out == ""


def test_version_is_answered_before_the_cli_loads() -> None:
    from overlock import __version__

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "overlock", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout == f"overlock {__version__}\n"
    loaded = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()]
    assert [m for m in loaded if m.startswith("overlock")] == ["overlock"]  # the package only


@pytest.mark.parametrize(
    ("argv", "env", "coloured"),
    [
        ([], {}, False),  # piped: plain
        ([], {"FORCE_COLOR": "1"}, True),  # force-color.org: even when piped
        ([], {"FORCE_COLOR": ""}, False),  # set but empty: as if unset
        ([], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins over FORCE_COLOR
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # the command line wins over both
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
        (["--color=never", "lock", "--color", "always"], {}, True),  # the command's own wins
        (["lock", "--color", "always"], {"TERM": "dumb"}, True),
        ([], {"FORCE_COLOR": "1", "TERM": "dumb"}, True),  # asked for in so many words
    ],
)
def test_color_option_and_environment(
    tmp_path: Path, argv: list[str], env: dict[str, str], coloured: bool
) -> None:
    import subprocess
    import sys

    from harness.bases import clean_env

    environ = clean_env({"TERM": "xterm"})
    for name in ("NO_COLOR", "FORCE_COLOR"):
        environ.pop(name, None)
    environ.update(env)
    if "lock" not in argv:
        argv = [*argv, "lock"]
    missing = str(tmp_path / "overlay.toml")
    overlock = str(Path(sys.executable).with_name("overlock"))
    run = subprocess.run(
        [overlock, *argv, "-m", missing], capture_output=True, text=True, env=environ
    )
    assert run.returncode == 2
    assert ("\033[" in run.stderr) is coloured, run.stderr
    assert "overlock: error:" in run.stderr.replace("\033[1;31m", "").replace("\033[0m", "")


def test_a_command_group_alone_shows_its_own_help(overlock: Callable[..., Run]) -> None:
    run = overlock("base")
    assert run.code == 2
    assert run.err.startswith("usage: overlock base") and "snapshot" in run.err, run.err

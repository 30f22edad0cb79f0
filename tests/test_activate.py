"""Activation: the evidence behind the sitecustomize bootstrap, and the bootstrap itself.

The first tests record why the alternatives were rejected (see activate.py's docstring); if
a future Python changes that behaviour, they fail and the decision should be revisited.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase, clean_env, other_pythons
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel
from overlock.base.env import BaseEnv, probe
from overlock.errors import BadInputError
from overlock.prefix.activate import ACTIVE_VAR, activate_script, default_shell, overlay_environ
from overlock.sync.engine import sync
from test_sync import FileFetcher, make_lock


@pytest.fixture
def overlay(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> tuple[Base, BaseEnv, Path]:
    """A venv base with alpha 1.0; an overlay with alpha 2.0, a .pth that adds a dir, and
    a console script ``alpha-tool``."""
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    env = probe(base.prefix)
    extra = tmp_path / "pth-target"
    extra.mkdir()
    (extra / "from_pth.py").write_text("VALUE = 'pth processed'\n")
    lock = make_lock(
        make_wheel(
            name="alpha",
            version="2.0",
            pth={"alpha_extra.pth": f"{extra}\n"},
            entry_points={"console_scripts": {TOOL: "alpha:main"}},
        ),
    )
    prefix = tmp_path / "ov"
    sync(lock, env, prefix, fetch=FileFetcher())
    return base, env, prefix


def _run(python: str | Path, code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=env, check=False
    )


# -- evidence for the decision -----------------------------------------------------------


def test_pythonuserbase_is_ignored_by_a_venv_base(overlay: tuple[Base, BaseEnv, Path]) -> None:
    _base, env, prefix = overlay
    environ = clean_env({"PYTHONUSERBASE": str(prefix)})
    environ.pop("PYTHONNOUSERSITE")
    out = _run(
        env.python, "import site, alpha; print(site.ENABLE_USER_SITE, alpha.__version__)", environ
    )
    assert out.stdout.split() == ["False", "1.0"], out.stderr


def test_plain_pythonpath_skips_pth_and_leaks_into_other_versions(
    overlay: tuple[Base, BaseEnv, Path],
) -> None:
    _base, env, prefix = overlay
    site = str(prefix / env.scheme["purelib"])
    environ = clean_env({"PYTHONPATH": site})
    out = _run(env.python, "import alpha, from_pth", environ)
    assert "No module named 'from_pth'" in out.stderr
    others = other_pythons()
    if not others:
        pytest.skip("no interpreter of another version available")
    other = next(iter(others.values()))
    leaked = _run(other, "import alpha; print(alpha.__version__)", environ)
    assert leaked.stdout == "2.0\n"


# -- the bootstrap ------------------------------------------------------------------------


def test_bootstrap_shadows_base_and_processes_pth(overlay: tuple[Base, BaseEnv, Path]) -> None:
    _base, env, prefix = overlay
    environ = overlay_environ(env, prefix, clean_env())
    code = (
        "import sys, alpha, from_pth, importlib.metadata as m;"
        "print(alpha.__version__, m.version('alpha'), from_pth.VALUE);"
        "print(any(p.endswith('.overlock/boot') for p in sys.path))"
    )
    out = _run(env.python, code, environ)
    assert out.stdout.splitlines() == ["2.0 2.0 pth processed", "False"], out.stderr
    # -s (no user site) does not switch the overlay off.
    out = subprocess.run(
        [env.python, "-s", "-c", "import alpha; print(alpha.__version__)"],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )
    assert out.stdout == "2.0\n", out.stderr


def test_other_python_versions_are_untouched(overlay: tuple[Base, BaseEnv, Path]) -> None:
    _base, env, prefix = overlay
    environ = overlay_environ(env, prefix, clean_env())
    others = {v: p for v, p in other_pythons().items() if v != env.py_short}
    if not others:
        pytest.skip("no interpreter of another version available")
    for version, python in others.items():
        code = (
            "import sys\n"
            "try:\n    import alpha\n    print('imported', alpha.__file__)\n"
            "except ImportError:\n    print('clean')\n"
            f"print([p for p in sys.path if p.startswith({str(prefix)!r})])\n"
        )
        out = _run(python, code, environ)
        assert out.stdout.splitlines() == ["clean", "[]"], (version, out.stdout, out.stderr)


def test_same_version_other_environment_is_untouched(
    overlay: tuple[Base, BaseEnv, Path], make_base: MakeBase
) -> None:
    _base, env, prefix = overlay
    sibling = make_base("venv")
    environ = overlay_environ(env, prefix, clean_env())
    out = _run(sibling.python, "import alpha", environ)
    assert "No module named 'alpha'" in out.stderr


def test_base_sitecustomize_is_still_loaded(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    base = make_base(
        "venv",
        wheels=[
            make_wheel(
                name="sitecustom",
                version="1.0",
                files={"sitecustomize.py": "import os\nos.environ['BASE_SC'] = '1'\n"},
            )
        ],
    )
    env = probe(base.prefix)
    prefix = tmp_path / "ov"
    sync(make_lock(make_wheel(name="alpha", version="2.0")), env, prefix, fetch=FileFetcher())
    environ = overlay_environ(env, prefix, clean_env())
    out = _run(
        env.python,
        "import os, alpha, sitecustomize as s;"
        "print(os.environ.get('BASE_SC'), alpha.__version__, s.__file__)",
        environ,
    )
    fields = out.stdout.split()
    assert fields[:2] == ["1", "2.0"], out.stderr
    assert fields[2].startswith(str(base.prefix))


def test_overlay_environ_does_not_stack_and_has_no_empty_entries(
    overlay: tuple[Base, BaseEnv, Path], tmp_path: Path
) -> None:
    _base, env, prefix = overlay
    first = overlay_environ(env, prefix, {"PATH": "/usr/bin:/bin"})
    assert first["PYTHONPATH"] == str(prefix / ".overlock" / "boot")
    assert first["PATH"] == f"{prefix / 'bin'}:/usr/bin:/bin"
    again = overlay_environ(env, tmp_path / "other", first)
    assert again["PATH"] == f"{tmp_path / 'other' / 'bin'}:/usr/bin:/bin"
    assert again["PYTHONPATH"] == str(tmp_path / "other" / ".overlock" / "boot")
    assert again["OVERLOCK_ACTIVE"] == str(tmp_path / "other")


# -- activation in real shells ------------------------------------------------------------
#
# Each shell runs the code the way the README tells its users to, from a starting state that
# has a PATH entry with a space and a PYTHONPATH that is unset, empty or holds spaces; the
# environment is dumped (env -0) before, while active, after activating a second time (the
# other documented way), and after deactivate_overlay. Everything the shell prints is
# compared line for line, so leftovers and stray output fail the test, and stderr must be
# empty.

TOOL = "alpha-tool"


@dataclass(frozen=True)
class Shell:
    """How one shell language does each step; ``{f}`` is the quoted path of a file."""

    activate: str  # the README's way
    activate_again: str  # the other way users have
    found: str  # print the path of TOOL, or "none"
    gone: str  # print "gone" if deactivate_overlay no longer exists
    leftovers: str  # print any shell variable or function the script left behind


_POSIX = Shell(
    activate='eval "$(cat {f})"',
    activate_again=". {f}",
    found=f"command -v {TOOL} || echo none",
    gone="command -v deactivate_overlay >/dev/null || echo gone",
    leftovers="set | grep -i '^_overlock' || true",
)
LANGUAGES = {
    "bash": _POSIX,
    "zsh": _POSIX,
    "sh": _POSIX,
    "fish": Shell(
        activate="cat {f} | source",
        activate_again="source {f}",
        found=f"command -v {TOOL}; or echo none",
        gone="functions -q deactivate_overlay; or echo gone",
        leftovers="set -n | grep -i '^_overlock'; or true",
    ),
    "tcsh": Shell(
        activate='eval "`cat {f}`"',
        activate_again="source {f}",
        found=f'if ( "`where {TOOL}`" == "" ) echo none ; where {TOOL}',
        gone='if ( "`alias deactivate_overlay`" == "" ) echo gone',
        leftovers="set | grep -i '^_overlock'",
    ),
}
LANGUAGES["csh"] = LANGUAGES["tcsh"]
# The command line that runs a script non-interactively, without the user's rc files.
COMMANDS = {
    "bash": ["bash", "--norc", "-c"],
    "zsh": ["zsh", "-f", "-c"],
    "sh": ["dash", "-c"],
    "fish": ["fish", "-c"],  # its config is under the isolated XDG_CONFIG_HOME
    "tcsh": ["tcsh", "-f", "-c"],
    "csh": ["csh", "-f", "-c"],
}
WATCHED = ("PATH", "PYTHONPATH", ACTIVE_VAR)
START = {
    "unset": {},
    "empty": {"PYTHONPATH": ""},
    "spaces": {"PYTHONPATH": "/a dir/with space:/another one", ACTIVE_VAR: "/inherited overlay"},
}


def _shell_command(shell: str) -> list[str]:
    """The argv prefix for ``shell``; skips when it is not installed (CI installs them all)."""
    argv = COMMANDS[shell]
    found = shutil.which(argv[0])
    if found is None:
        if os.environ.get("CI"):  # .ci/run installs every shell; a skip there hides a gap
            pytest.fail(f"{argv[0]} is not installed, and CI must test every shell")
        pytest.skip(f"{argv[0]} is not installed here; .ci/run installs it so CI runs this")
    if shell == "csh" and not Path(found).resolve().name.startswith("tcsh"):
        pytest.skip(f"{found} is not tcsh; only tcsh's csh is supported")
    return [found, *argv[1:]]


@dataclass
class Session:
    before: dict[str, str]
    active: dict[str, str]
    again: dict[str, str]
    after: dict[str, str]
    lines: list[str]  # stdout, in order


def _environ(dump: Path) -> dict[str, str]:
    entries = [e for e in dump.read_bytes().decode().split("\0") if e]
    return dict(e.split("=", 1) for e in entries)


def _session(
    shell: str,
    script: str,
    start: dict[str, str],
    tmp_path: Path,
    base_bin: Path,
    *,
    use: bool = True,
) -> Session:
    """Run one shell through activate, python, activate again, deactivate; see the header.

    ``use=False`` leaves out running python and looking up the console script.
    """
    argv = _shell_command(shell)
    lang = LANGUAGES[shell]
    work = tmp_path / f"{shell} session"
    work.mkdir()
    (work / "dir with space").mkdir()
    code_file = work / "activate.code"
    code_file.write_text(script)
    q = shlex.quote
    f = q(str(code_file))
    python = (
        "python -c 'import alpha, from_pth, json;"
        ' print("PY", json.dumps([alpha.__version__, from_pth.VALUE]))\''
    )

    def dump(name: str) -> str:
        return f"env -0 > {q(str(work / name))}"

    body = [
        dump("before"),
        lang.activate.format(f=f),
        dump("active"),
        *([python, lang.found] if use else []),
        lang.activate_again.format(f=f),
        dump("again"),
        *([python] if use else []),
        "deactivate_overlay",
        dump("after"),
        *([lang.found] if use else []),
        lang.gone,
        lang.leftovers,
    ]
    environ = clean_env(start)
    for rc_variable in ("BASH_ENV", "ENV"):
        environ.pop(rc_variable, None)
    # The base's bin holds `python` (what users type); the system dirs hold env, cat, grep.
    system = os.environ.get("PATH", os.defpath)
    environ["PATH"] = f"{work / 'dir with space'}:{base_bin}:{system}"
    proc = subprocess.run(
        [*argv, "\n".join(body) + "\n"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=work,
        check=False,
    )
    assert proc.stderr == "", proc.stderr
    return Session(
        before=_environ(work / "before"),
        active=_environ(work / "active"),
        again=_environ(work / "again"),
        after=_environ(work / "after"),
        lines=proc.stdout.splitlines(),
    )


def _check_session(session: Session, prefix: Path, *, used: bool = True) -> None:
    before, active = session.before, session.active
    bin_dir, boot = str(prefix / "bin"), str(prefix / ".overlock" / "boot")
    assert active["PATH"] == f"{bin_dir}:{before['PATH']}"
    old_pythonpath = before.get("PYTHONPATH")
    assert active["PYTHONPATH"] == (f"{boot}:{old_pythonpath}" if old_pythonpath else boot)
    assert active[ACTIVE_VAR] == str(prefix)
    # Activating again (the other way) replaces the first activation: nothing stacks.
    assert session.again == active
    # Deactivating restores exactly, "unset" included, and leaves no state in the environment.
    assert {k: session.after.get(k) for k in WATCHED} == {k: before.get(k) for k in WATCHED}
    assert not [k for k in session.after if k.lower().startswith("_overlock")]
    if not used:
        assert session.lines == ["gone"]
        return
    tool = str(prefix / "bin" / TOOL)
    assert session.lines == [
        'PY ["2.0", "pth processed"]',
        tool,
        'PY ["2.0", "pth processed"]',
        "none",
        "gone",
    ], session.lines


@pytest.mark.parametrize("start", list(START))
@pytest.mark.parametrize("shell", list(COMMANDS))
def test_activate_and_deactivate_in_a_real_shell(
    overlay: tuple[Base, BaseEnv, Path], tmp_path: Path, shell: str, start: str
) -> None:
    base, env, prefix = overlay
    script = activate_script(shell, env, prefix)
    session = _session(shell, script, START[start], tmp_path, base.python.parent)
    _check_session(session, prefix)


@pytest.mark.parametrize("shell", ["fish", "tcsh"])
def test_cli_activate_output_works_verbatim_and_defaults_to_the_login_shell(
    overlay: tuple[Base, BaseEnv, Path],
    overlock: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shell: str,
) -> None:
    base, env, prefix = overlay
    manifest = write_manifest(tmp_path / "project", base, ["alpha"], prefix=str(prefix))
    monkeypatch.setenv("SHELL", f"/usr/bin/{shell}")
    printed = overlock("activate", "-m", str(manifest))
    assert printed.code == 0, printed.err
    assert printed.out == activate_script(shell, env, prefix)
    session = _session(shell, printed.out, START["spaces"], tmp_path, base.python.parent)
    _check_session(session, prefix)
    # A login shell overlock does not know gets POSIX code, not an error.
    monkeypatch.setenv("SHELL", "/usr/bin/xonsh")
    assert overlock("activate", "-m", str(manifest)).out == activate_script("bash", env, prefix)


@pytest.mark.parametrize(
    ("login_shell", "expected"),
    [
        ("/bin/zsh", "zsh"),
        ("/usr/bin/fish", "fish"),
        ("-tcsh", "tcsh"),
        ("/bin/csh", "csh"),
        ("/bin/dash", "sh"),
        ("/bin/sh", "sh"),
        ("/usr/local/bin/bash", "bash"),
        ("/usr/bin/xonsh", "bash"),
        ("", "bash"),
        (None, "bash"),
    ],
)
def test_default_shell_is_the_login_shell_when_known(
    login_shell: str | None, expected: str
) -> None:
    environ = {} if login_shell is None else {"SHELL": login_shell}
    assert default_shell(environ) == expected


@pytest.mark.parametrize("shell", list(COMMANDS))
def test_prefix_with_quotes_dollar_and_bang_survives_every_shell(
    overlay: tuple[Base, BaseEnv, Path], tmp_path: Path, shell: str
) -> None:
    # Only the environment is checked: nothing is synced at this prefix.
    base, env, _prefix = overlay
    odd = tmp_path / """it's "odd" $HOME !1 \\ x"""
    script = activate_script(shell, env, odd)
    session = _session(shell, script, START["spaces"], tmp_path, base.python.parent, use=False)
    _check_session(session, odd, used=False)


def test_unknown_shell_is_bad_input(overlay: tuple[Base, BaseEnv, Path]) -> None:
    _base, env, prefix = overlay
    with pytest.raises(BadInputError):
        activate_script("powershell", env, prefix)


@pytest.mark.parametrize("shell", list(COMMANDS))
@pytest.mark.parametrize("control", ["\n", "\r", "\x00", "\x1b"])
def test_prefix_with_a_control_character_is_refused(
    overlay: tuple[Base, BaseEnv, Path], tmp_path: Path, shell: str, control: str
) -> None:
    # A newline would end the script's first line (a comment) and run the rest.
    _base, env, _prefix = overlay
    marker = tmp_path / "ran"
    hostile = Path(f"/tmp/x{control}touch {marker} #")
    with pytest.raises(BadInputError, match="control character"):
        activate_script(shell, env, hostile)


@pytest.mark.parametrize("shell", ["bash", "fish"])
def test_manifest_prefix_with_a_newline_is_refused_before_any_code_is_printed(
    overlay: tuple[Base, BaseEnv, Path],
    overlock: Callable[..., Run],
    tmp_path: Path,
    shell: str,
) -> None:
    base, _env, _prefix = overlay
    marker = tmp_path / "ran"
    manifest = write_manifest(tmp_path / "project", base, ["alpha"], prefix="/tmp/x")
    text = manifest.read_text().replace('prefix = "/tmp/x"', f'prefix = "/tmp/x\\ntouch {marker}"')
    manifest.write_text(text)
    printed = overlock("activate", "--shell", shell, "-m", str(manifest))
    assert printed.code == 2 and printed.out == ""
    assert "[overlay] prefix" in printed.err and "control character" in printed.err
    assert not marker.exists()

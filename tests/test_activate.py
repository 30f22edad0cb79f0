"""Activation: the evidence behind the sitecustomize bootstrap, and the bootstrap itself.

The first tests record why the alternatives were rejected (see activate.py's docstring); if
a future Python changes that behaviour, they fail and the decision should be revisited.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase, clean_env, other_pythons
from harness.wheels import MakeWheel
from overlock.activate import activate_script, overlay_environ
from overlock.base import BaseEnv, probe
from overlock.errors import BadInputError
from overlock.sync import sync
from test_sync import FileFetcher, make_lock


@pytest.fixture
def overlay(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> tuple[Base, BaseEnv, Path]:
    """A venv base with alpha 1.0; an overlay with alpha 2.0 and a .pth that adds a dir."""
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    env = probe(base.prefix)
    extra = tmp_path / "pth-target"
    extra.mkdir()
    (extra / "from_pth.py").write_text("VALUE = 'pth processed'\n")
    lock = make_lock(
        make_wheel(name="alpha", version="2.0", pth={"alpha_extra.pth": f"{extra}\n"}),
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


@pytest.mark.parametrize("pythonpath", [None, "", "/some/where"])
def test_bash_activate_and_deactivate(
    overlay: tuple[Base, BaseEnv, Path], tmp_path: Path, pythonpath: str | None
) -> None:
    _base, env, prefix = overlay
    script = tmp_path / "activate.sh"
    script.write_text(activate_script("bash", env, prefix))
    py = shlex.quote(env.python)
    body = (
        'before="${PATH}|${PYTHONPATH-unset}|${OVERLOCK_ACTIVE-unset}"\n'
        f'eval "$(cat {shlex.quote(str(script))})"\n'
        f"{py} -c 'import alpha; print(alpha.__version__)'\n"
        'command -v tool >/dev/null || echo "bin first: $(echo "$PATH" | cut -d: -f1)"\n'
        "deactivate_overlay\n"
        'after="${PATH}|${PYTHONPATH-unset}|${OVERLOCK_ACTIVE-unset}"\n'
        '[ "$before" = "$after" ] && echo restored || echo "differs: $before vs $after"\n'
        "type deactivate_overlay >/dev/null 2>&1 && echo still-defined || echo gone\n"
    )
    environ = clean_env()
    if pythonpath is not None:
        environ["PYTHONPATH"] = pythonpath
    out = subprocess.run(
        ["bash", "-c", body], capture_output=True, text=True, env=environ, check=False
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "2.0", out.stderr
    assert lines[1] == f"bin first: {prefix / 'bin'}"
    assert lines[2:] == ["restored", "gone"], out.stdout


def test_activate_script_for_other_shells_and_unknown(overlay: tuple[Base, BaseEnv, Path]) -> None:
    _base, env, prefix = overlay
    for shell in ("zsh", "fish", "tcsh"):
        text = activate_script(shell, env, prefix)
        assert "deactivate_overlay" in text and str(prefix / ".overlock" / "boot") in text
    with pytest.raises(BadInputError):
        activate_script("powershell", env, prefix)

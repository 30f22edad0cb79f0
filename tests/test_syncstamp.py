"""The sync stamp: a plain sync with nothing to do is answered without loading the lock,
and anything that could change the answer sends it back to the full sync."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness.bases import MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.locations import MANIFEST_FILENAME
from overlock.manifest.model import MANIFEST_FILENAME as MANIFEST_MODULE_FILENAME
from overlock.sync.stamp import quick_sync


def _quick(*argv: str) -> tuple[int | None, str]:
    out = io.StringIO()
    return quick_sync(list(argv), out=out), out.getvalue()


def test_stamp_answers_a_noop_sync_until_anything_changes(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    overlock: Callable[..., Run],
    tmp_path: Path,
) -> None:
    base = make_base("venv")
    index.add_spec(WheelSpec(name="alpha", version="1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["alpha"], index=index)
    m = str(manifest)
    prefix = tmp_path / "p" / "overlay" / base.prefix.name
    assert overlock("lock", "-m", m).code == 0
    assert _quick("sync", "-m", m) == (None, "")  # no stamp yet

    assert overlock("sync", "-m", m).code == 0  # a full sync records the stamp
    assert _quick("sync", "-m", m) == (0, f"{prefix} already holds exactly the lock\n")
    assert _quick("sync", "-q", "--no-compile", f"--manifest={m}") == (0, "")
    # The same answer from a real process, which never imports the CLI for it.
    code = "import sys, runpy; sys.argv = ['overlock', 'sync', '-m', sys.argv[1]];"
    code += " runpy.run_module('overlock', run_name='__main__')"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, m], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout == f"{prefix} already holds exactly the lock\n"
    assert "overlock.cli" not in proc.stderr and "overlock.lock" not in proc.stderr
    # Nor json (with re and enum), hashlib or typing: a third of a no-op sync's time.
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()}
    assert imported.isdisjoint({"json", "re", "enum", "hashlib", "typing"}), imported

    # Anything but a plain sync goes to the CLI.
    for extra in ("--force", "--dry-run", "--json", "-v", "--no-build"):
        assert _quick("sync", "-m", m, extra)[0] is None, extra
    assert _quick("lock", "-m", m)[0] is None

    # A touched lock: the full sync runs (and records again).
    lock = manifest.parent / "pylock.overlay.toml"
    os.utime(lock, ns=(lock.stat().st_atime_ns, lock.stat().st_mtime_ns + 1))
    assert _quick("sync", "-m", m)[0] is None
    assert "already holds exactly the lock" in overlock("sync", "-m", m).out
    assert _quick("sync", "-m", m)[0] == 0

    # The base changed: the full sync runs, and refuses the lock that is now stale.
    base.install(make_wheel(name="gamma", version="1.0"))
    assert _quick("sync", "-m", m)[0] is None
    assert overlock("sync", "-m", m).code == 1

    # Back to a current lock; then the prefix is pointed elsewhere behind overlock's back.
    assert overlock("lock", "-m", m).code == 0
    assert overlock("sync", "-m", m).code == 0
    assert _quick("sync", "-m", m)[0] == 0
    target = prefix.readlink()
    prefix.unlink()
    prefix.symlink_to(target.parent)
    assert _quick("sync", "-m", m)[0] is None


def test_default_manifest_name_is_the_manifest_modules() -> None:
    assert MANIFEST_FILENAME == MANIFEST_MODULE_FILENAME == "overlay.toml"

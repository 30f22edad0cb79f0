"""install_wheel: one read of the wheel, checked against the lock's hash and its own RECORD."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from harness.bases import MakeBase
from harness.wheels import MakeWheel
from overlock.base import probe
from overlock.errors import HashMismatchError, SyncError
from overlock.install import install_wheel


def _rewritten(wheel: Path, out: Path, change: dict[str, bytes | None]) -> Path:
    """``wheel`` with members replaced (bytes) or dropped (None), RECORD left as it was."""
    target = out / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            if item.filename in change:
                data = change[item.filename]
                if data is not None:
                    dst.writestr(item.filename, data)
            else:
                dst.writestr(item, src.read(item))
        for name, data in change.items():
            if data is not None and name not in src.namelist():
                dst.writestr(name, data)
    return target


def test_installs_exactly_the_checked_bytes(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(make_base("venv").prefix)
    script = b"#!python\nprint('hello')\n"
    wheel = make_wheel(
        name="alpha",
        version="2.0",
        files={"alpha/__init__.py": "x = 2\n", "alpha-2.0.data/scripts/hello": script},
    )
    target = tmp_path / "t"
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    files = install_wheel(wheel, target, env, sha256=sha)
    site = env.scheme["purelib"]
    assert f"{site}/alpha/__init__.py" in files and f"{site}/alpha-2.0.dist-info/RECORD" in files
    assert files == sorted(files) and all((target / f).is_file() for f in files)
    hello = target / env.scheme["scripts"] / "hello"
    assert hello.read_bytes() == f"#!{env.python}\nprint('hello')\n".encode()
    record = (target / site / "alpha-2.0.dist-info" / "RECORD").read_text()
    assert "alpha/__init__.py,sha256=" in record and "INSTALLER" in record


def test_refuses_bytes_other_than_the_lock_says_before_writing(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(make_base("venv").prefix)
    wheel = make_wheel(name="alpha", version="2.0")
    with pytest.raises(HashMismatchError, match=r"but the lock says 0{64}"):
        install_wheel(wheel, tmp_path / "t", env, sha256="0" * 64)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alpha/__init__.py": b"x = 'evil'\n"}, "does not match the hash or size"),
        ({"alpha/extra.py": b"y = 1\n"}, "alpha/extra.py is not mentioned in its RECORD"),
        ({"alpha-2.0.dist-info/RECORD": b"alpha/__init__.py,,\n"}, "gives no hash or size"),
    ],
)
def test_a_wheel_contradicting_its_record_is_refused(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    tmp_path: Path,
    change: dict[str, bytes | None],
    message: str,
) -> None:
    env = probe(make_base("venv").prefix)
    good = make_wheel(name="alpha", version="2.0", files={"alpha/__init__.py": "x = 2\n"})
    (tmp_path / "bad").mkdir()
    bad = _rewritten(good, tmp_path / "bad", change)
    with pytest.raises(
        SyncError, match=f"alpha-2.0-py3-none-any.whl is not a valid wheel: .*{message}"
    ):
        install_wheel(bad, tmp_path / "t", env)

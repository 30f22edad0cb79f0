"""install_wheel: one read of the wheel, checked against the lock's hash and its own RECORD."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from harness.bases import MakeBase
from harness.wheels import MakeWheel, resigned
from overlock.base.env import probe
from overlock.errors import HashMismatchError, SyncError
from overlock.sync.install import install_wheel


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


# -- wheels that break the wheel spec -------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha224"])
def test_a_record_hashed_weaker_than_sha256_is_refused(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path, algorithm: str
) -> None:
    env = probe(make_base("venv").prefix)
    wheel = resigned(
        make_wheel(name="weak", version="1.0"), tmp_path / "w", {}, algorithm=algorithm
    )
    with pytest.raises(SyncError, match=f"RECORD hashes .* with '{algorithm}'"):
        install_wheel(wheel, tmp_path / "t", env)


def test_a_record_hashed_with_sha512_is_accepted(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(make_base("venv").prefix)
    wheel = resigned(
        make_wheel(name="strong", version="1.0"), tmp_path / "w", {}, algorithm="sha512"
    )
    files = install_wheel(wheel, tmp_path / "t", env)
    assert f"{env.scheme['purelib']}/strong/__init__.py" in files


@pytest.mark.parametrize(
    ("field", "value"), [("Name", "notimpostor"), ("Version", "9.9"), ("Version", "x!y")]
)
def test_metadata_that_contradicts_the_file_name_is_refused(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path, field: str, value: str
) -> None:
    env = probe(make_base("venv").prefix)
    original = make_wheel(name="impostor", version="1.0")
    with zipfile.ZipFile(original) as zf:
        metadata = zf.read("impostor-1.0.dist-info/METADATA").decode()
    lines = [
        f"{field}: {value}" if ln.startswith(f"{field}:") else ln for ln in metadata.split("\n")
    ]
    wheel = resigned(
        original, tmp_path / "w", {"impostor-1.0.dist-info/METADATA": "\n".join(lines).encode()}
    )
    with pytest.raises(SyncError, match=f"its METADATA .*{value}"):
        install_wheel(wheel, tmp_path / "t", env)
    assert not (tmp_path / "t" / env.scheme["purelib"] / "impostor").exists()


@pytest.mark.parametrize(
    "member",
    [
        "sneaky-1.0.data/data/.overlock/state.json",
        "sneaky-1.0.data/data/.overlock/boot/sitecustomize.py",
        "sneaky-1.0.data/data/.overlock",
    ],
)
def test_a_wheel_writing_into_overlocks_own_state_is_refused(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path, member: str
) -> None:
    env = probe(make_base("venv").prefix)
    wheel = resigned(make_wheel(name="sneaky", version="1.0"), tmp_path / "w", {member: b"{}"})
    target = tmp_path / "t"
    with pytest.raises(SyncError, match=r"overlock's own state \(\.overlock/\)"):
        install_wheel(wheel, target, env)
    assert not (target / ".overlock").exists()

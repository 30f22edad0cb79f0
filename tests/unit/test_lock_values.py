"""Locks round-trip through PEP 751 text, from resolver output made on values."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import tomlkit
from packaging.pylock import Pylock

from overlock.errors import StaleLockError
from overlock.lock.make import lock_overlay
from overlock.lock.pylock import LOCK_HASH_PREFIX, Lock, lock_hash, same_lock

from .values import MemorySource, dist, make_base, make_manifest

pytestmark = pytest.mark.unit


def _lock() -> Lock:
    base = make_base(
        dist("hdfio", "2.1.0"),
        dist("scanlib", "1.4.0", "hdfio<3"),
        module_path=["/sw/mod/1.0"],
    )
    source = (
        MemorySource()
        .add("hdfio", "3.0.0", requires_python=">=3.9")
        .add("scanlib", "1.5.0", "hdfio>=2")
    )
    manifest = make_manifest("hdfio>=3")
    lock, _outcome = lock_overlay(manifest, base, source)
    return lock


def test_a_lock_survives_its_own_text() -> None:
    lock = _lock()
    text = lock.dumps()
    again = Lock.loads(text)
    assert again == lock
    assert again.dumps() == text


def test_the_text_is_a_valid_pep_751_lock() -> None:
    data = tomlkit.parse(_lock().dumps()).unwrap()
    pylock = Pylock.from_dict(data)
    assert [p.name for p in pylock.packages] == ["hdfio", "scanlib"]
    assert str(pylock.requires_python) == "==3.11.*"
    # The standard places (PEP 751), not overlock's tool table.
    [environment] = pylock.environments or []
    assert environment.evaluate(dict(make_base().markers))
    assert not environment.evaluate({**make_base().markers, "sys_platform": "win32"})
    hdfio = data["packages"][0]
    assert hdfio["requires-python"] == ">=3.9"
    assert "requires-python" not in hdfio["tool"]["overlock"]
    base = data["tool"]["overlock"]["base"]
    assert base["module-path"] == ["/sw/mod/1.0"]
    [scanlib] = [p for p in _lock().packages if p.name == "scanlib"]
    assert (scanlib.version, scanlib.shadows, scanlib.kept_for) == (
        "1.5.0",
        "1.4.0",
        ("hdfio 3.0.0",),
    )


@pytest.mark.parametrize("listed", [(), ("a==1",), ("numpy==1.24.4", "café==1.0", 'q"x==2')])
def test_the_base_list_is_written_as_tomlkit_writes_a_multiline_array(
    listed: tuple[str, ...],
) -> None:
    lock = dataclasses.replace(_lock(), base_distributions=listed)
    array = tomlkit.array()
    array.extend(sorted(listed))
    expected = tomlkit.dumps({"distributions": array.multiline(True)}).split(" = ", 1)[1]
    text = lock.dumps()
    assert "distributions = " + expected in text
    assert Lock.loads(text).base_distributions == tuple(sorted(listed))


def test_the_lock_hash_follows_every_written_fact_without_rendering_toml() -> None:
    lock = _lock()
    again = Lock.loads(lock.dumps())
    assert lock_hash(again) == lock_hash(lock)
    assert lock_hash(lock).startswith(LOCK_HASH_PREFIX)
    # Anything the file would say differently changes the hash; the order of the base's
    # list does not (the file sorts it).
    changed = [
        dataclasses.replace(lock, manifest_hash="sha256:other"),
        dataclasses.replace(lock, base_distributions=("a==1",)),
        dataclasses.replace(lock, base_distributions=()),
        dataclasses.replace(lock, base_distributions=None),
        dataclasses.replace(lock, packages=lock.packages[:1]),
    ]
    hashes = {lock_hash(lock), *(lock_hash(c) for c in changed)}
    assert len(hashes) == len(changed) + 1
    listed = dataclasses.replace(lock, base_distributions=("b==1", "a==1"))
    assert lock_hash(listed) == lock_hash(
        dataclasses.replace(listed, base_distributions=("a==1", "b==1"))
    )


def test_a_lock_hash_recorded_by_an_earlier_overlock_is_still_recognised() -> None:
    lock, other = _lock(), dataclasses.replace(_lock(), manifest_hash="sha256:other")
    # What generations synced before the hash changed hold: a digest of the TOML text.
    legacy = "sha256:" + hashlib.sha256(lock.dumps().encode()).hexdigest()
    assert same_lock(legacy, lock)
    assert not same_lock(legacy, other)
    assert same_lock(lock_hash(lock), lock)
    assert not same_lock(lock_hash(other), lock)


def test_reading_a_lock_takes_the_standard_toml_parser() -> None:
    text = _lock().dumps()
    with pytest.raises(StaleLockError, match="not valid TOML"):
        Lock.loads(text.replace("[[packages]]", "[[packages]", 1))
    # A key twice: tomllib refuses it (tomlkit's document would keep the last one).
    with pytest.raises(StaleLockError, match="not valid TOML"):
        Lock.loads(text.replace("lock-version = ", 'lock-version = "1.0"\nlock-version = ', 1))

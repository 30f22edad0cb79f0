"""``[overlay] hide`` on values: the resolver's view, the lock's record, hostile lock text."""

from __future__ import annotations

from dataclasses import replace

import pytest
from packaging.utils import canonicalize_name

from overlock.base.hiding import absent, hide
from overlock.errors import StaleLockError
from overlock.lock.make import lock_overlay, lock_status
from overlock.lock.pylock import Lock, LockedDirectory, LockedPackage
from overlock.manifest.model import Manifest

from .values import MemorySource, dist, make_base, make_manifest

pytestmark = pytest.mark.unit


def _manifest(*requires: str, hidden: tuple[str, ...] = ("alib",)) -> Manifest:
    return make_manifest(*requires, hide=tuple(canonicalize_name(n) for n in hidden))


def test_the_view_withholds_without_changing_what_the_base_is() -> None:
    base = make_base(dist("alib", "1.0"), dist("blib", "1.0", "alib<3"))
    seen = hide(base, [canonicalize_name("alib"), canonicalize_name("nope")])
    assert [d.name for d in seen.distributions] == ["blib"]
    assert [d.name for d in seen.withheld] == ["alib"]
    assert seen.fingerprint() == base.fingerprint()  # hiding is not drift
    assert absent(seen, [canonicalize_name("alib"), canonicalize_name("nope")]) == ["nope"]


def test_a_request_for_a_hidden_name_comes_from_the_index_within_the_base_caps() -> None:
    manifest = _manifest("alib>=2")
    base = hide(make_base(dist("alib", "1.0"), dist("blib", "1.0", "alib<3")), manifest.hide)
    source = MemorySource().add("alib", "2.0").add("alib", "3.0")
    lock, _ = lock_overlay(manifest, base, source)
    assert [(p.name, p.version, p.shadows) for p in lock.packages] == [("alib", "2.0", None)]
    assert (lock.hide, lock.hidden_breakage) == (("alib",), ())

    lock, _ = lock_overlay(_manifest(), base, source)
    assert lock.packages == ()
    assert lock.hidden_breakage == ("base blib 1.0 requires alib<3, which overlay.toml hides",)
    assert "blib" not in " ".join(lock.preexisting)  # reported as hidden, not as pre-broken


def test_the_lock_records_hide_and_a_change_to_it_is_named() -> None:
    manifest = _manifest()
    base = hide(make_base(dist("alib", "1.0"), dist("clib", "1.0")), manifest.hide)
    lock, _ = lock_overlay(manifest, base, MemorySource())
    again = Lock.loads(lock.dumps())
    assert again == lock and again.hide == ("alib",)
    changed = _manifest(hidden=("alib", "clib"))
    status = lock_status(changed, hide(base, changed.hide), again)
    assert not status.current
    assert status.problems[0] == ("overlay.toml's hide changed since the lock was written (+clib)")


@pytest.mark.parametrize("bad", ['"../x"', '"a\\u001bb"', "3"])
def test_a_hostile_hide_entry_in_a_lock_is_refused(bad: str) -> None:
    manifest = _manifest()
    base = hide(make_base(dist("alib", "1.0")), manifest.hide)
    lock, _ = lock_overlay(manifest, base, MemorySource())
    text = lock.dumps().replace('hide = ["alib"]', f"hide = [{bad}]")
    assert text != lock.dumps()
    with pytest.raises(StaleLockError, match=r"tool\.overlock\.hide"):
        Lock.loads(text)


def test_declared_requirements_of_a_source_survive_the_lock_text() -> None:
    lock, _ = lock_overlay(_manifest(hidden=()), make_base(), MemorySource())
    assert lock.packages == ()
    pkg = LockedPackage(
        name=canonicalize_name("mytool"),
        version="0.3",
        directory=LockedDirectory(path="../src/mytool"),
        metadata_hash="sha256:" + "0" * 64,
        declared_requires=(),
    )
    with_source = replace(lock, packages=(pkg,))
    again = Lock.loads(with_source.dumps())
    assert again.packages[0].declared_requires == ()  # "none" is kept apart from "unknown"
    pkg = replace(pkg, declared_requires=("hdfio>=2", 'x; python_version < "3.8"'))
    again = Lock.loads(replace(lock, packages=(pkg,)).dumps())
    assert again.packages[0].declared_requires == pkg.declared_requires

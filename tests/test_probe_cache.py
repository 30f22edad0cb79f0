# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""A saved probe is reused only while the base is provably unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overlock.base import probe_cache
from overlock.base.env import BaseEnv, probe


def _forbid_probing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> BaseEnv:
        raise AssertionError("the base was probed although it did not change")

    monkeypatch.setattr(probe_cache, "probe", refuse)


def test_reused_while_unchanged_and_probed_again_after_every_kind_of_change(
    tmp_path: Path, make_base: Any, make_wheel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = make_base(wheels=[make_wheel(name="alpha", version="1.0")])
    cache = tmp_path / "cache"
    first = probe_cache.probe_cached(base.prefix, cache)
    assert first == probe(base.prefix)

    with monkeypatch.context() as m:
        _forbid_probing(m)
        assert probe_cache.probe_cached(base.prefix, cache) == first

    # A new distribution appears.
    base.install(make_wheel(name="beta", version="2.0"))
    second = probe_cache.probe_cached(base.prefix, cache)
    assert "beta" in second.by_name and second.fingerprint() != first.fingerprint()

    # A distribution's metadata is edited in place (same directory, new content).
    metadata = next(base.site_packages().glob("alpha-1.0.dist-info")) / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 1.0", "Version: 1.0.1"))
    third = probe_cache.probe_cached(base.prefix, cache)
    assert third.by_name["alpha"].version == "1.0.1"

    # A .pth file appears, then is rewritten in place (both change what the base sees).
    pth = base.site_packages() / "extra.pth"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    pth.write_text(str(tmp_path / "one") + "\n")
    fourth = probe_cache.probe_cached(base.prefix, cache)
    assert str(tmp_path / "one") in fourth.extra.get("sys_path", [])
    pth.write_text(str(tmp_path / "two") + "\n")
    fifth = probe_cache.probe_cached(base.prefix, cache)
    assert str(tmp_path / "two") in fifth.extra.get("sys_path", [])


def test_a_damaged_cache_entry_is_ignored(tmp_path: Path, make_base: Any) -> None:
    base = make_base()
    cache = tmp_path / "cache"
    probe_cache.probe_cached(base.prefix, cache)
    [entry] = (cache / "probes").iterdir()
    entry.write_text("{not json")
    assert probe_cache.probe_cached(base.prefix, cache) == probe(base.prefix)


def test_each_module_layer_has_its_own_entry_and_a_changed_module_is_probed_again(
    tmp_path: Path, make_base: Any, make_wheel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    base = make_base()
    cache = tmp_path / "cache"
    module = tmp_path / "sw" / "six"
    with zipfile.ZipFile(make_wheel(name="six", version="1.16.0")) as zf:
        zf.extractall(module)
    plain = probe_cache.probe_cached(base.prefix, cache, module_path=())
    loaded = probe_cache.probe_cached(base.prefix, cache, module_path=(str(module),))
    assert "six" not in plain.by_name and loaded.by_name["six"].version == "1.16.0"
    with monkeypatch.context() as m:
        _forbid_probing(m)  # both layers are answered from their own entries
        assert probe_cache.probe_cached(base.prefix, cache, module_path=()) == plain
        assert probe_cache.probe_cached(base.prefix, cache, module_path=(str(module),)) == loaded
    # The module is upgraded in place: its directory listing changes.
    (module / "six-1.16.0.dist-info").rename(module / "six-1.17.0.dist-info")
    metadata = module / "six-1.17.0.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 1.16.0", "Version: 1.17.0"))
    again = probe_cache.probe_cached(base.prefix, cache, module_path=(str(module),))
    assert again.by_name["six"].version == "1.17.0"

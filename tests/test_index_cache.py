"""Index pages kept as the index's Cache-Control allows, ``--refresh`` and ``--offline``, and
metadata fetched ahead in threads: the real CLI against the harness index on 127.0.0.1, whose
request log says what was asked."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.imports import imported
from harness.index import PackageIndex
from harness.project import picks, write_manifest
from harness.wheels import WheelSpec
from overlock.app.lock import lock_manifest
from overlock.app.overlay import Overlay
from overlock.cache import Cache
from overlock.index.client import Index
from overlock.lock.pylock import read_lock, write_lock

PAGES = "/simple/*"


def _publish(index: PackageIndex, *specs: WheelSpec) -> None:
    for spec in specs:
        index.add_spec(spec)


@pytest.fixture
def project(tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any) -> Path:
    """An overlay adding app, which needs helper (new) and corelib>=2 (the base has 1.0)."""
    base = make_base(wheels=[make_wheel(name="corelib", version="1.0")])
    _publish(
        index,
        WheelSpec("corelib", "1.0"),
        WheelSpec("corelib", "2.0"),
        WheelSpec("helper", "1.0"),
        WheelSpec("app", "1.0", requires=("corelib>=2", "helper")),
    )
    return write_manifest(tmp_path / "p", base, ["app"], index=index)


def _lock(overlock: Any, manifest: Path, *options: str) -> bytes:
    """Lock from scratch (no earlier lock to keep) and return the lock file's bytes."""
    lock_path = manifest.parent / "pylock.overlay.toml"
    lock_path.unlink(missing_ok=True)
    run = overlock("lock", "-m", str(manifest), *options)
    assert run.code == 0, run.err
    return lock_path.read_bytes()


def _try_lock(overlock: Any, manifest: Path, *options: str) -> Any:
    """Lock from scratch, whatever the outcome: the run."""
    (manifest.parent / "pylock.overlay.toml").unlink(missing_ok=True)
    return overlock("lock", "-m", str(manifest), *options)


def _page_answers(index: PackageIndex) -> list[tuple[int, bool]]:
    """(status, conditional?) of every index page request so far."""
    return [
        (r.status, "If-None-Match" in r.headers or "if-none-match" in r.headers)
        for r in index.requests
        if r.path.startswith("/simple/")
    ]


def _kept_pages(cache_root: Path) -> list[Path]:
    return sorted(p for p in (cache_root / "pages").rglob("*") if p.is_file())


def _cache_root() -> Path:
    return Path(os.environ["OVERLOCK_CACHE_DIR"])


def test_a_second_lock_within_max_age_asks_the_index_nothing(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=600")
    first = _lock(overlock, project)
    assert picks(read_lock(project.parent / "pylock.overlay.toml")) == {
        "app": "1.0",
        "corelib": "2.0",
        "helper": "1.0",
    }
    index.reset_log()

    again = _lock(overlock, project)

    assert again == first
    assert index.requests == []  # pages still fresh, metadata cached by the wheel's hash


def test_a_stale_page_is_revalidated_and_a_304_reuses_it(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=0")  # stale at once: every use needs the index's word
    first = _lock(overlock, project)
    index.reset_log()

    again = _lock(overlock, project)

    assert again == first
    answers = _page_answers(index)
    assert answers, "a stale page must be revalidated"
    assert answers == [(304, True)] * len(answers)


def test_no_cache_pages_are_kept_but_always_revalidated(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=600, no-cache")
    first = _lock(overlock, project)
    index.reset_log()

    assert _lock(overlock, project) == first
    answers = _page_answers(index)
    assert answers and answers == [(304, True)] * len(answers)


def test_no_store_pages_are_never_kept(project: Path, index: PackageIndex, overlock: Any) -> None:
    index.cache_pages("no-store")
    first = _lock(overlock, project)
    assert _kept_pages(_cache_root()) == []
    index.reset_log()

    assert _lock(overlock, project) == first
    answers = _page_answers(index)
    assert answers and answers == [(200, False)] * len(answers)


def test_a_page_that_turns_no_store_drops_the_kept_copy(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=0")
    _lock(overlock, project)
    assert _kept_pages(_cache_root())
    index.cache_pages("no-store")
    _lock(overlock, project)
    assert _kept_pages(_cache_root()) == []


def test_refresh_revalidates_pages_that_are_still_fresh(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=600")
    first = _lock(overlock, project)
    index.reset_log()

    assert _lock(overlock, project, "--refresh") == first
    answers = _page_answers(index)
    assert answers and answers == [(304, True)] * len(answers)


def test_refresh_sees_a_release_published_within_max_age(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=600")
    _lock(overlock, project)
    index.add_spec(WheelSpec("helper", "2.0"))

    _lock(overlock, project)  # within max-age: the kept page, as the index allowed
    assert picks(read_lock(project.parent / "pylock.overlay.toml"))["helper"] == "1.0"
    _lock(overlock, project, "--refresh")
    assert picks(read_lock(project.parent / "pylock.overlay.toml"))["helper"] == "2.0"


def test_offline_with_a_warm_cache_locks_without_a_single_request(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=0")  # stale pages: offline uses them anyway
    first = _lock(overlock, project)
    index.reset_log()

    assert _lock(overlock, project, "--offline") == first
    assert index.requests == []


def test_offline_with_a_cold_cache_fails_naming_what_is_missing(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    run = overlock("lock", "-m", str(project), "--offline")

    assert run.code == 1
    assert "--offline" in run.err and "/simple/app/" in run.err
    assert "not in overlock's cache" in run.err
    assert "without --offline" in run.err
    assert "Traceback" not in run.err
    assert index.requests == []
    assert not (project.parent / "pylock.overlay.toml").exists()


def test_offline_without_the_metadata_fails_naming_the_wheel(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=600")
    _lock(overlock, project)
    for entry in (_cache_root() / "metadata").iterdir():
        entry.unlink()
    index.reset_log()

    run = _try_lock(overlock, project, "--offline")

    assert run.code == 1
    assert "the metadata of app-1.0-py3-none-any.whl" in run.err
    assert index.requests == []


def test_add_and_remove_take_offline_too(project: Path, index: PackageIndex, overlock: Any) -> None:
    index.cache_pages("max-age=0")
    _lock(overlock, project)
    index.reset_log()

    assert overlock("remove", "-m", str(project), "app", "--offline").code == 0
    run = overlock("add", "-m", str(project), "app", "--offline")
    assert run.code == 0, run.err
    assert index.requests == []
    run = overlock("add", "-m", str(project), "neverseen", "--offline")
    assert run.code == 1
    assert "/simple/neverseen/" in run.err and "without --offline" in run.err
    assert index.requests == []


def _forget_metadata() -> None:
    """The cache as on a machine that never locked: no metadata, no wheels."""
    for kind in ("metadata", "wheels"):
        for entry in (_cache_root() / kind).rglob("*"):
            if entry.is_file():
                entry.unlink()


def test_why_takes_offline(project: Path, index: PackageIndex, overlock: Any) -> None:
    """``why`` reads a locked package's metadata from the index when neither the cache nor a
    synced prefix has it: --offline asks nothing and says what is missing."""
    _lock(overlock, project)
    index.reset_log()
    assert overlock("why", "-m", str(project), "helper", "--offline").code == 0
    assert index.requests == []  # warm: all from the cache

    _forget_metadata()
    run = overlock("why", "-m", str(project), "helper", "--offline")
    assert run.code == 0, run.err
    assert index.requests == []
    assert "--offline, and the metadata of" in run.err and "not in overlock's cache" in run.err
    assert "without --offline" in run.err

    run = overlock("why", "-m", str(project), "helper")  # the same, online, asks the index
    assert run.code == 0 and "--offline" not in run.err
    assert index.count("/files/*") >= 1


def test_audit_takes_offline_and_refresh(project: Path, index: PackageIndex, overlock: Any) -> None:
    """Pages kept but stale (max-age=0): an audit revalidates them; with --offline it asks
    nothing; with a cold cache it cannot audit, and says why, asking nothing either."""
    index.cache_pages("max-age=600")
    _lock(overlock, project)
    snapshot = project.parent / "snapshot.json"
    assert overlock("base", "snapshot", "-m", str(project), "-o", str(snapshot)).code == 0
    audit = ("audit", "--base", str(snapshot), str(project))

    index.reset_log()
    run = overlock(*audit, "--refresh")
    assert run.code == 0, run.err
    assert "its lock would not change" in run.out
    assert _page_answers(index) and all(cond for _status, cond in _page_answers(index))

    index.reset_log()
    run = overlock(*audit, "--offline")
    assert run.code == 0, run.err
    assert "its lock would not change" in run.out
    assert index.requests == []

    for page in _kept_pages(_cache_root()):
        page.unlink()
    run = overlock(*audit, "--offline")
    assert run.code == 1
    assert "cannot be audited: --offline, and the index page" in run.out
    assert "without --offline" in run.out
    assert index.requests == []


def test_audit_takes_pips_index_options(
    project: Path, index: PackageIndex, overlock: Any, tmp_path: Path
) -> None:
    """`--index-url` replaces every overlay's primary index for the audit, as on `lock`."""
    _lock(overlock, project)
    snapshot = project.parent / "snapshot.json"
    assert overlock("base", "snapshot", "-m", str(project), "-o", str(snapshot)).code == 0
    mirror = PackageIndex(tmp_path / "mirror")
    mirror.add_many(p for p in index.files_dir.iterdir() if p.suffix == ".whl")
    mirror.start()
    try:
        index.reset_log()
        audit = ("audit", "--base", str(snapshot), str(project), "--refresh")
        run = overlock(*audit, "--index-url", mirror.url)
        assert run.code == 0, run.err
        assert "its lock would not change" in run.out
        assert mirror.requests and index.requests == []
    finally:
        mirror.stop()


def test_sync_takes_refresh_and_offline(project: Path, index: PackageIndex, overlock: Any) -> None:
    """sync asks an index only for what is not cached (files, a build's requirements)."""
    _lock(overlock, project)
    run = overlock("sync", "-m", str(project), "--refresh")
    assert run.code == 0, run.err
    index.reset_log()
    run = overlock("sync", "-m", str(project), "--offline", "--refresh")
    assert run.code == 0, run.err
    assert index.requests == []


def _tamper(entry: Path, change: Any) -> None:
    head, _, body = entry.read_bytes().partition(b"\n")
    doc, body = change(json.loads(head), body)
    entry.write_bytes(json.dumps(doc).encode() + b"\n" + body)


@pytest.mark.parametrize(
    "change",
    [
        # the body altered (the recorded sha256 no longer matches)
        lambda doc, body: (doc, body.replace(b"1.0", b"9.9")),
        # altered and re-hashed, but filed under another URL's name
        lambda doc, body: (
            {**doc, "url": doc["url"].replace("/simple/", "/simple/x"), "size": len(body)},
            body,
        ),
        # a URL with credentials where the links are resolved from
        lambda doc, body: ({**doc, "final_url": "http://user:pw@127.0.0.1:1/simple/"}, body),
        # a field of the wrong type
        lambda doc, body: ({**doc, "stored": "now"}, body),
    ],
    ids=["body", "other-url", "credentials", "types"],
)
def test_a_tampered_entry_is_not_trusted(
    project: Path, index: PackageIndex, overlock: Any, change: Any
) -> None:
    index.cache_pages("max-age=600")
    first = _lock(overlock, project)
    entries = _kept_pages(_cache_root())
    assert entries
    for entry in entries:
        _tamper(entry, change)

    run = _try_lock(overlock, project, "--offline")  # a bad entry is no entry
    assert run.code == 1 and "not in overlock's cache" in run.err, run.err
    index.reset_log()
    assert _lock(overlock, project) == first  # fetched again, not taken from the entry
    assert index.count(PAGES) == len(entries)
    index.reset_log()
    assert _lock(overlock, project) == first
    assert index.requests == []  # and the entries were replaced by good ones


def test_an_oversized_entry_is_not_read(
    project: Path, index: PackageIndex, overlock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from overlock.index import httpcache

    index.cache_pages("max-age=600")
    _lock(overlock, project)
    largest = max(p.stat().st_size for p in _kept_pages(_cache_root()))
    monkeypatch.setattr(httpcache, "MAX_ENTRY_BYTES", largest - 1)
    index.reset_log()
    _lock(overlock, project)
    assert index.count(PAGES) >= 1


def test_credentials_are_not_written_to_the_cache(
    tmp_path: Path, make_base: Any, overlock: Any
) -> None:
    with PackageIndex(tmp_path / "authed", auth=("alice", "s3cret-token")) as authed:
        authed.cache_pages("max-age=600")
        authed.add_spec(WheelSpec("helper", "1.0"))
        manifest = write_manifest(tmp_path / "p", make_base(), ["helper"], index=authed)
        first = _lock(overlock, manifest)
        authed.reset_log()
        assert _lock(overlock, manifest) == first
        assert authed.requests == []
    kept = _kept_pages(_cache_root())
    assert kept
    for path in kept:
        data = path.read_bytes()
        assert b"s3cret-token" not in data and b"alice" not in data


def test_metadata_is_fetched_ahead_in_parallel_and_the_lock_is_the_same(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    deps = [f"dep{i}" for i in range(4)]
    _publish(
        index,
        *(WheelSpec(d, "1.0") for d in deps),
        WheelSpec("app", "1.0", requires=tuple(deps)),
    )
    manifest = write_manifest(tmp_path / "p", make_base(), ["app"], index=index)
    # The four pages are answered only once all four were asked for at the same time.
    gate = index.gate("/simple/dep*", parties=len(deps), timeout=60)

    parallel = _lock(overlock, manifest)

    assert not gate.broken, "the dependencies' pages were not fetched concurrently"
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {
        "app": "1.0",
        **dict.fromkeys(deps, "1.0"),
    }
    # The same inputs locked with no thread at all, from an empty cache: the same bytes.
    overlay = Overlay.load(manifest)
    cold = Cache(tmp_path / "cold-cache")
    with Index(overlay.index_config, overlay.base, cold, prefetch_threads=0) as serial:
        lock, _ = lock_manifest(overlay, overlay.base, serial)
        assert serial.stats["metadata_requests"] == len(deps) + 1
    serial_path = tmp_path / "serial" / "pylock.overlay.toml"
    serial_path.parent.mkdir()
    write_lock(lock, serial_path)
    assert serial_path.read_bytes() == parallel


def test_a_base_package_a_move_breaks_is_fetched_as_soon_as_the_move_is_known(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    """zcore moves from the base's 1.0 to 2.0, which the base's dep-plugin (capped below 2)
    does not accept: dep-plugin's page is asked for once zcore's page is read, while the
    resolver still waits for dep-first's, not a round trip after zcore's metadata."""
    base = make_base(
        wheels=[
            make_wheel(name="zcore", version="1.0"),
            make_wheel(name="dep-plugin", version="1.0", requires=("zcore<2",)),
        ]
    )
    _publish(
        index,
        WheelSpec("zcore", "2.0"),
        WheelSpec("dep-plugin", "1.1", requires=("zcore>=2",)),
        WheelSpec("dep-first", "1.0"),
    )
    manifest = write_manifest(tmp_path / "p", base, ["dep-first", "zcore>=2"], index=index)
    # The resolver takes dep-first first (by name); its page is answered only once another
    # dep* page is asked for, and only the hint can ask for dep-plugin's by then.
    gate = index.gate("/simple/dep*", parties=2, timeout=30)

    lock = _lock(overlock, manifest)

    assert not gate.broken, "dep-plugin's page waited for zcore's metadata"
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {
        "dep-first": "1.0",
        "dep-plugin": "1.1",
        "zcore": "2.0",
    }
    assert lock


def test_a_lock_whose_pages_are_all_fresh_loads_no_http_stack(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    index.cache_pages("max-age=600")
    first = _lock(overlock, project)
    index.reset_log()

    (project.parent / "pylock.overlay.toml").unlink()
    code, names = imported(["lock", "-m", str(project)])

    assert code == 0
    assert "overlock.cli.main" in names  # the lock ran, and was measured
    assert (project.parent / "pylock.overlay.toml").read_bytes() == first
    assert index.requests == []
    loaded = names & {"unearth", "httpx2", "httpcore2", "ssl", "overlock.index.http"}
    assert not loaded, sorted(loaded)


def test_a_kept_page_whose_body_changed_is_judged_again(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    """The releases kept from a page stand only for that page's body: the same page kept
    with another body (corelib 2.0 gone from it) is parsed again, so corelib>=2 fails."""
    from overlock.index import httpcache

    index.cache_pages("max-age=600")
    _lock(overlock, project)
    changed = 0
    for path in _kept_pages(_cache_root()):
        head = json.loads(path.read_bytes().partition(b"\n")[0])
        entry = httpcache.Entry.from_bytes(
            path.read_bytes(), url=head["url"], accept=head["accept"]
        )
        assert entry is not None
        if not entry.url.rstrip("/").endswith("/corelib"):
            continue
        page = json.loads(entry.body)
        page["files"] = [f for f in page["files"] if "-2.0" not in f["filename"]]
        body = json.dumps(page).encode()
        path.write_bytes(dataclasses.replace(entry, body=body).to_bytes())
        changed += 1
    assert changed == 1

    run = _try_lock(overlock, project, "--offline")

    assert run.code == 1, run.err
    assert "corelib" in run.err


def test_a_base_package_the_requested_version_breaks_is_fetched_with_the_moved_page(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    """overlay.toml asks for dep-core>=2; the base's dep-plugin caps it below 2: both pages
    are asked for at once, not dep-plugin's after dep-core's has been read."""
    base = make_base(
        wheels=[
            make_wheel(name="dep-core", version="1.0"),
            make_wheel(name="dep-plugin", version="1.0", requires=("dep-core<2",)),
        ]
    )
    _publish(
        index,
        WheelSpec("dep-core", "2.0"),
        WheelSpec("dep-plugin", "1.1", requires=("dep-core>=2",)),
    )
    manifest = write_manifest(tmp_path / "p", base, ["dep-core>=2"], index=index)
    gate = index.gate("/simple/dep-*", parties=2, timeout=30)

    _lock(overlock, manifest)

    assert not gate.broken, "dep-plugin's page waited for dep-core's"
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {
        "dep-core": "2.0",
        "dep-plugin": "1.1",
    }


def test_a_page_fetched_again_with_another_body_is_judged_again_and_asked_once(
    project: Path, index: PackageIndex, overlock: Any
) -> None:
    """Pages the index does not let a client keep fresh are fetched on every lock; the
    releases judged from one are reused only while its body is the same. A new release
    changes helper's page: it is read (once: what was fetched to compare is parsed) and
    the new release is locked."""
    first = _lock(overlock, project)
    assert picks(read_lock(project.parent / "pylock.overlay.toml"))["helper"] == "1.0"
    assert _lock(overlock, project) == first  # the same bodies: the same lock
    _publish(index, WheelSpec("helper", "1.1"))
    index.reset_log()

    _lock(overlock, project)

    assert picks(read_lock(project.parent / "pylock.overlay.toml"))["helper"] == "1.1"
    asked = [r.path for r in index.requests if r.path.startswith("/simple/helper")]
    assert asked == ["/simple/helper/"]

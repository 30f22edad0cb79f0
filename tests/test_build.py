# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""Development overlays: PEP 517 builds for the base, git references, sdists, editables.

Source trees carry their own backend (tests/harness/sources.py, ``backend-path``), so no
build dependency is downloaded unless a test publishes one on the harness index; git
repositories are made in tmp and reached by path / file://.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.bases import Base, clean_env, other_pythons
from harness.index import PackageIndex
from harness.project import write_manifest
from harness.sources import (
    GIT_ENV,
    backend_wheel_files,
    commit_all,
    git,
    git_init,
    make_sdist,
    write_project,
)
from harness.wheels import WheelSpec
from overlock.base.env import BaseEnv, probe
from overlock.build.backend import Builder, build_key, tree_hash, unpack_sdist
from overlock.build.git import checkout, ls_remote, parse_git_url, resolve_commit
from overlock.cache import Cache
from overlock.errors import BuildError
from overlock.index.client import Index
from overlock.index.pipconfig import IndexConfig


@pytest.fixture(autouse=True)
def _git_isolation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TINYBUILD_LOG", str(tmp_path / "hooks.log"))


def hooks(tmp_path: Path) -> list[str]:
    """The backend hooks called so far (tinybuild logs them), without their arguments."""
    log = tmp_path / "hooks.log"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "overlock-cache")


@pytest.fixture
def base_env(make_base: Any) -> tuple[Base, BaseEnv]:
    base = make_base()
    return base, probe(str(base.prefix))


def open_index(index: PackageIndex, base: BaseEnv, cache: Cache) -> Index:
    config = IndexConfig.from_manifest((index.url,), (), IndexConfig(retries=1, timeout=5))
    return Index(config, base, cache)


# -- (a) the builder -------------------------------------------------------------------------


def test_metadata_comes_from_the_prepare_hook_without_a_build(
    tmp_path: Path, base_env: tuple[Base, BaseEnv], cache: Cache
) -> None:
    base, env = base_env
    tree = write_project(tmp_path / "src" / "devpkg", "devpkg", "0.3", requires=("dep>=1",))
    before = base.checksum()
    builder = Builder(env, cache)  # no index: nothing may be downloaded
    key = build_key(env, f"tree:{tree_hash(tree)}:{tree}")

    meta = builder.metadata(tree, key=key, label="devpkg")

    assert b"Name: devpkg" in meta and b"Requires-Dist: dep>=1" in meta
    assert "prepare_metadata_for_build_wheel" in hooks(tmp_path)
    assert "build_wheel" not in hooks(tmp_path)
    # Cached: asking again runs nothing.
    assert builder.metadata(tree, key=key, label="devpkg") == meta
    assert hooks(tmp_path).count("prepare_metadata_for_build_wheel") == 1
    assert base.checksum() == before


def test_wheel_is_built_by_the_base_interpreter_and_cached(
    tmp_path: Path, base_env: tuple[Base, BaseEnv], cache: Cache
) -> None:
    _, env = base_env
    tree = write_project(tmp_path / "devpkg", "devpkg", "0.3")
    builder = Builder(env, cache)
    key = build_key(env, f"tree:{tree_hash(tree)}:{tree}")

    wheel = builder.wheel(tree, key=key, label="devpkg")

    assert wheel.name == "devpkg-0.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        assert f"BUILT_WITH = '{env.py_short}'" in zf.read("devpkg/_built_with.py").decode()
    assert builder.wheel(tree, key=key, label="devpkg") == wheel
    assert hooks(tmp_path).count("build_wheel") == 1
    # Metadata of an already built key comes from the wheel, no hook.
    assert b"Version: 0.3" in builder.metadata(tree, key=key, label="devpkg")
    assert "prepare_metadata_for_build_wheel" not in hooks(tmp_path)


def test_backend_without_prepare_hook_builds_once_for_metadata_and_wheel(
    tmp_path: Path, base_env: tuple[Base, BaseEnv], cache: Cache
) -> None:
    _, env = base_env
    tree = write_project(tmp_path / "noprep", "noprep", "1.0", no_prepare=True)
    builder = Builder(env, cache)
    key = build_key(env, f"tree:{tree_hash(tree)}:{tree}")
    assert b"Name: noprep" in builder.metadata(tree, key=key, label="noprep")
    builder.wheel(tree, key=key, label="noprep")
    assert hooks(tmp_path).count("build_wheel") == 1


def test_tree_hash_ignores_build_output_but_not_sources(tmp_path: Path) -> None:
    tree = write_project(tmp_path / "t", "t", "1.0")
    first = tree_hash(tree)
    (tree / "build").mkdir()
    (tree / "build" / "junk.txt").write_text("x")
    (tree / "t.egg-info").mkdir()
    (tree / "t" / "__pycache__").mkdir()
    assert tree_hash(tree) == first
    (tree / "t" / "__init__.py").write_text("VERSION = 2\n")
    assert tree_hash(tree) != first


def test_build_failure_reports_the_backend_output(
    tmp_path: Path, base_env: tuple[Base, BaseEnv], cache: Cache
) -> None:
    _, env = base_env
    tree = write_project(tmp_path / "broken", "broken", "1.0", fail="build_wheel")
    builder = Builder(env, cache)
    key = build_key(env, "tree:broken")
    with pytest.raises(BuildError) as err:
        builder.wheel(tree, key=key, label="broken (from ./broken)")
    text = str(err.value)
    assert "broken (from ./broken)" in text and "build_wheel" in text
    assert "missing header frobnicate.h" in text
    assert cache.built_wheel(key) is None


def test_build_requirements_come_from_the_index_into_an_isolated_env(
    tmp_path: Path, index: PackageIndex, base_env: tuple[Base, BaseEnv], cache: Cache
) -> None:
    base, env = base_env
    index.add_spec(WheelSpec("tinybuild-backend", "1.0", files=backend_wheel_files()))
    tree = write_project(
        tmp_path / "ext", "ext", "2.0", in_tree=False, build_requires=("tinybuild-backend>=1",)
    )
    before = base.checksum()
    with open_index(index, env, cache) as ix:
        builder = Builder(env, cache, index=lambda: ix)
        wheel = builder.wheel(tree, key=build_key(env, "tree:ext"), label="ext")
    assert wheel.name == "ext-2.0-py3-none-any.whl"
    assert index.count("/simple/tinybuild-backend/*") >= 1
    assert base.checksum() == before


def test_in_tree_backend_never_touches_the_index(
    tmp_path: Path, index: PackageIndex, base_env: tuple[Base, BaseEnv], cache: Cache
) -> None:
    _, env = base_env
    tree = write_project(tmp_path / "quiet", "quiet", "1.0")
    with open_index(index, env, cache) as ix:
        Builder(env, cache, index=lambda: ix).wheel(
            tree, key=build_key(env, "tree:quiet"), label="quiet"
        )
    assert index.requests == []


def _newest_other_python() -> tuple[str, Path] | None:
    found = list(other_pythons().items())
    if not found or tuple(int(x) for x in found[-1][0].split(".")) < (3, 9):
        return None
    return found[-1]


@pytest.mark.skipif(_newest_other_python() is None, reason="needs a second Python >= 3.9")
def test_build_for_a_base_of_another_python_version(
    tmp_path: Path, make_base: Any, cache: Cache
) -> None:
    other = _newest_other_python()
    assert other is not None
    version, python = other
    base = make_base(python=python)
    env = probe(str(base.prefix))
    tree = write_project(tmp_path / "devpkg", "devpkg", "0.3")
    wheel = Builder(env, cache).wheel(tree, key=build_key(env, "tree:x"), label="devpkg")
    with zipfile.ZipFile(wheel) as zf:
        assert f"BUILT_WITH = '{version}'" in zf.read("devpkg/_built_with.py").decode()


def test_sdist_unpacks_safely(tmp_path: Path) -> None:
    tree = write_project(tmp_path / "sd", "sdpkg", "1.0")
    sdist = make_sdist(tree, tmp_path / "dist")
    root = unpack_sdist(sdist, tmp_path / "unpacked")
    assert (root / "PKG-INFO").is_file() and (root / "pyproject.toml").is_file()


# -- (a) git -------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    path = git_init(tmp_path / "repo")
    write_project(path, "gitpkg", "1.0")
    commit_all(path, "first")
    yield path


def commit_on_branch(repo: Path, branch: str, code: str) -> str:
    """A new ``branch`` in ``repo`` whose one commit gives gitpkg ``code``; that commit's id."""
    git(repo, "checkout", "--quiet", "-b", branch)
    (repo / "gitpkg" / "__init__.py").write_text(code)
    return commit_all(repo, "fix")


def test_parse_git_url() -> None:
    ref = parse_git_url("git+https://example.org/x/y.git@v1.2#subdirectory=sub/dir")
    assert (ref.repo, ref.rev, ref.subdirectory) == (
        "https://example.org/x/y.git",
        "v1.2",
        "sub/dir",
    )
    ref = parse_git_url("git+ssh://git@example.org/x.git")
    assert (ref.repo, ref.rev) == ("ssh://git@example.org/x.git", None)


def test_revisions_resolve_to_commits_and_check_out(
    repo: Path, tmp_path: Path, cache: Cache
) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-a", "v1.0", "-m", "release")
    fixed = commit_on_branch(repo, "fix-123", "VERSION = 'fixed'\n")
    url = repo.as_uri()

    assert resolve_commit(url, "fix-123", cache) == fixed
    assert resolve_commit(url, "v1.0", cache) == first  # annotated tag, peeled
    assert resolve_commit(url, "main", cache) == first
    assert resolve_commit(url, first[:10], cache) == first  # abbreviated: needs a fetch
    assert resolve_commit(url, fixed, cache) == fixed

    tree = checkout(url, fixed, cache, tmp_path / "co")
    assert "fixed" in (tree / "gitpkg" / "__init__.py").read_text()

    # The branch moves on; ls-remote sees it without fetching.
    (repo / "gitpkg" / "__init__.py").write_text("VERSION = 'later'\n")
    later = commit_all(repo, "later")
    assert ls_remote(url, "fix-123") == later
    # The old commit is still checked out from the mirror.
    again = checkout(url, fixed, cache, tmp_path / "co2")
    assert "fixed" in (again / "gitpkg" / "__init__.py").read_text()


# -- (b) the manifest and the lock ----------------------------------------------------------


def write_overlay(
    project: Path,
    base: Base,
    index: PackageIndex,
    entries: list[str],
    *,
    resolve: str = "",
) -> Path:
    """overlay.toml whose ``requires`` holds ``entries`` as TOML text (strings or tables)."""
    return write_manifest(
        project, base, [], index=index, entries=entries, resolve=[resolve] if resolve else []
    )


def test_manifest_table_entries_are_validated_all_at_once(tmp_path: Path, overlock: Any) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "overlay.toml").write_text(
        '[overlay]\nbase = "/x"\nprefix = "o"\nrequires = [\n'
        '  { name = "a", path = "../a", rev = "main" },\n'
        '  { name = "b", git = "https://h/b", editable = true },\n'
        '  { name = "c" },\n'
        '  { name = "d", path = "../d", git = "https://h/d" },\n'
        '  { path = "../e", editabel = true },\n'
        '  { name = "f", path = "../f", editable = "yes" },\n'
        "]\n\n[resolve]\nallow-build = 1\n"
    )
    run = overlock("lock", "-m", str(project / "overlay.toml"))
    assert run.code == 2
    err = run.err
    assert "line 5: [overlay] requires[0].rev: `rev` goes with `git`" in err
    assert "line 6: [overlay] requires[1].editable: only a local `path`" in err
    assert "line 7: [overlay] requires[2]: set `path`" in err
    assert "line 8: [overlay] requires[3].git: set either `path` or `git`" in err
    assert "requires[4].editabel: unknown key; did you mean `editable`?" in err
    assert "requires[4]: missing `name`" in err
    assert "requires[5].editable: must be true or false" in err
    assert "[resolve] allow-build: must be true or false" in err


def test_lock_editable_tree_and_its_dependencies(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(wheels=[make_wheel(name="corelib", version="1.0")])
    index.add_spec(WheelSpec("helper", "2.0"))
    write_project(
        tmp_path / "src" / "devpkg", "devpkg", "0.1.dev0", requires=("helper>=2", "corelib")
    )
    manifest = write_overlay(
        tmp_path / "p",
        base,
        index,
        ['{ name = "devpkg", path = "../src/devpkg", editable = true }'],
    )
    before = base.checksum()

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 0, run.err
    lock_text = (manifest.parent / "pylock.overlay.toml").read_text()
    assert 'path = "../src/devpkg"' in lock_text and "editable = true" in lock_text
    from overlock.lock.pylock import read_lock

    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    pkgs = lock.by_name
    assert set(pkgs) == {"devpkg", "helper"}
    dev = pkgs["devpkg"]
    assert dev.directory is not None and dev.directory.editable
    assert dev.version == "0.1.dev0" and dev.metadata_hash
    assert dev.dependencies == ("helper",)
    assert hooks(tmp_path) == [
        "get_requires_for_build_editable",
        "prepare_metadata_for_build_editable",
    ]
    assert base.checksum() == before
    # Same inputs, same bytes; nothing is built again.
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert (manifest.parent / "pylock.overlay.toml").read_text() == lock_text
    assert len(hooks(tmp_path)) == 2
    assert overlock("lock", "-m", str(manifest), "--check").code == 0


def test_lock_git_reference_is_pinned_to_a_commit(
    repo: Path, tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    fixed = commit_on_branch(repo, "fix-123", "VERSION = 'fixed'\n")
    manifest = write_overlay(
        tmp_path / "p",
        base,
        index,
        [f'{{ name = "gitpkg", git = "{repo.as_uri()}", rev = "fix-123" }}'],
    )

    assert overlock("lock", "-m", str(manifest)).code == 0
    from overlock.lock.pylock import read_lock

    [pkg] = read_lock(manifest.parent / "pylock.overlay.toml").packages
    assert pkg.vcs is not None
    assert (pkg.vcs.commit_id, pkg.vcs.requested_revision, pkg.vcs.url) == (
        fixed,
        "fix-123",
        repo.as_uri(),
    )
    assert 'commit-id = "' + fixed in (manifest.parent / "pylock.overlay.toml").read_text()


def test_pep508_direct_references_to_a_directory_and_an_sdist(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    tree = write_project(tmp_path / "abs" / "treepkg", "treepkg", "3.0")
    sdist = make_sdist(write_project(tmp_path / "sd", "archpkg", "1.5"), tmp_path / "dist")
    manifest = write_overlay(
        tmp_path / "p",
        base,
        index,
        [f'"treepkg @ {tree.as_uri()}"', f'"archpkg @ {sdist.as_uri()}"'],
    )
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    from overlock.lock.pylock import read_lock

    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    tree_pkg, arch = lock.by_name["treepkg"], lock.by_name["archpkg"]
    assert tree_pkg.directory is not None and tree_pkg.directory.path == str(tree)
    assert not tree_pkg.directory.editable
    assert arch.archive is not None and arch.archive.filename == sdist.name
    assert arch.archive.sha256 and arch.version == "1.5"


def test_sdist_only_dependency_is_refused_without_allow_build(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add(make_sdist(write_project(tmp_path / "sd", "srconly", "1.0"), tmp_path / "dist"))
    index.add_spec(WheelSpec("app", "1.0", requires=("srconly>=1",)))
    manifest = write_overlay(tmp_path / "p", base, index, ['"app"'])

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 1
    assert "srconly is only published as a source distribution" in run.err
    assert "allow-build = true" in run.err
    assert hooks(tmp_path) == []  # nothing ran

    # --no-build wins over allow-build.
    manifest = write_overlay(tmp_path / "p", base, index, ['"app"'], resolve="allow-build = true")
    refused = overlock("lock", "-m", str(manifest), "--no-build")
    assert refused.code == 1 and "--no-build" in refused.err
    assert hooks(tmp_path) == []


def test_sdist_only_dependency_is_built_when_allowed(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add(
        make_sdist(
            write_project(tmp_path / "sd", "srconly", "1.0", requires=("leaf",)), tmp_path / "dist"
        )
    )
    index.add_spec(WheelSpec("leaf", "1.0"))
    index.add_spec(WheelSpec("app", "1.0", requires=("srconly>=1",)))
    manifest = write_overlay(tmp_path / "p", base, index, ['"app"'], resolve="allow-build = true")

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 0, run.err
    from overlock.lock.pylock import read_lock

    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert set(lock.by_name) == {"app", "srconly", "leaf"}
    src = lock.by_name["srconly"]
    assert src.sdist is not None and src.sdist.filename == "srconly-1.0.tar.gz"
    assert src.index == index.url and src.dependencies == ("leaf",)
    assert "prepare_metadata_for_build_wheel" in hooks(tmp_path)
    assert "build_wheel" not in hooks(tmp_path)


def test_build_failure_during_lock_is_reported_with_the_backend_output(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    write_project(tmp_path / "src" / "broken", "broken", "1.0", fail="*")
    manifest = write_overlay(
        tmp_path / "p", base, index, ['{ name = "broken", path = "../src/broken" }']
    )
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert "building broken (from ../src/broken) failed" in run.err
    assert "missing header frobnicate.h" in run.err
    assert "Traceback" not in run.err.split("backend output")[0]
    assert not (manifest.parent / "pylock.overlay.toml").exists()


# -- (c) sync ------------------------------------------------------------------------------


def run_in_overlay(base: Base, prefix: Path, code: str) -> subprocess.CompletedProcess[str]:
    from overlock.prefix.activate import overlay_environ

    env = overlay_environ(probe(str(base.prefix)), prefix, clean_env())
    return subprocess.run(
        [str(base.python), "-c", code], capture_output=True, text=True, env=env, check=False
    )


def direct_url(prefix: Path, dist_info_glob: str) -> dict[str, Any]:
    [found] = list(prefix.glob(f"lib/python*/site-packages/{dist_info_glob}/direct_url.json"))
    data: dict[str, Any] = json.loads(found.read_text())
    return data


def test_editable_install_sees_source_edits_without_resync(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("helper", "2.0"))
    tree = write_project(tmp_path / "src" / "devpkg", "devpkg", "0.1", requires=("helper",))
    manifest = write_overlay(
        tmp_path / "p",
        base,
        index,
        ['{ name = "devpkg", path = "../src/devpkg", editable = true }'],
    )
    before = base.checksum()
    assert overlock("lock", "-m", str(manifest)).code == 0
    run = overlock("sync", "-m", str(manifest))
    assert run.code == 0, run.err
    prefix = manifest.parent / "overlay" / base.prefix.name

    shown = run_in_overlay(base, prefix, "import devpkg, helper; print(devpkg.hello())")
    assert shown.stdout.strip() == "hello from devpkg", shown.stderr
    (tree / "devpkg" / "__init__.py").write_text("def hello():\n    return 'edited'\n")
    shown = run_in_overlay(base, prefix, "import devpkg; print(devpkg.hello())")
    assert shown.stdout.strip() == "edited", shown.stderr

    info = direct_url(prefix, "devpkg-0.1.dist-info")
    assert info == {"url": tree.resolve().as_uri(), "dir_info": {"editable": True}}
    # The edit changed the tree, not its metadata: the lock is current, sync has nothing to do
    # but rebuild the (identical) editable wheel.
    assert overlock("lock", "-m", str(manifest), "--check").code == 0
    again = overlock("sync", "-m", str(manifest))
    assert again.code == 0 and "already holds exactly the lock" in again.out
    assert base.checksum() == before


def test_git_reference_synced_at_the_locked_commit(
    repo: Path, tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    from overlock.build.git import vcs_updates
    from overlock.lock.pylock import read_lock

    base = make_base()
    fixed = commit_on_branch(repo, "fix-123", "WHICH = 'fix'\n")
    manifest = write_overlay(
        tmp_path / "p",
        base,
        index,
        [f'"gitpkg @ git+{repo.as_uri()}@fix-123"'],
    )
    assert overlock("lock", "-m", str(manifest)).code == 0
    lock_file = manifest.parent / "pylock.overlay.toml"
    locked_text = lock_file.read_text()
    run = overlock("sync", "-m", str(manifest))
    assert run.code == 0, run.err
    prefix = manifest.parent / "overlay" / base.prefix.name
    assert (
        run_in_overlay(base, prefix, "import gitpkg; print(gitpkg.WHICH)").stdout.strip() == "fix"
    )
    info = direct_url(prefix, "gitpkg-1.0.dist-info")
    assert info["vcs_info"] == {"vcs": "git", "commit_id": fixed, "requested_revision": "fix-123"}
    assert info["url"] == repo.as_uri()

    # The branch moves: nothing changes, the move is reported.
    lock = read_lock(lock_file)
    assert vcs_updates(lock) == []
    check = overlock("check", "-m", str(manifest))
    assert check.code == 0 and "1 of 1 git reference(s) at the newest commit" in check.out
    (repo / "gitpkg" / "__init__.py").write_text("WHICH = 'later'\n")
    later = commit_all(repo, "later")
    [update] = vcs_updates(lock)
    assert update.available and (update.locked_commit, update.latest_commit) == (fixed, later)
    assert "newer commit available on fix-123" in str(update)
    assert overlock("lock", "-m", str(manifest), "--check").code == 0
    check = overlock("check", "-m", str(manifest), "--json")
    assert check.code == 1
    [moved] = [f for f in check.json()["findings"] if f["kind"] == "sources"]
    assert (
        moved["severity"] == "warning" and "newer commit available on fix-123" in moved["message"]
    )
    assert moved["data"]["latest_commit"] == later
    assert lock_file.read_text() == locked_text
    assert overlock("sync", "-m", str(manifest)).code == 0
    assert (
        run_in_overlay(base, prefix, "import gitpkg; print(gitpkg.WHICH)").stdout.strip() == "fix"
    )


def test_sdist_only_dependency_synced_when_allowed(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add(make_sdist(write_project(tmp_path / "sd", "srconly", "1.0"), tmp_path / "dist"))
    index.add_spec(WheelSpec("app", "1.0", requires=("srconly>=1",)))
    manifest = write_overlay(tmp_path / "p", base, index, ['"app"'], resolve="allow-build = true")
    assert overlock("lock", "-m", str(manifest)).code == 0
    before = base.checksum()

    run = overlock("sync", "-m", str(manifest))

    assert run.code == 0, run.err
    prefix = manifest.parent / "overlay" / base.prefix.name
    shown = run_in_overlay(
        base,
        prefix,
        "import srconly, srconly._built_with as b; print(srconly.hello(), b.BUILT_WITH)",
    )
    assert shown.stdout.split() == ["hello", "from", "srconly", base.version], shown.stderr
    assert not list(prefix.glob("lib/python*/site-packages/srconly-1.0.dist-info/direct_url.json"))
    assert base.checksum() == before
    # With --no-build, the wheel built before still serves: nothing has to run.
    assert overlock("sync", "-m", str(manifest), "--no-build").code == 0


def test_build_failure_at_sync_installs_nothing(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("fine", "1.0"))
    write_project(tmp_path / "src" / "broken", "broken", "1.0", fail="build_wheel")
    manifest = write_overlay(
        tmp_path / "p",
        base,
        index,
        ['"fine"', '{ name = "broken", path = "../src/broken" }'],
    )
    assert overlock("lock", "-m", str(manifest)).code == 0  # metadata needs no build

    run = overlock("sync", "-m", str(manifest))

    assert run.code == 1
    assert (
        "building broken (from ../src/broken) failed in the backend's build_wheel hook" in run.err
    )
    assert "tinybuild: error: missing header frobnicate.h" in run.err
    prefix = manifest.parent / "overlay" / base.prefix.name
    assert not prefix.exists()


def test_no_build_refuses_an_unbuilt_source_at_sync(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    write_project(tmp_path / "src" / "devpkg", "devpkg", "0.1")
    manifest = write_overlay(
        tmp_path / "p", base, index, ['{ name = "devpkg", path = "../src/devpkg" }']
    )
    assert overlock("lock", "-m", str(manifest)).code == 0
    run = overlock("sync", "-m", str(manifest), "--no-build")
    assert run.code == 1 and "--no-build forbids" in run.err
    assert not (manifest.parent / "overlay").exists()


# -- (d) re-lock on change -----------------------------------------------------------------


def test_lock_check_notices_changed_declared_metadata_of_a_tree(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    from harness.sources import set_version

    base = make_base()
    index.add_spec(WheelSpec("helper", "2.0"))
    tree = write_project(tmp_path / "src" / "devpkg", "devpkg", "0.1")
    manifest = write_overlay(
        tmp_path / "p",
        base,
        index,
        ['{ name = "devpkg", path = "../src/devpkg", editable = true }'],
    )
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert overlock("sync", "-m", str(manifest)).code == 0

    # A code edit is not a change that matters.
    (tree / "devpkg" / "extra.py").write_text("X = 1\n")
    assert overlock("lock", "-m", str(manifest), "--check").code == 0

    set_version(tree, "0.1", requires=["helper"])
    stale = overlock("lock", "-m", str(manifest), "--check", "--json")
    assert stale.code == 1
    data = stale.json()
    assert data["sources_changed"] is True and data["manifest_changed"] is False
    assert any(
        "../src/devpkg of devpkg changed its declared metadata (its dependencies" in p
        for p in data["problems"]
    )
    # sync installs what the lock says or nothing.
    refused = overlock("sync", "-m", str(manifest))
    assert refused.code == 1 and "run `overlock lock`" in refused.err

    set_version(tree, "0.2")
    check = overlock("lock", "-m", str(manifest), "--check")
    assert check.code == 1 and "(version 0.1 -> 0.2)" in check.out
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert overlock("lock", "-m", str(manifest), "--check").code == 0
    assert overlock("sync", "-m", str(manifest)).code == 0

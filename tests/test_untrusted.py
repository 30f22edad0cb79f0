"""A shared lock, an index page or a wheel may be hostile: every field is checked against
what it may be, user data reaches git only after ``--``, and each refusal is one clean
``overlock: error:`` naming the field and the file.
"""

from __future__ import annotations

import json
import re
import shlex
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.index import PackageIndex
from harness.project import write_manifest
from harness.sources import GIT_ENV, commit_all, git_init, write_project
from harness.wheels import WheelSpec, build_wheel, resigned
from overlock.base.env import load_snapshot
from overlock.build.git import checkout, ls_remote
from overlock.cache import Cache
from overlock.errors import BaseProbeError, BuildError, StaleLockError
from overlock.lock.pylock import Lock, LockedFile, LockedPackage, LockedVcs
from overlock.report.export import requirements

COMMIT = "a" * 40
SHA = "b" * 64


@pytest.fixture(autouse=True)
def _git_isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def _lock_text() -> str:
    """A valid lock holding one index wheel and one git commit."""
    lock = Lock(
        packages=(
            LockedPackage(
                name="alpha",  # type: ignore[arg-type]
                version="1.0",
                wheel=LockedFile(
                    "alpha-1.0-py3-none-any.whl", "https://h.example/alpha.whl", 10, SHA
                ),
                index="https://h.example/simple/",
                requested=("alpha",),
            ),
            LockedPackage(
                name="gitpkg",  # type: ignore[arg-type]
                version="1.0",
                vcs=LockedVcs(
                    url="https://h.example/g.git",
                    commit_id=COMMIT,
                    requested_revision="main",
                    subdirectory="sub",
                ),
                requested=("gitpkg @ git+https://h.example/g.git@main",),
            ),
            LockedPackage(
                name="srconly",  # type: ignore[arg-type]
                version="1.0",
                sdist=LockedFile(
                    "srconly-1.0.tar.gz", "https://h.example/srconly-1.0.tar.gz", 5, SHA
                ),
            ),
        ),
        base_fingerprint="sha256:x",
        manifest_hash="sha256:y",
        base_python_version="3.11.7",
    )
    return lock.dumps()


def test_the_unchanged_lock_reads_back() -> None:
    lock = Lock.loads(_lock_text())
    assert lock.by_name["gitpkg"].vcs == LockedVcs(  # type: ignore[index]
        url="https://h.example/g.git",
        commit_id=COMMIT,
        requested_revision="main",
        subdirectory="sub",
    )


# (what the attacker writes, as a replacement of a line of the valid lock; the field named)
HOSTILE = {
    "git option as url": (
        'url = "https://h.example/g.git"',
        'url = "--upload-pack=touch /tmp/overlock-pwned #"',
        "packages[1].vcs.url",
    ),
    "ext transport": (
        'url = "https://h.example/g.git"',
        'url = "ext::sh -c touch% /tmp/overlock-pwned"',
        "packages[1].vcs.url",
    ),
    "url without host": ('url = "https://h.example/g.git"', 'url = "https:///g"', "vcs.url"),
    "bad IPv6 url": ('url = "https://h.example/g.git"', 'url = "http://[::1"', "vcs.url"),
    "option as commit": (
        f'commit-id = "{COMMIT}"',
        'commit-id = "--output=/tmp/overlock-pwned"',
        "packages[1].vcs.commit-id",
    ),
    "short commit": (f'commit-id = "{COMMIT}"', 'commit-id = "abc123"', "vcs.commit-id"),
    "option as revision": (
        'requested-revision = "main"',
        'requested-revision = "--upload-pack=touch /tmp/overlock-pwned"',
        "packages[1].vcs.requested-revision",
    ),
    "escaping subdirectory": (
        'subdirectory = "sub"',
        'subdirectory = "../../etc"',
        "packages[1].vcs.subdirectory",
    ),
    "non-hex sha256": (f'sha256 = "{SHA}"', f'sha256 = "{"z" * 64}"', "wheels[0].hashes.sha256"),
    "short sha256": (f'sha256 = "{SHA}"', 'sha256 = "abc"', "wheels[0].hashes.sha256"),
    "sdist name with a path": (
        'name = "srconly-1.0.tar.gz"',
        'name = "../../srconly-1.0.tar.gz"',
        "packages[2].sdist",  # packaging.pylock checks this one
    ),
    "requested of the wrong type": ('requested = ["alpha"]', "requested = 5", "requested"),
    "escape sequence in requested": (
        'requested = ["alpha"]',
        'requested = ["\\u001b]0;owned\\u0007alpha"]',
        "packages[0].tool.overlock.requested[0]",
    ),
    "wheel of another project": (
        'name = "alpha-1.0-py3-none-any.whl"',
        'name = "beta-1.0-py3-none-any.whl"',
        "packages[0].wheels[0]",
    ),
    "download from another scheme": (
        'url = "https://h.example/alpha.whl"',
        'url = "ftp://h.example/alpha.whl"',
        "packages[0].wheels[0].url",
    ),
    "shadows is not a version": (
        'requested = ["alpha"]',
        'requested = ["alpha"]\nshadows = "1.0; rm -rf"',
        "shadows",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_lock_field_is_refused_naming_it(case: str) -> None:
    old, new, field = HOSTILE[case]
    text = _lock_text()
    assert old in text
    with pytest.raises(StaleLockError) as err:
        Lock.loads(text.replace(old, new, 1), source="shared/pylock.overlay.toml")
    message = err.value.message
    assert message.startswith("shared/pylock.overlay.toml") and field in message, message
    assert "overlock lock" in (err.value.hint or "")


def test_a_hostile_lower_layer_record_is_refused_naming_it() -> None:
    # Layer names and fingerprints are printed in drift reports.
    layer = '\n[[tool.overlock.layers]]\nname = "\\u001b]0;owned\\u0007group"\nfingerprint = "x"\n'
    with pytest.raises(StaleLockError) as err:
        Lock.loads(_lock_text() + layer, source="shared/pylock.overlay.toml")
    assert "layers[0].name" in err.value.message, err.value.message
    listed = '\n[[tool.overlock.layers]]\nname = "group"\ndistributions = [5]\n'
    with pytest.raises(StaleLockError, match=r"layers\[0\]\.distributions"):
        Lock.loads(_lock_text() + listed)
    fine = '\n[[tool.overlock.layers]]\nname = "group"\nsite-dirs = ["/o/lib"]\n'
    assert Lock.loads(_lock_text() + fine).layers == ({"name": "group", "site-dirs": ["/o/lib"]},)


def test_git_takes_a_repository_that_looks_like_an_option_as_a_repository(
    tmp_path: Path,
) -> None:
    # The last line of defence behind the lock's checks: `--` before user data.
    marker = tmp_path / "pwned"
    hostile = f"--upload-pack=touch {marker} #"
    with pytest.raises(BuildError):
        ls_remote(hostile, None)
    with pytest.raises(BuildError):
        checkout(hostile, COMMIT, Cache(tmp_path / "cache"), tmp_path / "tree")
    assert not marker.exists()


def test_sync_and_check_refuse_a_lock_whose_git_url_is_an_option(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    repo = git_init(tmp_path / "repo")
    write_project(repo, "gitpkg", "1.0")
    commit_all(repo)
    manifest = write_manifest(
        tmp_path / "p", base, [f"gitpkg @ git+{repo.as_uri()}@main"], index=index
    )
    assert overlock("lock", "-m", str(manifest)).code == 0
    lock_file = manifest.parent / "pylock.overlay.toml"
    marker = tmp_path / "pwned"
    text = lock_file.read_text()
    text = re.sub(r'url = "file://[^"]*"', f'url = "--upload-pack=touch {marker} #"', text, count=1)
    lock_file.write_text(text)
    for command in (["check"], ["sync", "--no-build"], ["sync"], ["show"]):
        run = overlock(*command, "-m", str(manifest))
        assert run.code == 1, (command, run.err)
        assert run.err.startswith(f"overlock: error: {lock_file}: packages[0].vcs.url"), run.err
        assert "Traceback" not in run.err
    assert not marker.exists()


def test_lock_refuses_an_index_wheel_whose_metadata_names_another_project(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    original = build_wheel(WheelSpec("honest", "1.0"), tmp_path / "built")
    with zipfile.ZipFile(original) as zf:
        metadata = zf.read("honest-1.0.dist-info/METADATA").decode()
    forged = metadata.replace("Name: honest", "Name: requests")
    index.add(
        resigned(original, tmp_path / "forged", {"honest-1.0.dist-info/METADATA": forged.encode()})
    )
    manifest = write_manifest(tmp_path / "p", base, ["honest"], index=index)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert run.err.startswith("overlock: error: honest-1.0-py3-none-any.whl from http://")
    assert "metadata names requests 1.0, not honest 1.0" in run.err
    assert not (manifest.parent / "pylock.overlay.toml").exists()


def test_lock_refuses_an_index_page_whose_sha256_is_not_hex(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("paged", "1.0"))
    page = index.static_dir / "paged" / "index.html"
    page.write_text(re.sub(r"#sha256=[0-9a-f]{64}", "#sha256=" + "z" * 64, page.read_text()))
    manifest = write_manifest(tmp_path / "p", base, ["paged"], index=index.file_url)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1, run.err
    assert "the sha256 of paged-1.0-py3-none-any.whl is not a sha256" in run.err
    assert run.err.startswith("overlock: error: ") and "Traceback" not in run.err


SNAPSHOT_EDITS: dict[str, tuple[Callable[[Any], object], str]] = {
    "relative interpreter": (lambda d: d.update(python="evil.sh"), "python must be an absolute"),
    "option interpreter": (lambda d: d.update(python="-c"), "python must be an absolute"),
    "newline in prefix": (lambda d: d.update(prefix="/opt\nrm -rf ~"), "prefix holds the control"),
    "scheme escapes": (
        lambda d: d["scheme"].update(purelib="../../home/x"),
        "scheme.purelib must be a relative path",
    ),
    "scheme missing": (lambda d: d["scheme"].pop("data"), "scheme must have exactly the keys"),
    "bad project name": (
        lambda d: d["distributions"][0].update(name="a b/c"),
        "distributions[0].name is not a project name",
    ),
}


@pytest.mark.parametrize("case", list(SNAPSHOT_EDITS))
def test_a_hostile_snapshot_field_is_refused_naming_it(
    tmp_path: Path, make_base: Any, overlock: Any, case: str
) -> None:
    base = make_base(wheels=[build_wheel(WheelSpec("basepkg", "1.0"), tmp_path / "w")])
    snapshot = tmp_path / "base.json"
    assert overlock("base", "snapshot", "--base", str(base.prefix), "-o", str(snapshot)).code == 0
    assert load_snapshot(snapshot).python  # the untouched snapshot loads
    edit, message = SNAPSHOT_EDITS[case]
    data = json.loads(snapshot.read_text())
    edit(data)
    snapshot.write_text(json.dumps(data))
    with pytest.raises(BaseProbeError) as err:
        load_snapshot(snapshot)
    assert err.value.message.startswith(f"base snapshot {snapshot}: ")
    assert message in err.value.message, err.value.message


def test_a_lock_index_cannot_add_options_to_an_exported_requirements_file(
    tmp_path: Path,
) -> None:
    hostile = "https://evil.example/simple/ --trusted-host evil.example"
    text = _lock_text().replace('index = "https://h.example/simple/"', f'index = "{hostile}"')
    exported = requirements(
        Lock.loads(text), lock_path=str(tmp_path / "pylock.overlay.toml"), prefix="/o"
    )
    options = [line for line in exported.text.splitlines() if line.startswith("--")]
    # pip splits each option line as a shell would: one option, one value, nothing more.
    assert [shlex.split(line) for line in options] == [["--index-url", hostile]]


def test_a_lock_cannot_make_sync_build_a_tree_overlay_toml_does_not_name(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any, monkeypatch: Any
) -> None:
    # The lock keeps overlay.toml's hash (so it is "current") and adds a directory it marks
    # `requested`; building it would run that tree's code.
    hooks = tmp_path / "hooks.log"
    monkeypatch.setenv("TINYBUILD_LOG", str(hooks))
    base = make_base()
    index.add_spec(WheelSpec("alpha", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["alpha"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    evil = write_project(tmp_path / "evil", "evil", "1.0")
    lock_file = manifest.parent / "pylock.overlay.toml"
    lock_file.write_text(
        lock_file.read_text()
        + f'\n[[packages]]\nname = "evil"\nversion = "1.0"\n\n[packages.directory]\npath = "{evil}"'
        '\n\n[packages.tool.overlock]\nrequested = ["evil"]\nmetadata-hash = "sha256:0"\n'
    )
    run = overlock("sync", "-m", str(manifest))
    assert run.code == 1, run.err
    assert "evil 1.0 is a source that overlay.toml does not name" in run.err
    # Asking whether the tree changed would run its backend too.
    check = overlock("lock", "--check", "-m", str(manifest))
    assert check.code == 1 and "builds evil from" in check.out + check.err
    relock = overlock("lock", "-m", str(manifest))
    assert relock.code == 0, relock.err
    assert "evil" not in lock_file.read_text()
    assert not hooks.exists()

# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""`overlock show`, `overlock why` and `overlock export` on real bases and the harness index."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from harness.bases import Base, clean_env
from harness.index import PackageIndex
from harness.project import picks, write_manifest
from harness.wheels import WheelSpec
from overlock.lock.pylock import read_lock

# The story of the issue, in miniature: the base has pandas 2.0.3, numpy 1.25.2, and
# requests 2.28.2 capping urllib3 below 1.27; the overlay asks for seaborn (which needs a
# newer pandas) and urllib3 2 (which the base's requests forbids).
BASE_WHEELS = (
    WheelSpec("numpy", "1.25.2"),
    WheelSpec("pandas", "2.0.3", requires=("numpy>=1.20.3",)),
    WheelSpec("scipy", "1.10.1", requires=("numpy<1.27,>=1.19.5",)),
    WheelSpec("requests", "2.28.2", requires=("urllib3<1.27,>=1.21.1",)),
    WheelSpec("urllib3", "1.26.15"),
)
INDEX_WHEELS = (
    WheelSpec("seaborn", "0.13.2", requires=("pandas>=2.2", "numpy!=1.24.0,>=1.20")),
    WheelSpec("pandas", "2.2.3", requires=("numpy>=1.22.4",)),
    WheelSpec("urllib3", "2.2.3"),
    WheelSpec("requests", "2.30.0", requires=("urllib3<3,>=1.21.1",)),
)
REQUIRES = ["seaborn==0.13.2", "urllib3==2.2.3"]


@pytest.fixture
def story(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> tuple[Path, Base]:
    """A locked (not synced) overlay of the story; returns (overlay.toml, base)."""
    base = make_base(wheels=[make_wheel(spec) for spec in BASE_WHEELS])
    for spec in INDEX_WHEELS:
        index.add_spec(spec)
    manifest = write_manifest(tmp_path / "p", base, REQUIRES, index=index)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert picks(lock) == {
        "pandas": "2.2.3",
        "requests": "2.30.0",
        "seaborn": "0.13.2",
        "urllib3": "2.2.3",
    }
    return manifest, base


# -- show ------------------------------------------------------------------------------------


def test_show_gives_base_prefix_lock_and_each_package_with_its_reason(
    story: tuple[Path, Base], overlock: Any
) -> None:
    manifest, base = story

    run = overlock("show", "-m", str(manifest))

    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == f"base    {base.prefix} (venv, Python {_py(base)}, 5 distributions)"
    prefix = manifest.parent / "overlay" / base.prefix.name
    assert lines[1] == f"prefix  {prefix}: not synced yet; run `overlock sync`"
    assert lines[2] == f"lock    {manifest.parent / 'pylock.overlay.toml'}: up to date"
    table = lines[lines.index("") + 1 :]
    header, *rows = table[:5]
    # Columns line up: every row's "why" starts where the header's does.
    column = header.index("why")
    assert [r[column:] for r in rows] == [
        "required by seaborn 0.13.2",
        "kept for urllib3 2.2.3",
        "requested: seaborn==0.13.2",
        "requested: urllib3==2.2.3; required by requests 2.30.0",
    ]
    shadows = header.index("shadows")
    assert [r[shadows:column].strip() for r in rows] == [
        "base 2.0.3",
        "base 2.28.2",
        "",
        "base 1.26.15",
    ]
    assert table[-1] == "4 package(s) in the overlay, 3 shadowing the base"
    assert "\033[" not in run.out  # NO_COLOR is set by the test isolation


def test_show_json_has_a_stable_shape(story: tuple[Path, Base], overlock: Any) -> None:
    manifest, base = story

    run = overlock("show", "--json", "-m", str(manifest))

    assert run.code == 0, run.err
    data = run.json()
    assert set(data) == {
        "manifest",
        "lock",
        "base",
        "layers",
        "hidden",
        "hidden_breakage",
        "index",
        "pip_config_files",
        "prefix",
        "packages",
        "upstream_requirements",
    }
    assert data["upstream_requirements"]["requirements"] == []
    # The suite reads no pip configuration file (PIP_CONFIG_FILE is os.devnull).
    assert data["pip_config_files"] == []
    assert data["index"].endswith("(from overlay.toml [index])")
    assert data["layers"] == []  # lower overlays, for an overlay on an overlay
    assert data["hidden"] == data["hidden_breakage"] == []  # [overlay] hide
    assert data["lock"] == {
        "path": str(manifest.parent / "pylock.overlay.toml"),
        "current": True,
        "problems": [],
    }
    assert data["base"]["prefix"] == str(base.prefix)
    assert data["base"]["distributions"] == 5
    assert data["base"]["kind"] == "venv"
    assert data["prefix"]["state"] == "not-synced"
    assert data["prefix"]["synced"] is False
    by_name = {p["name"]: p for p in data["packages"]}
    assert by_name["pandas"] == {
        "name": "pandas",
        "version": "2.2.3",
        "shadows": "2.0.3",
        "shadows_layer": "base",
        "direct": False,
        "source": "index",
        "requested": [],
        "required_by": ["seaborn 0.13.2"],
        "kept_for": [],
        "reason": "required by seaborn 0.13.2",
    }
    assert by_name["requests"]["kept_for"] == ["urllib3 2.2.3"]
    assert by_name["seaborn"]["shadows"] is None


def test_show_says_whether_the_prefix_is_synced_to_this_lock(
    story: tuple[Path, Base], index: PackageIndex, overlock: Any
) -> None:
    manifest, base = story
    assert overlock("sync", "-m", str(manifest)).code == 0

    synced = overlock("show", "--json", "-m", str(manifest)).json()
    assert synced["prefix"]["state"] == "synced"
    assert synced["prefix"]["generation"] == 1
    text = overlock("show", "-m", str(manifest)).out
    assert "synced to this lock (generation 1)" in text

    # A new request and a new lock: the prefix still holds the old one until sync.
    index.add_spec(WheelSpec("tqdm", "4.66.0"))
    write_manifest(manifest.parent, base, [*REQUIRES, "tqdm"], index=index)
    stale = overlock("show", "--json", "-m", str(manifest)).json()
    assert stale["lock"]["current"] is False
    assert stale["lock"]["problems"] == ["overlay.toml changed since the lock was written"]
    assert overlock("lock", "-m", str(manifest)).code == 0
    other = overlock("show", "-m", str(manifest))
    assert "holds another lock (generation 1); run `overlock sync`" in other.out
    assert "tqdm      4.66.0" in other.out


def test_show_without_a_lock_says_to_lock(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    manifest = write_manifest(tmp_path / "p", base, ["anything"], index=index)

    for command in ("show", "why", "export"):
        args = [command, "-m", str(manifest)] + (["anything"] if command == "why" else [])
        run = overlock(*args)
        assert run.code == 1, command
        assert "pylock.overlay.toml does not exist" in run.err
        assert "hint: run `overlock lock` to create it" in run.err
        assert "Traceback" not in run.err


def test_show_of_an_empty_overlay(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(wheels=[make_wheel(name="numpy", version="1.25.2")])
    manifest = write_manifest(tmp_path / "p", base, ["numpy>=1.20"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0

    run = overlock("show", "-m", str(manifest))

    assert run.code == 0, run.err
    assert run.out.splitlines()[-1] == (
        "the overlay holds nothing: the base satisfies every requirement"
    )


# -- why -------------------------------------------------------------------------------------


def test_why_gives_the_chain_from_the_request_down_to_the_package(
    story: tuple[Path, Base], overlock: Any
) -> None:
    manifest, _ = story

    run = overlock("why", "Pandas", "-m", str(manifest))

    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "pandas 2.2.3 is in the overlay (it shadows the base's 2.0.3) because:",
        "  seaborn 0.13.2 (requested: seaborn==0.13.2) -> pandas>=2.2"
        " -> pandas 2.2.3 (shadows base 2.0.3)",
    ]


def test_why_explains_a_package_kept_for_a_base_cap(
    story: tuple[Path, Base], overlock: Any
) -> None:
    manifest, _ = story

    run = overlock("why", "requests", "-m", str(manifest))

    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "requests 2.30.0 is in the overlay (it shadows the base's 2.28.2) because:",
        "  it is kept at 2.30.0 for urllib3 2.2.3:",
        "    the base's requests 2.28.2 requires urllib3<1.27,>=1.21.1,"
        " which urllib3 2.2.3 does not satisfy",
        "    requests 2.30.0 accepts it (urllib3<3,>=1.21.1)",
        "    urllib3 2.2.3 is in the overlay because:",
        "      urllib3 2.2.3 (requested: urllib3==2.2.3; shadows base 1.26.15)",
    ]


def test_why_through_an_extra_of_a_base_package_and_a_longer_chain(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(
        wheels=[make_wheel(name="webclient", version="1.0", extras={"socks": ("socksy>=1.5",)})]
    )
    index.add_spec(WheelSpec("socksy", "1.7", requires=("wirelib~=2.0",)))
    index.add_spec(WheelSpec("wirelib", "2.0.1"))
    manifest = write_manifest(tmp_path / "p", base, ["webclient[socks]"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0

    run = overlock("why", "wirelib", "-m", str(manifest))

    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "wirelib 2.0.1 is in the overlay because:",
        "  webclient[socks] 1.0 (base; requested: webclient[socks]) -> socksy>=1.5"
        " -> socksy 1.7 -> wirelib~=2.0 -> wirelib 2.0.1",
    ]
    base_copy = overlock("why", "webclient", "-m", str(manifest))
    assert base_copy.out.splitlines() == [
        "the base's webclient 1.0 is used: it satisfies every requirement on it:",
        "  webclient[socks] (from overlay.toml)",
    ]


def test_why_a_base_copy_is_used(story: tuple[Path, Base], overlock: Any) -> None:
    manifest, _ = story

    run = overlock("why", "NumPy", "-m", str(manifest))

    assert run.code == 0, run.err
    # The base's pandas 2.0.3 is shadowed, so its requirement no longer counts.
    assert run.out.splitlines() == [
        "the base's numpy 1.25.2 is used: it satisfies every requirement on it:",
        "  numpy>=1.22.4 (from pandas 2.2.3)",
        "  numpy!=1.24.0,>=1.20 (from seaborn 0.13.2)",
        "  numpy<1.27,>=1.19.5 (from base scipy 1.10.1)",
    ]


def test_why_json(story: tuple[Path, Base], overlock: Any) -> None:
    manifest, _ = story

    data = overlock("why", "pandas", "--json", "-m", str(manifest)).json()

    assert data["in_overlay"] is True
    assert data["shadows"] == "2.0.3"
    assert data["chains"] == [
        [
            {
                "name": "seaborn",
                "version": "0.13.2",
                "via": None,
                "note": "requested: seaborn==0.13.2",
            },
            {
                "name": "pandas",
                "version": "2.2.3",
                "via": "pandas>=2.2",
                "note": "shadows base 2.0.3",
            },
        ]
    ]
    numpy = overlock("why", "numpy", "--json", "-m", str(manifest)).json()
    assert numpy["in_overlay"] is False
    assert {d["from"]: d["layer"] for d in numpy["demands"]} == {
        "pandas 2.2.3": "overlay",
        "seaborn 0.13.2": "overlay",
        "scipy 1.10.1": "base",
    }
    assert all(d["satisfied"] for d in numpy["demands"])


def test_why_an_unknown_name_exits_1_with_a_suggestion(
    story: tuple[Path, Base], overlock: Any
) -> None:
    manifest, _ = story

    run = overlock("why", "seabron", "-m", str(manifest))

    assert run.code == 1
    assert run.out == ""
    assert "error: seabron is neither in the overlay nor in the base" in run.err
    assert "hint: did you mean `overlock why seaborn`?" in run.err
    assert "Traceback" not in run.err


def test_why_without_cached_metadata_reads_the_index_and_without_the_index_still_answers(
    story: tuple[Path, Base], index: PackageIndex, overlock: Any, tmp_path: Path
) -> None:
    manifest, _ = story
    shutil.rmtree(tmp_path / "overlock-cache")
    index.reset_log()

    run = overlock("why", "pandas", "-m", str(manifest))

    assert run.code == 0, run.err
    assert "-> pandas>=2.2 ->" in run.out
    assert index.count("/files/seaborn-*") > 0

    shutil.rmtree(tmp_path / "overlock-cache")
    index.stop()
    offline = overlock("why", "pandas", "-m", str(manifest))
    assert offline.code == 0, offline.err
    assert offline.out.splitlines()[1] == (
        "  seaborn 0.13.2 (requested: seaborn==0.13.2) -> pandas 2.2.3 (shadows base 2.0.3)"
    )
    assert "requirement texts unknown for seaborn 0.13.2" in offline.out


def test_why_uses_the_synced_prefix_when_the_cache_is_gone(
    story: tuple[Path, Base], index: PackageIndex, overlock: Any, tmp_path: Path
) -> None:
    manifest, _ = story
    assert overlock("sync", "-m", str(manifest)).code == 0
    shutil.rmtree(tmp_path / "overlock-cache")
    index.stop()

    run = overlock("why", "pandas", "-m", str(manifest))

    assert run.code == 0, run.err
    assert "-> pandas>=2.2 ->" in run.out


# -- export ----------------------------------------------------------------------------------


def test_export_reproduces_the_overlay_with_plain_pip(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(wheels=[make_wheel(spec) for spec in BASE_WHEELS])
    for spec in INDEX_WHEELS:
        index.add_spec(spec)
    patched = make_wheel(name="patched", version="1.0.1", requires=("numpy",))
    manifest = write_manifest(
        tmp_path / "p", base, [*REQUIRES, f"patched @ {patched.as_uri()}"], index=index
    )
    assert overlock("lock", "-m", str(manifest)).code == 0
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    out_file = tmp_path / "reqs.txt"

    run = overlock("export", "--format", "requirements", "-o", str(out_file), "-m", str(manifest))

    assert run.code == 0, run.err
    text = out_file.read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# Generated by overlock ")
    assert str(manifest.parent / "pylock.overlay.toml") in lines[0]
    prefix = manifest.parent / "overlay" / base.prefix.name
    command = (
        f"{lock.base_python} -m pip install -I --no-deps --require-hashes --prefix {prefix}"
        f" -r {out_file}"
    )
    assert f"#   {command}" in lines
    assert command in run.err
    assert f"--index-url {index.url}" in lines
    by_name = lock.by_name
    body = [line for line in lines if line and not line.startswith(("#", "--"))]
    assert body == [
        "pandas==2.2.3 \\",
        f"    --hash=sha256:{by_name['pandas'].file.sha256}",
        f"patched @ {patched.as_uri()} \\",
        f"    --hash=sha256:{by_name['patched'].file.sha256}",
        "requests==2.30.0 \\",
        f"    --hash=sha256:{by_name['requests'].file.sha256}",
        "seaborn==0.13.2 \\",
        f"    --hash=sha256:{by_name['seaborn'].file.sha256}",
        "urllib3==2.2.3 \\",
        f"    --hash=sha256:{by_name['urllib3'].file.sha256}",
    ]

    # The command from the header, run by a real pip (the base has none: a venv-less base is
    # normal, so the runner's pip of the same Python stands in for it).
    target = tmp_path / "plain-pip-prefix"
    argv = shlex.split(command.replace(str(prefix), str(target)))
    argv[0] = sys.executable
    proc = subprocess.run(
        [*argv, "--no-cache-dir"],
        capture_output=True,
        text=True,
        env=clean_env({"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INPUT": "1"}),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = target / Path(base.scheme()["purelib"]).relative_to(base.prefix)
    installed = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        installed[canonicalize_name(name)] = version
    assert installed == picks(lock)


def test_export_to_stdout_never_carries_credentials(
    tmp_path: Path, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(wheels=[make_wheel(name="numpy", version="1.25.2")])
    with PackageIndex(tmp_path / "private", auth=("deploy", "s3cr3t-token")) as private:
        private.add_spec(WheelSpec("tqdm", "4.66.0"))
        manifest = write_manifest(tmp_path / "p", base, ["tqdm"], index=private)
        assert overlock("lock", "-m", str(manifest)).code == 0

        run = overlock("export", "-m", str(manifest))
        plain_url = private.plain_url

    assert run.code == 0, run.err
    assert "s3cr3t" not in run.out and "deploy" not in run.out
    assert f"--index-url {plain_url}" in run.out.splitlines()
    assert "tqdm==4.66.0 \\" in run.out.splitlines()
    assert "Credentials are not written here" in run.out


def test_export_warns_when_the_lock_is_stale(story: tuple[Path, Base], overlock: Any) -> None:
    manifest, base = story
    write_manifest(manifest.parent, base, ["seaborn"], index=None)

    run = overlock("export", "-m", str(manifest))

    assert run.code == 0, run.err
    assert "warning: overlay.toml changed since the lock was written" in run.err
    assert "seaborn==0.13.2 \\" in run.out


# -- CLI conventions -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "why", "export"])
def test_help_has_an_example(command: str, overlock: Any, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        overlock(command, "--help")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out
    assert f"overlock {command}" in out.split("example:")[1]


def test_export_accepts_only_the_requirements_format(overlock: Any, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        overlock("export", "--format", "conda")
    assert exc.value.code == 2
    assert "invalid choice: 'conda'" in capsys.readouterr().err


def test_show_in_colour_only_on_a_terminal(
    story: tuple[Path, Base], overlock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from overlock.cli.output import Output

    manifest, _ = story
    monkeypatch.setattr(Output, "_tty", lambda self, stream: True)
    assert "\033[" not in overlock("show", "-m", str(manifest)).out  # NO_COLOR is set
    monkeypatch.delenv("NO_COLOR")
    coloured = overlock("show", "-m", str(manifest)).out
    assert "\033[33mbase 2.0.3" in coloured
    assert "\033[" not in overlock("show", "--json", "-m", str(manifest)).out


def _py(base: Base) -> str:
    return str(
        json.loads(
            subprocess.run(
                [
                    str(base.python),
                    "-c",
                    "import platform, json; print(json.dumps(platform.python_version()))",
                ],
                capture_output=True,
                text=True,
                check=True,
                env=clean_env(),
            ).stdout
        )
    )


def test_export_sorts_sources_into_index_and_find_links_and_lists_unhashable_sources(
    tmp_path: Path,
) -> None:
    from overlock.index.pipconfig import IndexConfig
    from overlock.lock.pylock import Lock, LockedFile, LockedPackage, LockedVcs
    from overlock.report.export import requirements

    def pkg(name: str, version: str, index: str | None, **kw: Any) -> LockedPackage:
        f = LockedFile(f"{name}-{version}-py3-none-any.whl", f"{index}/{name}.whl", 1, "ab" * 32)
        return LockedPackage(canonicalize_name(name), version, wheel=f, index=index, **kw)

    config = IndexConfig.from_manifest(
        ["https://tok:en@mirror.example/simple/", "https://extra.example/simple/"],
        ["/srv/wheels"],
    )
    lock = Lock(
        packages=(
            pkg("alpha", "1.0", "https://extra.example/simple/"),
            pkg("beta", "2.0", "https://mirror.example/simple/"),
            pkg("gamma", "3.0", "/srv/wheels"),
            LockedPackage(
                canonicalize_name("delta"),
                "0.1",
                vcs=LockedVcs(url="https://git.example/delta.git", commit_id="c0ffee"),
            ),
        ),
        base_fingerprint="sha256:x",
        manifest_hash="sha256:y",
        base_python_version="3.11.7",
        base_python="/opt/base/bin/python",
    )

    exported = requirements(lock, lock_path=str(tmp_path / "pylock.overlay.toml"), prefix="/o p")

    # Without the configuration, http(s) labels are indexes, in the order of the lock.
    assert exported.index_urls == (
        "https://extra.example/simple/",
        "https://mirror.example/simple/",
    )
    exported = requirements(
        lock, lock_path=str(tmp_path / "pylock.overlay.toml"), prefix="/o p", config=config
    )
    lines = exported.text.splitlines()
    # The configuration's primary index stays primary; its password never appears.
    assert "--index-url https://mirror.example/simple/" in lines
    assert "--extra-index-url https://extra.example/simple/" in lines
    assert "--find-links /srv/wheels" in lines
    assert "tok" not in exported.text
    assert exported.packages == ("alpha==1.0", "beta==2.0", "gamma==3.0")
    assert exported.skipped == ("delta @ git+https://git.example/delta.git@c0ffee",)
    assert (
        "#   /opt/base/bin/python -m pip install -I --no-deps --prefix '/o p'"
        " 'delta @ git+https://git.example/delta.git@c0ffee'" in lines
    )
    assert "--require-hashes --prefix '/o p' -r requirements.txt" in exported.command

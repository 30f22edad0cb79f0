"""The base's own pip.conf (pip's "site" file, ``sys.prefix/pip.conf`` of the base as its probe
reports it) is honoured in pip's order and named by `overlock show`."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.index.pipconfig import IndexConfig

Overlock = Callable[..., Run]


def _dead_index() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    return f"http://127.0.0.1:{port}/simple/"  # nothing listens there


@pytest.fixture
def setup(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Base, Path]:
    """A base whose pip.conf names the harness index, an overlay.toml without [index], and
    pip's own files read again (the suite's isolation disables them) from empty places."""
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    index.add_spec(WheelSpec(name="alpha", version="2.0"))
    base.make_writable()
    (base.prefix / "pip.conf").write_text(f"[global]\nindex-url = {index.url}\nretries = 0\n")
    base.make_readonly()
    monkeypatch.delenv("PIP_CONFIG_FILE")
    monkeypatch.setattr("overlock.index.pipconfig.SYSTEM_CONFIG", tmp_path / "no-etc" / "pip.conf")
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "no-global"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    manifest = write_manifest(tmp_path / "p", base, ["alpha==2.0"])
    return base, manifest


def test_the_bases_pip_conf_is_honoured_and_shown(
    setup: tuple[Base, Path], index: PackageIndex, overlock: Overlock
) -> None:
    base, manifest = setup
    before = base.checksum()
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    assert index.count("*/alpha/*") > 0
    assert base.checksum() == before

    show = overlock("show", "-m", str(manifest))
    assert show.code == 0, show.err
    site = f"{base.prefix / 'pip.conf'} (site)"
    assert site in show.out and index.url in show.out, show.out
    data = json.loads(overlock("show", "-m", str(manifest), "--json").out)
    assert site in data["pip_config_files"]
    assert data["index"].startswith(index.url)


def test_site_beats_user_and_pip_config_file_and_variables_beat_site(
    setup: tuple[Base, Path],
    index: PackageIndex,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _base, manifest = setup
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "pip" / "pip.conf"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(f"[global]\nindex-url = {_dead_index()}\n")
    try:
        # user < site: the base's file wins over the user's.
        assert overlock("lock", "-m", str(manifest)).code == 0

        # site < PIP_CONFIG_FILE: the file the variable names wins over the base's.
        named = tmp_path / "named.conf"
        named.write_text(f"[global]\nindex-url = {_dead_index()}\n")
        monkeypatch.setenv("PIP_CONFIG_FILE", str(named))
        failed = overlock("lock", "-m", str(manifest), "--upgrade")
        assert failed.code != 0 and "127.0.0.1" in failed.err

        # PIP_* variables beat every file.
        monkeypatch.setenv("PIP_INDEX_URL", index.url)
        assert overlock("lock", "-m", str(manifest), "--upgrade").code == 0
    finally:
        user.unlink()


def test_site_file_is_the_given_prefix_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site file comes from the prefix the caller names (the base's, from its probe);
    with none, no site file is read, whatever this process's sys.prefix holds."""
    monkeypatch.setattr("overlock.index.pipconfig.SYSTEM_CONFIG", tmp_path / "no-etc" / "pip.conf")
    prefix = tmp_path / "env"
    prefix.mkdir()
    (prefix / "pip.conf").write_text(
        "[global]\nindex-url = https://mirror.example/simple\nproxy = proxy.example:3128\n"
        "[install]\nextra-index-url = https://extra.example/simple\n"
    )
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_DIRS": str(tmp_path / "none")}
    config = IndexConfig.from_pip_config(env, site_prefix=str(prefix))
    assert config.index_urls == (
        "https://mirror.example/simple",
        "https://extra.example/simple",
    )
    assert config.proxy == "http://proxy.example:3128"  # pip's scheme-less form
    assert config.config_files[-1] == f"{prefix / 'pip.conf'} (site)"
    assert "proxy.example" not in repr(config)

    bare = IndexConfig.from_pip_config(env)
    assert not any(f.endswith("(site)") for f in bare.config_files)
    assert bare.index_urls == ("https://pypi.org/simple/",)
    # os.devnull as PIP_CONFIG_FILE turns every file off, the site file too (pip's rule).
    off = IndexConfig.from_pip_config(
        {**env, "PIP_CONFIG_FILE": os.devnull}, site_prefix=str(prefix)
    )
    assert off.config_files == () and off.index_urls == ("https://pypi.org/simple/",)

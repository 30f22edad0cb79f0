"""Two small shared rules: what a URL's fragment says, and what a base process inherits."""

from __future__ import annotations

import pytest
from packaging.direct_url import DirectUrl

from overlock.baseproc import BUILD_DROPS, NO_BYTECODE_ENV, base_environ
from overlock.dists.urls import (
    archive_direct_url,
    directory_direct_url,
    fragment_hashes,
    fragment_subdirectory,
    vcs_direct_url,
    without_fragment,
)

pytestmark = pytest.mark.unit


def test_fragments_as_pip_reads_them() -> None:
    url = "https://h/x-1.0.tar.gz#egg=x&sha256=ABC&md5=def&subdirectory=pkg/sub"
    assert fragment_hashes(url, ("sha256",)) == {"sha256": "abc"}
    assert fragment_hashes(url, ("md5",)) == {}  # one hash per URL, the first, as in pip
    assert fragment_subdirectory(url) == "pkg/sub"
    assert fragment_subdirectory("git+https://h/x.git@v1") is None
    assert without_fragment(url) == "https://h/x-1.0.tar.gz"


def test_a_base_process_sees_the_base_alone_and_writes_no_bytecode() -> None:
    ours = {
        "PATH": "/bin",
        "PYTHONPATH": "/elsewhere",
        "PYTHONIOENCODING": "utf-8",
        "__PYVENV_LAUNCHER__": "/other/python",
        NO_BYTECODE_ENV: "",
        "VIRTUAL_ENV": "/venv",
    }
    assert base_environ(ours) == {"PATH": "/bin", "VIRTUAL_ENV": "/venv", NO_BYTECODE_ENV: "1"}
    # A build keeps the PYTHON* settings that do not point elsewhere.
    build = base_environ(ours, keep_python_vars=True, drop=BUILD_DROPS, extra={NO_BYTECODE_ENV: ""})
    assert build == {"PATH": "/bin", "PYTHONIOENCODING": "utf-8", NO_BYTECODE_ENV: "1"}


def test_direct_url_json_is_pep_610_with_the_legacy_hash_kept() -> None:
    data = archive_direct_url("https://h/x-1.0-py3-none-any.whl", "ab" * 32)
    assert DirectUrl.from_dict(data).archive_info is not None
    assert data["archive_info"] == {"hashes": {"sha256": "ab" * 32}, "hash": "sha256=" + "ab" * 32}
    assert directory_direct_url("file:///src/x", editable=True)["dir_info"] == {"editable": True}
    assert directory_direct_url("file:///src/x", editable=False)["dir_info"] == {}
    vcs = vcs_direct_url("https://g/x.git", "c0ffee", requested_revision=None, subdirectory="s")
    assert vcs == {
        "url": "https://g/x.git",
        "vcs_info": {"vcs": "git", "commit_id": "c0ffee"},
        "subdirectory": "s",
    }

"""Two small shared rules: what a URL's fragment says, and what a base process inherits."""

from __future__ import annotations

import pytest

from overlock.baseproc import BUILD_DROPS, NO_BYTECODE_ENV, base_environ
from overlock.dists.urls import fragment_hashes, fragment_subdirectory, without_fragment

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

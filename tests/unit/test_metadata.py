"""METADATA as overlock reads it, on the messy inputs real distributions ship."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from overlock.dists.metadata import (
    BadWheel,
    metadata_hash,
    metadata_member,
    parse_metadata,
    read_wheel_metadata,
)

pytestmark = pytest.mark.unit


def test_folded_lines_legacy_bytes_and_a_description_body() -> None:
    data = (
        b"Metadata-Version: 2.1\n"
        b"Name: Scan_Lib\n"
        b"Version: 1.5.0\n"
        b"Requires-Dist: hdfio (>=2)\n"
        b"Requires-Dist: numpy>=1.21;\n"
        b"  python_version >= '3.9'\n"
        b"Requires-Dist: \n"
        b"Requires-Python: >=3.8\n"
        b"Provides-Extra: Plot\n"
        b"Summary: caf\xe9 in latin-1\n"
        b"\n"
        b"Requires-Dist: not-a-header (this is the description)\n"
    )
    meta = parse_metadata(data)
    assert meta.name == "scan-lib"
    assert meta.version == "1.5.0"
    assert meta.requires == ("hdfio (>=2)", "numpy>=1.21; python_version >= '3.9'")
    assert meta.requires_python == ">=3.8"
    assert meta.provides_extra == ("Plot",)


def test_missing_fields_come_from_what_the_caller_knows() -> None:
    meta = parse_metadata(b"Metadata-Version: 2.1\n", "Fallback.Name", "2.0")
    assert (meta.name, meta.version, meta.requires) == ("fallback-name", "2.0", ())
    assert parse_metadata("").name == ""


def test_a_field_given_twice_is_set_aside_not_guessed() -> None:
    meta = parse_metadata(b"Name: one\nName: two\nVersion: 1\n", "fromfile")
    assert meta.name == "fromfile"


def test_the_hash_follows_meaning_not_spelling() -> None:
    a = metadata_hash(b"Name: x\nVersion: 1\nRequires-Dist: b\nRequires-Dist: a\n\nbody one\n")
    b = metadata_hash(b"Version: 1\nName: X\nRequires-Dist: a\nRequires-Dist: b\n\nbody two\n")
    c = metadata_hash(b"Name: x\nVersion: 1\nRequires-Dist: a\n")
    assert a == b != c


def _wheel(tmp_path: Path, members: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    path = tmp_path / "w-1.0-py3-none-any.whl"
    path.write_bytes(buf.getvalue())
    return path


def test_the_metadata_member_of_a_wheel(tmp_path: Path) -> None:
    one = _wheel(tmp_path, {"w/__init__.py": b"", "w-1.0.dist-info/METADATA": b"Name: w\n"})
    assert read_wheel_metadata(one) == b"Name: w\n"
    names = ["a-1.dist-info/METADATA", "w-1.0.dist-info/METADATA", "x/y.dist-info/METADATA"]
    assert metadata_member(names, "W") == "w-1.0.dist-info/METADATA"
    with pytest.raises(BadWheel, match="found 2"):
        metadata_member(names)  # two candidates and no project to choose by
    with pytest.raises(BadWheel, match="found 0"):
        read_wheel_metadata(_wheel(tmp_path, {"w/__init__.py": b""}))

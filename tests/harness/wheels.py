"""A wheel factory: real, installable ``.whl`` files built in code with ``zipfile``.

Every byte is a function of the spec (fixed timestamps, fixed member order, fixed
permissions), so the same spec always gives the same sha256. Tests can therefore build a
wheel twice, in two places, and rely on both copies matching a lock.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

# The earliest date a zip header can hold; anything fixed would do, this one is conventional.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class WheelSpec:
    name: str
    version: str
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tag: str = "py3-none-any"
    files: Mapping[str, str | bytes] | None = None
    entry_points: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    pth: Mapping[str, str] = field(default_factory=dict)
    import_name: str | None = None
    build: str | None = None

    @property
    def module(self) -> str:
        return self.import_name or self.name.replace("-", "_").replace(".", "_")

    @property
    def escaped_name(self) -> str:
        # PEP 427 / binary distribution format: normalized, with runs of -_. as one "_".
        return canonicalize_name(self.name).replace("-", "_")

    @property
    def escaped_version(self) -> str:
        return self.version.replace("-", "_")

    @property
    def dist_info(self) -> str:
        return f"{self.escaped_name}-{self.escaped_version}.dist-info"

    @property
    def is_purelib(self) -> bool:
        return all(t.abi == "none" and t.platform == "any" for t in parse_tag(self.tag))

    def cache_key(self) -> str:
        """A stable key for caches: the spec is not hashable (it holds mappings)."""
        return hashlib.sha256(repr(self).encode()).hexdigest()


class MakeWheel(Protocol):
    """The ``make_wheel`` fixture: ``make_wheel(WheelSpec(...))`` or ``make_wheel(name=...)``."""

    def __call__(self, spec: WheelSpec | None = None, /, **kwargs: Any) -> Path: ...


def wheel_filename(spec: WheelSpec) -> str:
    build = f"-{spec.build}" if spec.build else ""
    return f"{spec.escaped_name}-{spec.escaped_version}{build}-{spec.tag}.whl"


def _with_extra(requirement: str, extra: str) -> str:
    head, sep, marker = requirement.partition(";")
    head = head.strip()
    if sep and marker.strip():
        # Parenthesised because the existing marker may contain "or", which binds looser
        # than the "and" we add.
        return f'{head}; ({marker.strip()}) and extra == "{extra}"'
    return f'{head}; extra == "{extra}"'


def metadata_text(spec: WheelSpec) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {spec.name}", f"Version: {spec.version}"]
    if spec.requires_python is not None:
        lines.append(f"Requires-Python: {spec.requires_python}")
    lines.extend(f"Requires-Dist: {req}" for req in spec.requires)
    for extra, reqs in spec.extras.items():
        lines.append(f"Provides-Extra: {extra}")
        lines.extend(f"Requires-Dist: {_with_extra(req, extra)}" for req in reqs)
    return "\n".join(lines) + "\n\n"


def _wheel_text(spec: WheelSpec) -> str:
    lines = [
        "Wheel-Version: 1.0",
        "Generator: overlock-test-harness",
        f"Root-Is-Purelib: {'true' if spec.is_purelib else 'false'}",
    ]
    if spec.build:
        lines.append(f"Build: {spec.build}")
    lines.extend(f"Tag: {tag}" for tag in sorted(str(t) for t in parse_tag(spec.tag)))
    return "\n".join(lines) + "\n"


def _entry_points_text(entry_points: Mapping[str, Mapping[str, str]]) -> str:
    out: list[str] = []
    for group, items in entry_points.items():
        out.append(f"[{group}]")
        out.extend(f"{name} = {target}" for name, target in items.items())
        out.append("")
    return "\n".join(out)


def _default_files(spec: WheelSpec) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        f"{spec.module}/__init__.py": (
            f'__version__ = "{spec.version}"\n\n\n'
            f"def main() -> None:\n"
            f'    print("{spec.name} {spec.version}")\n'
        ),
    }
    if not spec.is_purelib:
        # Never imported; it only has to look like an extension module to tools that
        # inspect file names (platlib placement, "is this compiled?" heuristics).
        files[f"{spec.module}/_native.so"] = b"\x7fELF\x02\x01\x01 not really a shared object\n"
    return files


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _as_bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def wheel_members(spec: WheelSpec) -> list[tuple[str, bytes]]:
    """Archive members in the order they are written, RECORD last."""
    files = _default_files(spec) if spec.files is None else dict(spec.files)
    for pth_name, content in spec.pth.items():
        files[pth_name] = content
    members = [(path, _as_bytes(content)) for path, content in sorted(files.items())]
    members.append((f"{spec.dist_info}/METADATA", metadata_text(spec).encode()))
    members.append((f"{spec.dist_info}/WHEEL", _wheel_text(spec).encode()))
    if spec.entry_points:
        members.append(
            (f"{spec.dist_info}/entry_points.txt", _entry_points_text(spec.entry_points).encode())
        )
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in members:
        writer.writerow([path, _record_hash(data), str(len(data))])
    writer.writerow([f"{spec.dist_info}/RECORD", "", ""])
    members.append((f"{spec.dist_info}/RECORD", record.getvalue().encode()))
    return members


def build_wheel(spec: WheelSpec, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in wheel_members(spec):
            info = zipfile.ZipInfo(path, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    target = dest / wheel_filename(spec)
    target.write_bytes(buffer.getvalue())
    return target


def build_sdist(name: str, version: str, dest: Path) -> Path:
    """A minimal sdist: enough to be listed on an index, not meant to be built."""
    dest.mkdir(parents=True, exist_ok=True)
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    members = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n",
        "pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=68"]\n'
            'build-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
        ),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, text in sorted(members.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}/{path}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    target = dest / f"{stem}.tar.gz"
    # mtime=0 and no file name in the gzip header keep the bytes reproducible.
    with (
        open(target, "wb") as out,
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz,
    ):
        gz.write(raw.getvalue())
    return target


def resigned(
    wheel: Path, out: Path, change: Mapping[str, bytes], *, algorithm: str = "sha256"
) -> Path:
    """A copy of ``wheel`` in ``out`` with members replaced or added and a RECORD that agrees
    with them, hashed with ``algorithm``: consistent with itself, whatever else is wrong."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / wheel.name
    with zipfile.ZipFile(wheel) as src:
        members = {n: src.read(n) for n in src.namelist()}
    members.update(change)
    [record] = [n for n in members if n.endswith(".dist-info/RECORD")]
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    for name, data in members.items():
        if name == record:
            writer.writerow([name, "", ""])
            continue
        digest = base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).rstrip(b"=")
        writer.writerow([name, f"{algorithm}={digest.decode()}", len(data)])
    members[record] = rows.getvalue().encode()
    with zipfile.ZipFile(target, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    return target

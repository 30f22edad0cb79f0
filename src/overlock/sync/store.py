"""The unpacked store: each wheel unpacked once per cache, generations linked from it.

Layout under ``Cache.unpacked_root()`` (``cache.UNPACKED_FORMAT`` is part of that path)::

    <sha256[:2]>/<sha256>/               one entry per wheel, named by the wheel's sha256
        tree/...                         the archive's members, as in the archive, read-only
        entry.json                       what place() needs: each member's scheme, path,
                                         sha256, size, and the stat key it was sealed with
    tmp/                                 entries being unpacked (renamed into place whole)
    trash/                               damaged entries on their way out
    lock                                 held shared by syncs while they look up, unpack
                                         and link entries; exclusive by ``overlock cache
                                         prune|clean`` (app/cachetool.py), which remove them

What an entry holds depends on the wheel's bytes alone: nothing about a base, a prefix or
an install scheme is in it, so every overlay of every base shares it. Everything that does
depend on them is written per generation by ``install_entry``: the mapping of each member
to purelib/platlib/scripts/data/headers, the entry-point launchers, ``#!python`` scripts,
RECORD, INSTALLER, REQUESTED and direct_url.json. Byte-code is not stored: it is made per
generation by the base interpreter (bytecode.ByteCompiler), because a ``.pyc`` belongs to one
interpreter version while an entry serves every base, and compiling must never write into
a sealed entry. (uv does the same: it compiles in the environment after linking, and its
cache holds no byte-code.)

Safety, since a generation's files are hard links to an entry's:

* an entry is unpacked into ``tmp/``, checked member by member against the wheel's RECORD
  (install.CheckedWheel: containment, sizes bounded before decompressing, hashes), sealed,
  and only then renamed into place; two syncs unpacking one wheel both finish, the second
  rename loses and uses the winner's entry;
* sealed files are read-only (0444, 0555 when executable): an edit in a prefix fails with
  "Permission denied", and editors that keep a backup write a new file, breaking the link;
* a sealed file's stat key (inode, size, mtime, mode) is recorded; ``damage`` compares it
  before an entry is linked, so an entry edited in place (by root, or after a chmod) or a
  file replaced is unpacked again from the wheel instead of linked into another generation;
* ``overlock check`` verifies every installed file against RECORD, which catches an edit
  that kept the stat key too.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from installer.records import RecordEntry
from installer.utils import SCHEME_NAMES, Scheme, parse_entrypoints

from overlock.base.env import BaseEnv
from overlock.cache import UNPACKED_FORMAT
from overlock.errors import SyncError
from overlock.filelock import flocked
from overlock.sync.install import (
    CheckedWheel,
    OverlayDestination,
    install_errors,
    install_metadata,
    overlay_destination,
    project_name,
    read_checked,
)
from overlock.sync.placing import WRITTEN, Placer

STORE_FORMAT = UNPACKED_FORMAT
ENTRY_FILE = "entry.json"
LOCK_FILE = "lock"
TREE = "tree"
_TREE = Scheme("tree")  # the one "scheme" of an entry: the archive as it is


class StoredFile(NamedTuple):
    """One member of a wheel, as unpacked into an entry (a row of entry.json as it is)."""

    path: str  # in the archive (and below tree/)
    scheme: str  # where it is installed: purelib, platlib, scripts, data, headers
    rel: str  # path within that scheme
    digest: str  # urlsafe-base64 sha256, as RECORD writes it
    size: int
    # The stat key when sealed: a changed one means the file is not what was unpacked.
    ino: int
    mtime_ns: int
    mode: int


@dataclass(frozen=True)
class Entry:
    """A wheel unpacked in the store."""

    root: Path
    sha256: str
    name: str  # the project, as the wheel's file name gives it
    dist_info: str
    root_scheme: str
    files: tuple[StoredFile, ...]
    entry_points: str | None  # entry_points.txt, when the wheel has one

    @property
    def tree(self) -> Path:
        return self.root / TREE

    def damage(self) -> str | None:
        """The first file that is no longer as it was sealed, or None.

        One ``lstat`` per file: an edit changes the modification time (and a chmod to allow
        it the mode), a replaced file has another inode, a symbolic link is not a file.
        """
        tree = str(self.tree) + os.sep
        for f in self.files:
            try:
                st = os.lstat(tree + f.path)
            except OSError:
                return f"{f.path} is missing"
            if (
                st.st_ino != f.ino
                or st.st_mtime_ns != f.mtime_ns
                or st.st_mode != f.mode  # a regular file's, read-only, as sealed
                or st.st_size != f.size
            ):
                return f"{f.path} changed since it was unpacked"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "store-format": STORE_FORMAT,
            "sha256": self.sha256,
            "name": self.name,
            "dist-info": self.dist_info,
            "root-scheme": self.root_scheme,
            "entry-points": self.entry_points,
            "files": [list(f) for f in self.files],
        }

    @classmethod
    def from_json(cls, root: Path, data: Mapping[str, Any]) -> Entry:
        if data.get("store-format") != STORE_FORMAT:
            raise ValueError(f"unknown store format {data.get('store-format')!r}")
        return cls(
            root=root,
            sha256=str(data["sha256"]),
            name=str(data["name"]),
            dist_info=str(data["dist-info"]),
            root_scheme=str(data["root-scheme"]),
            files=tuple(map(StoredFile._make, data["files"])),
            entry_points=None if data["entry-points"] is None else str(data["entry-points"]),
        )


class Store:
    """The unpacked store at ``root`` (``Cache.unpacked_root()``), created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    @contextlib.contextmanager
    def using(self, on_wait: Callable[[], object] | None = None) -> Iterator[None]:
        """Hold the store's lock shared: no entry is removed by a prune or clean meanwhile
        (``on_wait()`` first if one is running).

        A prune removes only entries no file of which is linked anywhere else, so what a
        generation linked stays safe after this ends. A store whose lock file cannot be
        opened (a read-only cache) is used without it.
        """
        with contextlib.ExitStack() as held:
            with contextlib.suppress(OSError):
                self.root.mkdir(parents=True, exist_ok=True)
                lock = flocked(self.root / LOCK_FILE, exclusive=False, on_wait=on_wait)
                held.enter_context(lock)
            yield

    def entry_dir(self, sha256: str) -> Path:
        sha = sha256.lower()
        if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha[:2] / sha

    def get(self, sha256: str) -> Entry | None:
        """The entry of the wheel with ``sha256``, if one was sealed (not checked: ``damage``)."""
        root = self.entry_dir(sha256)
        try:
            data = json.loads((root / ENTRY_FILE).read_bytes())
            entry = Entry.from_json(root, data)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return entry if entry.sha256 == sha256.lower() else None

    def discard(self, sha256: str) -> None:
        """Remove the entry of ``sha256``; generations linked from it keep their files."""
        root = self.entry_dir(sha256)
        trash = self.root / "trash"
        trash.mkdir(parents=True, exist_ok=True)
        gone = Path(tempfile.mkdtemp(dir=trash))
        with contextlib.suppress(FileNotFoundError):  # atomic: never seen half-removed
            root.rename(gone / "entry")
        _remove_tree(gone)

    def add(self, wheel: Path, sha256: str) -> Entry:
        """The entry of ``wheel`` (whose bytes must hash to ``sha256``), unpacked if need be.

        Raises HashMismatchError, or SyncError for a wheel that is not valid.
        """
        found = self.get(sha256)
        return found if found is not None else self.commit(self.unpack(wheel, sha256))

    def unpack(self, wheel: Path, sha256: str) -> Entry:
        """Unpack ``wheel`` into a private directory of the store, not yet visible."""
        data, _ = read_checked(wheel, sha256)
        tmp_root = self.root / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=tmp_root))
        try:
            return _unpack(wheel, data, sha256, tmp)
        except BaseException:
            _remove_tree(tmp)
            raise

    def commit(self, unpacked: Entry) -> Entry:
        """Rename an ``unpack``ed entry into place, whole; the entry now in place.

        When another sync put the same wheel's entry there first, that one stays and
        ``unpacked`` is removed: the two hold the same files.
        """
        final = self.entry_dir(unpacked.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            unpacked.root.rename(final)
        except OSError as exc:
            _remove_tree(unpacked.root)
            found = self.get(unpacked.sha256)
            if found is None:
                raise SyncError(
                    f"cannot add {unpacked.name}'s files to the store at {final}: {exc}"
                ) from exc
            return found
        return replace(unpacked, root=final)


def _unpack(wheel: Path, data: bytes, sha256: str, tmp: Path) -> Entry:
    """Unpack the checked bytes ``data`` of ``wheel`` into ``tmp``/tree and seal them."""
    tree = tmp / TREE
    # Paths are checked against tree/ alone: what an entry may not hold in a prefix (the
    # state directory, a path out of a scheme) is checked when it is placed.
    destination = OverlayDestination(
        scheme_dict={_TREE: str(tree)},
        interpreter="",
        script_kind="posix",
        target=str(tmp),
        sealed={},  # each file written read-only, its stat key kept (no chmod, no stat)
    )
    files: list[tuple[str, str, str, str, int]] = []
    with install_errors(wheel.name, tmp), zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.filename = str(wheel)
        source = CheckedWheel(archive)
        root_scheme = source.root_scheme()
        dist_info = source.dist_info_dir
        data_dir = source.data_dir
        try:
            entry_points: str | None = source.read_dist_info("entry_points.txt")
        except KeyError:
            entry_points = None
        for row, stream, executable in source.get_contents():
            path = row[0]
            record = destination.write_to_fs(_TREE, path, stream, executable)
            assert record.hash_ is not None and record.size is not None
            scheme, rel = _scheme_of(path, data_dir, root_scheme)
            files.append((path, scheme, rel, record.hash_.value, record.size))
    keys = destination.sealed
    assert keys is not None
    sealed = tuple(
        StoredFile(path, scheme, rel, digest, size, *keys[path])
        for path, scheme, rel, digest, size in files
    )
    entry = Entry(
        root=tmp,
        sha256=sha256.lower(),
        name=project_name(wheel),
        dist_info=dist_info,
        root_scheme=root_scheme,
        files=sealed,
        entry_points=entry_points,
    )
    text = json.dumps(entry.to_json(), separators=(",", ":")) + "\n"
    (tmp / ENTRY_FILE).write_text(text, encoding="utf-8")
    os.chmod(tmp / ENTRY_FILE, 0o444)  # noqa: PTH101
    return entry


def _scheme_of(path: str, data_dir: str, root_scheme: str) -> tuple[str, str]:
    """(scheme, path within it) of archive member ``path`` (installer's rule)."""
    if not path.startswith(data_dir + "/"):
        return root_scheme, path
    scheme, _, rel = path[len(data_dir) + 1 :].partition("/")
    if scheme not in SCHEME_NAMES or not rel:
        raise SyncError(
            f"{path} is not in a valid .data subdirectory of its wheel",
            hint="the wheel is malformed; check where it came from",
        )
    return scheme, rel


def _remove_tree(path: Path) -> None:
    # Sealed files are read-only, but removing them needs only their directory writable.
    shutil.rmtree(path, ignore_errors=True)


# -- placing an entry into a generation ---------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """What ``install_entry`` did: the files (relative to the target) and how each got there."""

    files: list[str]
    counts: dict[str, int]
    unpacked: bool  # the wheel was unpacked into the store by this call
    # Why the entry could not be used (it was discarded; nothing was placed): the caller
    # installs the wheel again, with its file. None when it was placed.
    damaged: str | None = None


def install_entry(
    store_root: Path,
    sha256: str,
    wheel: Path | None,
    target: Path,
    base: BaseEnv,
    *,
    prefix: Path | None = None,
    direct_url: str | None = None,
    direct_url_info: Mapping[str, Any] | None = None,
    requested: bool = False,
) -> Placed:
    """Install the wheel with ``sha256`` under ``target`` from the store at ``store_root``.

    ``wheel``: the wheel file, unpacked into the store first when its entry is not there
    (None: the entry must be there; it is checked here with ``Entry.damage``, in the worker
    that links it, and a damaged one is discarded and reported in ``Placed.damaged`` with
    nothing placed). Otherwise as ``install_wheel``: the same files, RECORD and launchers,
    except that the wheel's members are linked (or cloned, or copied) from the store instead
    of written, and are read-only.
    """
    store = Store(store_root)
    unpacked = False
    if wheel is not None:
        entry = store.get(sha256)
        if entry is None:
            entry = store.add(wheel, sha256)
            unpacked = True
    else:
        found = store.get(sha256)
        if found is None:
            return Placed([], {}, unpacked=False, damaged="its entry is unreadable")
        why = found.damage()
        if why is not None:
            # Never linked into another generation: unpacked again from the wheel.
            store.discard(sha256)
            return Placed([], {}, unpacked=False, damaged=why)
        entry = found
    destination = overlay_destination(base, target, entry.name, prefix)
    placer = Placer()
    written = 0
    record_path = f"{entry.dist_info}/RECORD"
    label = f"{entry.name} (store entry {entry.root})"
    with install_errors(label, target):
        records: list[tuple[Scheme, RecordEntry]] = []
        if entry.entry_points is not None:
            for name, module, attr, section in parse_entrypoints(entry.entry_points):
                records.append(
                    (Scheme("scripts"), destination.write_script(name, module, attr, section))
                )
                written += 1
        tree = str(entry.tree) + os.sep
        for f in entry.files:
            if f.path == record_path:
                continue
            scheme = Scheme(f.scheme)
            if scheme == "scripts":
                # ``#!python`` is rewritten for the base: a file of this prefix, never linked.
                with open(tree + f.path, "rb") as fh, io.BytesIO(fh.read()) as stream:
                    executable = bool(os.fstat(fh.fileno()).st_mode & 0o100)
                    records.append(
                        (scheme, destination.write_file(scheme, f.rel, stream, executable))
                    )
                written += 1
                continue
            records.append(
                (scheme, destination.place(scheme, f.rel, tree + f.path, placer, f.digest, f.size))
            )
        root_scheme = Scheme(entry.root_scheme)
        metadata = install_metadata(
            entry.sha256,
            direct_url=direct_url,
            direct_url_info=direct_url_info,
            requested=requested,
        )
        for filename, contents in metadata.items():
            path = posixpath.join(entry.dist_info, filename)
            with io.BytesIO(contents) as stream:
                record = destination.write_to_fs(root_scheme, path, stream, False)
            records.append((root_scheme, record))
            written += 1
        records.append((root_scheme, RecordEntry(record_path, None, None)))
        destination.finalize_installation(root_scheme, record_path, records)
        written += 1
    counts = dict(placer.counts)
    counts[WRITTEN] = counts.get(WRITTEN, 0) + written
    return Placed(sorted(destination.files), counts, unpacked)


def has_entry(store: Store, sha256: str) -> bool:
    """Whether the store holds a sealed entry for ``sha256`` (not read, not checked)."""
    return os.path.isfile(store.entry_dir(sha256) / ENTRY_FILE)  # noqa: PTH113

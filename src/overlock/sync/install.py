"""Install one wheel into a directory laid out with the base's install scheme.

A thin layer over PyPA's ``installer``: it only adds what an overlay needs on top of it —
launchers that set up the overlay themselves (so ``PREFIX/bin/tool`` works without
activation), ``INSTALLER`` = overlock, PEP 610 ``direct_url.json`` for direct references, and
errors a user can act on. Byte-code is compiled separately, by the *base* interpreter
(``ByteCompiler``), because installer compiles with the running interpreter, which may be
another Python version than the base.

Each wheel's bytes are read once: hashed (checked against the lock when the caller gives the
sha256), then unpacked from memory, so what is installed is exactly what was checked. Every
member is checked against the wheel's RECORD as it is written (installer's
``validate_record(validate_contents=True)`` would decompress and hash the whole wheel a second
time for that). Several wheels may be installed at once from threads: nothing here touches
global state.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import hashlib
import io
import json
import multiprocessing
import os
import stat
import sys
import threading
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import Hash, InvalidRecordEntry, RecordEntry, parse_record_file
from installer.sources import WheelFile
from installer.utils import Scheme
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from overlock.base.env import SCHEME_KEYS, BaseEnv
from overlock.dists.metadata import parse_metadata
from overlock.dists.urls import archive_direct_url
from overlock.errors import HashMismatchError, SyncError
from overlock.prefix.bootstrap import render_launcher
from overlock.prefix.state import STATE_DIRNAME
from overlock.sync.placing import Placer

if TYPE_CHECKING:
    from installer.scripts import ScriptSection
    from installer.sources import WheelContentElement

INSTALLER_NAME = b"overlock\n"
_CHUNK = 1024 * 1024
INFLATION = 100  # see _check_inflation
INFLATION_FLOOR = 256 * 1024 * 1024
_SIGNATURES = ("RECORD.jws", "RECORD.p7s")  # in the dist-info directory, never in RECORD
# Algorithms a RECORD may use: sha256 or stronger (PEP 376, PEP 427).
RECORD_ALGORITHMS = frozenset(
    {"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"}
)


class _EscapingPathError(Exception):
    def __init__(self, path: str, *, through_link: bool = False) -> None:
        super().__init__(path)
        self.path = path
        self.through_link = through_link


class _ReservedPathError(_EscapingPathError):
    """A member that would be written into overlock's own state directory."""


class BadWheelError(Exception):
    """The wheel contradicts its own RECORD (a member missing from it, or other bytes)."""


class _Member:
    """A member's stream, carrying what RECORD says its bytes are."""

    __slots__ = ("_stream", "expected")

    def __init__(self, stream: BinaryIO, expected: RecordEntry) -> None:
        self._stream = stream
        self.expected = expected

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


class CheckedWheel(WheelFile):
    """installer's ``WheelFile`` whose members are checked against RECORD as they are read.

    The name checks of ``validate_record`` happen here, up front for each member; the hash
    and size checks happen in ``OverlayDestination.write_to_fs``, which hashes what it
    writes anyway. Members under ``__pycache__`` are skipped (installer would skip them
    with a warning: byte-code from a wheel is never trusted).
    """

    def __init__(self, archive: zipfile.ZipFile) -> None:
        super().__init__(archive)
        self._archive = archive

    def get_contents(self) -> Iterator[WheelContentElement]:
        dist_info = self.dist_info_dir
        self._check_metadata()
        record_path = f"{dist_info}/RECORD"
        signatures = {f"{dist_info}/{name}" for name in _SIGNATURES}
        try:
            rows = {
                row[0]: row for row in parse_record_file(self.read_dist_info("RECORD").splitlines())
            }
        except (InvalidRecordEntry, KeyError, UnicodeDecodeError) as exc:
            raise BadWheelError(f"its RECORD is unreadable: {exc}") from None
        _check_inflation(self._archive)
        for item in self._archive.infolist():
            name = item.filename
            if name.endswith("/") or "__pycache__" in name.split("/")[:-1]:
                continue
            row = rows.get(name)
            expected = None
            if row is None:
                if name not in signatures:
                    raise BadWheelError(f"{name} is not mentioned in its RECORD")
                row = (name, "", "")
            elif name != record_path:
                try:
                    expected = RecordEntry.from_elements(*row)
                except InvalidRecordEntry as exc:
                    raise BadWheelError(f"its RECORD entry for {name} is invalid: {exc}") from None
                if expected.hash_ is None or expected.size is None:
                    raise BadWheelError(f"its RECORD gives no hash or size for {name}")
                if expected.hash_.name not in RECORD_ALGORITHMS:
                    # PEP 376/427: sha256 or better; md5 and sha1 are not allowed, since a
                    # member could then be swapped for other bytes with the same digest.
                    raise BadWheelError(
                        f"its RECORD hashes {name} with {expected.hash_.name!r}; a wheel must use"
                        " sha256 or a stronger algorithm"
                    )
            if expected is not None and item.file_size != expected.size:
                # zipfile stops decompressing at the size the archive declares: checked
                # before reading, a member can inflate to no more than its RECORD says.
                raise BadWheelError(
                    f"{name} does not match the hash or size its RECORD gives ({item.file_size}"
                    f" bytes in the archive, {expected.size} in RECORD)"
                )
            mode = item.external_attr >> 16
            executable = bool(mode and stat.S_ISREG(mode) and mode & 0o111)
            with self._archive.open(item) as stream:
                member = stream if expected is None else _Member(cast(BinaryIO, stream), expected)
                yield row, cast(BinaryIO, member), executable

    def root_scheme(self) -> Scheme:
        """Where the archive's top level goes: ``purelib`` or ``platlib`` (WHEEL)."""
        try:
            text = self.read_dist_info("WHEEL")
        except (KeyError, UnicodeDecodeError) as exc:
            raise BadWheelError(f"its WHEEL file is unreadable: {exc}") from None
        headers = email.parser.Parser().parsestr(text, headersonly=True)
        version = str(headers.get("Wheel-Version") or "")
        if not version.startswith("1."):
            raise BadWheelError(f"its Wheel-Version is {version!r}; only 1.x wheels are known")
        purelib = str(headers.get("Root-Is-Purelib") or "").strip().lower() == "true"
        return Scheme("purelib" if purelib else "platlib")

    def _check_metadata(self) -> None:
        """METADATA must name the project and version the file name says: the lock, the
        prefix's state and every later check identify the package by the file name."""
        try:
            text = self.read_dist_info("METADATA")
        except (KeyError, UnicodeDecodeError) as exc:
            raise BadWheelError(f"its METADATA is unreadable: {exc}") from None
        meta = parse_metadata(text)
        name, version = meta.name or None, meta.version or None
        if name is None or name != canonicalize_name(self.distribution):
            raise BadWheelError(
                f"its METADATA names the project {str(name)!r}, not {self.distribution!r}"
                " as its file name says"
            )
        try:
            same = version is not None and Version(version) == Version(self.version)
        except InvalidVersion:
            same = False
        if not same:
            raise BadWheelError(
                f"its METADATA gives the version {str(version)!r}, not {self.version!r}"
                " as its file name says"
            )


@dataclass
class OverlayDestination(SchemeDictionaryDestination):
    """installer's destination, with overlay launchers, a strict containment check, and
    each member checked against the wheel's RECORD while it is written."""

    base: BaseEnv | None = None
    stable_prefix: Path = Path()
    target: str = ""  # absolute: the written paths are recorded relative to it
    files: list[str] = field(default_factory=list)
    _roots: dict[str, str] = field(default_factory=dict)
    _made: set[str] = field(default_factory=set)
    _checked: set[str] = field(default_factory=set)
    _dirs: dict[tuple[str, str], str] = field(default_factory=dict)  # see place()
    # When not None, files are written read-only (0444, 0555 when executable: the unpacked
    # store's seal) and each one's stat key (inode, mtime, mode) is recorded here, by path.
    sealed: dict[str, tuple[int, int, int]] | None = None

    def _really_inside(self, directory: str) -> bool:
        """No symbolic link between ``target`` and ``directory`` (which is below it).

        One ``lstat`` per directory not seen before, up to the first one already checked
        (realpath() would cost ten times as much, for every directory of every wheel).
        """
        path = directory
        todo: list[str] = []
        while path != self.target and path not in self._checked:
            parent = os.path.dirname(path)  # noqa: PTH120
            if parent == path:  # reached / without meeting the target: not below it
                return False
            todo.append(path)
            path = parent
        for path in todo:
            try:
                if stat.S_ISLNK(os.lstat(path).st_mode):
                    return False
            except FileNotFoundError:
                continue  # makedirs creates it: a directory, not a link
        self._checked.update(todo)
        return True

    def write_file(
        self,
        scheme: Scheme,
        path: str | os.PathLike[str],
        stream: BinaryIO,
        is_executable: bool,
    ) -> RecordEntry:
        expected = getattr(stream, "expected", None)
        if scheme == "scripts" and expected is not None:
            # installer rewrites a ``#!python`` line: check the bytes as shipped first.
            data = stream.read()
            _check(os.fspath(path), expected, _digest(expected.hash_, [data]), len(data))
            with io.BytesIO(data) as plain:
                return super().write_file(scheme, path, plain, is_executable)
        if scheme == "scripts":
            return super().write_file(scheme, path, stream, is_executable)
        return self.write_to_fs(scheme, os.fspath(path), stream, is_executable)

    def destination(self, scheme: Scheme, path: str) -> str:
        """The absolute path ``path`` of ``scheme`` goes to, its parent made; checked first.

        Raises _EscapingPathError for a path that would leave its scheme's directory (or
        reach it through a symbolic link), _ReservedPathError for overlock's own state.
        """
        # installer's own version resolves paths with pathlib, checks existence first and
        # creates parents for every file: a third of an install's time on big wheels.
        root = self._roots.get(scheme)
        if root is None:
            root = self._roots[scheme] = os.path.abspath(self.scheme_dict[scheme])  # noqa: PTH100
        dest = os.path.normpath(os.path.join(root, path))  # noqa: PTH118
        if not dest.startswith(root + os.sep):
            raise _EscapingPathError(path)
        # overlock's own state (state.json, the activation bootstrap) is not the wheel's to
        # write; the ``data`` scheme is the prefix itself, so ``X.data/data/.overlock/...``
        # would reach it.
        reserved = os.path.join(self.target, STATE_DIRNAME)  # noqa: PTH118
        if dest == reserved or dest.startswith(reserved + os.sep):
            raise _ReservedPathError(path)
        parent = os.path.dirname(dest)  # noqa: PTH120
        if parent not in self._made:
            # Checked before anything is created: a symbolic link on the way (one carried
            # over from an earlier generation, say) must not take the write, or the
            # directories made for it, out of the overlay; into the base, for one.
            if not self._really_inside(parent):
                raise _EscapingPathError(path, through_link=True)
            os.makedirs(parent, exist_ok=True)  # noqa: PTH103
            self._made.add(parent)
        return dest

    def written(self, dest: str) -> None:
        """Record ``dest`` (absolute) as a file of this installation."""
        prefix = self.target + os.sep
        rel = dest[len(prefix) :] if dest.startswith(prefix) else os.path.relpath(dest, self.target)
        self.files.append(rel)

    def place(
        self, scheme: Scheme, path: str, src: str, placer: Placer, digest: str, size: int
    ) -> RecordEntry:
        """Put the store's file ``src`` at ``path`` of ``scheme`` (link, clone or copy).

        ``digest`` and ``size`` are what the store verified when it unpacked the wheel: the
        file is not read again.
        """
        head, _, name = path.rpartition("/")
        directory = self._dirs.get((scheme, head))
        if directory is not None and name not in ("", ".", ".."):
            # A directory this destination checked and made for an earlier file: a plain
            # name in it stays inside (the prefix's own root is never cached, so the state
            # directory's name cannot come this way).
            dest = directory + os.sep + name
        else:
            dest = self.destination(scheme, path)
            parent = os.path.dirname(dest)  # noqa: PTH120
            if name not in ("", ".", "..") and parent != self.target:
                self._dirs[(scheme, head)] = parent
        placer.place(src, dest)
        self.written(dest)
        return RecordEntry(path, Hash("sha256", digest), size)

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        dest = self.destination(scheme, path)
        expected: RecordEntry | None = getattr(stream, "expected", None)
        hashers = [hashlib.sha256()]
        if expected is not None and expected.hash_ is not None and expected.hash_.name != "sha256":
            hashers.append(hashlib.new(expected.hash_.name))
        size = 0
        # O_EXCL: two packages shipping one file is an error, never a silent overwrite.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        if self.sealed is not None:  # the store's read-only modes, whatever the umask
            mode = 0o555 if is_executable else 0o444
        else:  # a prefix's, less the umask
            mode = 0o777 if is_executable else 0o666
        fd = os.open(dest, flags, mode)
        try:  # the bare descriptor: a file object costs three more system calls per file
            while chunk := stream.read(_CHUNK):
                for h in hashers:
                    h.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            if self.sealed is not None:
                # Written through the descriptor opened before the file was read-only; the
                # stat key is taken after the last write (closing changes nothing of it).
                st = os.fstat(fd)
                if stat.S_IMODE(st.st_mode) != mode:  # a umask took bits away
                    os.fchmod(fd, mode)
                    st = os.fstat(fd)
                self.sealed[path] = (st.st_ino, st.st_mtime_ns, st.st_mode)
        finally:
            os.close(fd)
        if expected is not None:
            _check(path, expected, _b64(hashers[-1].digest()), size)
        self.written(dest)
        return RecordEntry(path, Hash("sha256", _b64(hashers[0].digest())), size)

    def write_script(
        self, name: str, module: str, attr: str, section: ScriptSection
    ) -> RecordEntry:
        assert self.base is not None
        if os.path.basename(name) != name or name in ("", ".", ".."):  # noqa: PTH119
            raise _EscapingPathError(name)
        data = render_launcher(self.base, self.stable_prefix, module, attr)
        with io.BytesIO(data) as stream:
            return self.write_to_fs(Scheme("scripts"), name, stream, is_executable=True)


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _digest(algorithm: Hash | None, chunks: Iterable[bytes]) -> str:
    h = hashlib.new(algorithm.name if algorithm is not None else "sha256")
    for chunk in chunks:
        h.update(chunk)
    return _b64(h.digest())


def _check(path: str, expected: RecordEntry, digest: str, size: int) -> None:
    assert expected.hash_ is not None
    if digest != expected.hash_.value or size != expected.size:
        raise BadWheelError(f"{path} does not match the hash or size its RECORD gives")


def scheme_paths(base: BaseEnv, target: Path, name: str) -> dict[str, str]:
    """The base's install scheme (relative to a prefix) rooted at ``target``, for ``name``."""
    paths = {key: str(target / base.scheme[key]) for key in SCHEME_KEYS}
    # As pip does: headers go in a directory named after the project, so two projects'
    # ``config.h`` do not collide.
    paths["headers"] = str(target / base.scheme["headers"] / name)
    return paths


def direct_url_json(url: str, sha256: str) -> bytes:
    """PEP 610 ``direct_url.json`` for a wheel installed from ``url``."""
    return (json.dumps(archive_direct_url(url, sha256), sort_keys=True) + "\n").encode()


def install_metadata(
    sha256: str,
    *,
    direct_url: str | None = None,
    direct_url_info: Mapping[str, Any] | None = None,
    requested: bool = False,
) -> dict[str, bytes]:
    """The dist-info files an installation adds: INSTALLER, REQUESTED, direct_url.json."""
    metadata: dict[str, bytes] = {"INSTALLER": INSTALLER_NAME}
    if requested:
        metadata["REQUESTED"] = b""
    if direct_url_info is not None:
        text = json.dumps(dict(direct_url_info), sort_keys=True) + "\n"
        metadata["direct_url.json"] = text.encode()
    elif direct_url is not None:
        metadata["direct_url.json"] = direct_url_json(direct_url, sha256)
    return metadata


def read_checked(wheel: Path, sha256: str | None) -> tuple[bytes, str]:
    """The bytes of ``wheel`` and their sha256, which must be ``sha256`` when given."""
    try:
        data = wheel.read_bytes()
    except OSError as exc:
        raise SyncError(f"cannot read {wheel}: {exc.strerror or exc}") from None
    actual = hashlib.sha256(data).hexdigest()
    if sha256 is not None and actual != sha256:
        raise HashMismatchError(
            f"{wheel.name} has sha256 {actual}, but the lock says {sha256}",
            hint="the file changed on the index or in the cache; nothing was installed",
        )
    return data, actual


def install_wheel(
    wheel: Path,
    target: Path,
    base: BaseEnv,
    *,
    sha256: str | None = None,
    direct_url: str | None = None,
    direct_url_info: Mapping[str, Any] | None = None,
    prefix: Path | None = None,
    requested: bool = False,
) -> list[str]:
    """Install ``wheel`` under ``target``; return the written paths, relative to ``target``.

    ``sha256``, when given, is what the wheel's bytes must hash to (the lock's): the file is
    read once, checked, and installed from those same bytes, so a file swapped on disk in
    between cannot get installed; HashMismatchError before anything is written otherwise.
    ``prefix`` is where ``target`` will be seen at run time (a generation directory is built
    at one path and reached through the stable prefix): launchers refer to it. It defaults
    to ``target``. ``direct_url`` is the URL of a direct reference; only then is PEP 610
    ``direct_url.json`` written; ``direct_url_info``, when given, is that file's content
    (a built directory or git commit). ``requested`` writes PEP 376 ``REQUESTED``.
    """
    destination = overlay_destination(base, target, project_name(wheel), prefix)
    data, actual = read_checked(wheel, sha256)
    metadata = install_metadata(
        actual, direct_url=direct_url, direct_url_info=direct_url_info, requested=requested
    )
    with install_errors(wheel.name, target), zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.filename = str(wheel)  # installer names the wheel by it
        install(CheckedWheel(archive), destination, metadata)
    return sorted(destination.files)


def overlay_destination(
    base: BaseEnv, target: Path, name: str, prefix: Path | None = None
) -> OverlayDestination:
    """Where project ``name`` is installed under ``target``, seen at run time as ``prefix``."""
    return OverlayDestination(
        scheme_dict=scheme_paths(base, target, name),
        interpreter=base.python,
        script_kind="posix",
        base=base,
        stable_prefix=prefix if prefix is not None else target,
        target=os.path.abspath(target),  # noqa: PTH100
    )


@contextlib.contextmanager
def install_errors(wheel_name: str, target: Path) -> Iterator[None]:
    """Turn what installing ``wheel_name`` under ``target`` can raise into SyncErrors."""
    try:
        yield
    except _ReservedPathError as exc:
        raise SyncError(
            f"{wheel_name} contains {exc.path!r}, which would be written into overlock's own"
            f" state ({STATE_DIRNAME}/); refusing to install it",
            hint="the wheel is malformed or malicious; check where it came from",
        ) from None
    except _EscapingPathError as exc:
        if exc.through_link:
            raise SyncError(
                f"{wheel_name} would write {exc.path!r} through a symbolic link that leads out"
                f" of the overlay ({target}); refusing to install it",
                hint="overlock never writes outside the prefix, and never below the base;"
                " remove the link from the prefix (`overlock sync --drop-foreign` drops every file"
                " overlock did not install)",
            ) from None
        raise SyncError(
            f"{wheel_name} contains {exc.path!r}, which would be written outside the overlay;"
            " refusing to install it",
            hint="the wheel is malformed or malicious; check where it came from",
        ) from None
    except FileExistsError as exc:
        raise SyncError(
            f"{wheel_name} would overwrite {exc.filename or exc}, which another locked"
            " package already installed",
            hint="two locked packages ship the same file; lock without one of them",
        ) from exc
    except BadWheelError as exc:
        raise SyncError(f"{wheel_name} is not a valid wheel: {exc}") from None
    except (InstallerError, zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise SyncError(f"{wheel_name} is not a valid wheel: {exc}") from exc
    except OSError as exc:
        raise SyncError(f"cannot install {wheel_name} into {target}: {exc}") from exc


def _check_inflation(archive: zipfile.ZipFile) -> None:
    """Refuse an archive whose members declare far more bytes than it holds (a zip bomb).

    Each member is held to its RECORD size as it is read; this bounds the total before
    anything is written: at most ``INFLATION`` times the compressed size, or
    ``INFLATION_FLOOR`` for small wheels (real wheels inflate 2-10 times).
    """
    infos = archive.infolist()
    declared = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if declared > max(INFLATION_FLOOR, INFLATION * packed):
        raise BadWheelError(
            f"its members would inflate to {declared} bytes from {packed} (more than"
            f" {INFLATION} times); refusing to unpack it"
        )


def merge_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for way, n in counts.items():
        into[way] = into.get(way, 0) + n


def install_pool(workers: int) -> Executor:
    """An executor for ``install_wheel`` calls, installing ``workers`` wheels at once.

    Processes where forking is safe (Linux, no other thread in this process): installer's
    per-file Python holds the GIL, so threads barely help (54 wheels, 2 cores: 1 thread
    4.7 s, 2 threads 4.4 s, 2 processes 2.6 s). Each worker dies with the process that forked
    it (``PR_SET_PDEATHSIG``), so a sync killed half-way never leaves one writing into a
    generation directory that the next sync builds again. Threads elsewhere.
    """
    if workers > 1 and sys.platform.startswith("linux") and threading.active_count() == 1:
        context = multiprocessing.get_context("fork")
        return ProcessPoolExecutor(
            workers, mp_context=context, initializer=_die_with_parent, initargs=(os.getpid(),)
        )
    return ThreadPoolExecutor(workers)


def _die_with_parent(parent: int) -> None:
    import ctypes
    import signal

    # The parent stops the pool on Ctrl-C or SIGTERM; a worker that took the terminal's
    # SIGINT (or the parent's SIGTERM handler, inherited by fork) would print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def project_name(wheel: Path) -> str:
    try:
        return str(parse_wheel_filename(wheel.name)[0])
    except InvalidWheelFilename as exc:
        raise SyncError(f"{wheel.name} is not a wheel file name: {exc}") from exc

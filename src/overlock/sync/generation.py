"""Building a generation beside the current one: fetch, reuse what is unchanged, install the
rest (from the unpacked store when there is one), carry foreign files over, verify."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from packaging.utils import NormalizedName, canonicalize_name

from overlock.atomic import write_json_atomic
from overlock.base.env import BaseEnv
from overlock.baseproc import outside_link
from overlock.dists.requirements import same_version
from overlock.errors import SyncError
from overlock.lock.pylock import Lock, LockedFile, LockedPackage, lock_hash
from overlock.prefix.bootstrap import boot_dir, layout_key, render_sitecustomize
from overlock.prefix.state import (
    STATE_DIRNAME,
    STATE_FILE,
    GenerationState,
    InstalledPackage,
    Owner,
    read_state_file,
)
from overlock.sync.bytecode import ByteCompiler
from overlock.sync.importcheck import ImportCheckError, runtime_checks, verify_imports
from overlock.sync.install import install_pool, install_wheel, merge_counts
from overlock.sync.placing import COPY, HARDLINK, WRITTEN
from overlock.sync.plan import SyncPlan
from overlock.sync.store import Placed, Store, has_entry, install_entry

INSTALL_WORKERS = 4  # at most; see install_workers()
Fetch = Callable[[Sequence[LockedFile]], Mapping[str, Path]]
Reporter = Callable[[str], None]


class Counter(Protocol):
    """A progress counter (output.Progress): advanced once per unit of work."""

    def advance(self, what: str = "", n: int = 1) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


ProgressFactory = Callable[[str, int], Counter]


def build(
    gen: Path,
    lock: Lock,
    base: BaseEnv,
    prefix: Path,
    p: SyncPlan,
    state: GenerationState | None,
    fetch: Fetch,
    compile_bytecode: bool,
    report: Reporter,
    *,
    verify_imports: bool = True,
    keep_foreign: bool = True,
    owner: Owner | None = None,
    progress: ProgressFactory | None = None,
    store: Store | None = None,
    recycle: bool = False,
) -> list[str]:
    """Build generation ``gen`` for ``lock``; warnings to show.

    ``recycle``: ``gen`` is a retired generation of this prefix, renamed into place, to be
    trimmed to what the lock keeps of it (``recycle``) instead of made from nothing.
    """
    kept = recycle_generation(gen, lock, layout_key(base, prefix)) if recycle else {}
    if not recycle:
        gen.mkdir()
    current = prefix.resolve() if state is not None else None
    installed: dict[NormalizedName, InstalledPackage] = dict(kept)
    placement: dict[str, int] = {}
    if kept:
        placement[HARDLINK] = sum(len(pkg.files) for pkg in kept.values())
    to_install = [pkg for pkg in p.to_install if pkg.name not in kept]
    # One walk of the current generation: which of its files are regular ones (to reuse),
    # and which no package installed (to carry over).
    scan = scan_generation(current) if current is not None and state is not None else None
    if p.rebuild is None and state is not None and current is not None and scan is not None:
        made: set[str] = set()
        for pkg in p.unchanged:
            old = state.by_name[pkg.name]
            if pkg.name in kept:
                continue
            if _reuse(current, gen, old, placement, made, scan.regular):
                installed[pkg.name] = old
            else:
                report(f"{pkg.name}: files missing from the current generation; reinstalling")
                to_install.append(pkg)
    foreign = scan.foreign(state) if scan is not None and state is not None else []
    foreign_notes = _carry_foreign(current, gen, prefix, foreign, keep_foreign, report)

    need = to_install
    if store is not None:
        # Entries are read and checked (Entry.damage) by the workers that link them.
        need = [pkg for pkg in to_install if not has_entry(store, pkg.file.sha256)]
    paths = _fetch(fetch, [pkg.file for pkg in need])
    boot = boot_dir(gen)
    site_dirs = sorted({base.scheme["purelib"], base.scheme["platlib"]})
    in_site_dirs = tuple(d + "/" for d in site_dirs)
    warnings: list[str] = []
    # Byte-code is compiled by the base interpreter while wheels are still being installed:
    # each package's modules are handed over as soon as it is in place.
    compiler = ByteCompiler(base, gen, prefix) if compile_bytecode else None
    with compiler or contextlib.nullcontext():

        def done(pkg: LockedPackage, files: list[str], counts: Mapping[str, int]) -> None:
            merge_counts(placement, counts)
            installed[pkg.name] = InstalledPackage(
                name=pkg.name,
                version=pkg.version,
                sha256=pkg.file.sha256,
                url=pkg.direct_url,
                files=tuple(files),
            )
            if compiler is not None:
                compiler.add(f for f in files if f.startswith(in_site_dirs))

        hashed: list[str] = []

        def meanwhile() -> None:  # while the wheels install, work that does not need them
            boot.mkdir(parents=True)
            sitecustomize = render_sitecustomize(base, prefix)
            (boot / "sitecustomize.py").write_text(sitecustomize, encoding="utf-8")
            hashed.append(lock_hash(lock))

        _install_all(
            gen,
            base,
            prefix,
            to_install,
            paths,
            report,
            done,
            meanwhile,
            progress=progress,
            store=store,
            fetch=fetch,
        )
        if compiler is not None:
            # Everything else compileall would find: reused packages (their byte-code is
            # linked, so they cost a stat), carried files, the bootstrap.
            for directory in (*(gen / d for d in site_dirs), boot):
                compiler.add_tree(gen, directory)
            # What is left once every wheel is in: for a large stack, seconds.
            report("compiling byte-code with the base interpreter")
            ok, output = compiler.finish()
            if not ok:
                warnings.append("some files could not be byte-compiled:\n" + output)
                report(warnings[-1])

    _verify(gen, base, lock, ignore=_dist_infos(foreign) if keep_foreign else set())
    if verify_imports:
        _check_imports(gen, base, lock, installed, report)
    new_state = GenerationState(
        generation=int(gen.name.split("-")[1].split(".")[0]),
        previous=state.generation if state else None,
        packages=tuple(installed[name] for name in sorted(installed)),
        layout=layout_key(base, prefix),
        lock_hash=hashed[0],
        base_fingerprint=lock.base_fingerprint,
        owner=owner,
        placement=dict(sorted(placement.items())),
    )
    write_json_atomic(gen / STATE_DIRNAME / STATE_FILE, new_state.to_json())
    warnings.extend(foreign_notes)
    return warnings


def recycle_generation(
    gen: Path, lock: Lock, layout: Mapping[str, Any]
) -> dict[NormalizedName, InstalledPackage]:
    """Trim the retired generation at ``gen`` to the packages ``lock`` keeps; those packages.

    A package is kept when the lock has it from the same file (and URL) and each of its
    files is still a regular file; every other file goes: the files of the packages the
    lock changes or drops (with their byte-code), and the files no package installed (the
    current generation's are carried over again). Its state and bootstrap go too, to be
    written again. A spare made for another layout is emptied. A re-sync that changes one
    package then touches that package's files, not every file of the prefix.
    """
    try:
        old = read_state_file(gen / STATE_DIRNAME / STATE_FILE)
    except SyncError:  # unreadable: nothing in it is known, so nothing is kept
        old = None
    shutil.rmtree(gen / STATE_DIRNAME, ignore_errors=True)
    if old is None or dict(old.layout) != dict(layout):
        shutil.rmtree(gen)
        gen.mkdir()
        return {}
    root = str(gen) + os.sep
    wanted = lock.by_name
    scan = scan_generation(gen)
    kept: dict[NormalizedName, InstalledPackage] = {}
    doomed: list[str] = []
    for pkg in old.packages:
        new = wanted.get(pkg.name)
        if (
            new is not None
            and new.file.sha256 == pkg.sha256
            and new.direct_url == pkg.url
            and all(rel in scan.regular for rel in pkg.files)  # found below gen: inside it
        ):
            kept[pkg.name] = pkg
        else:
            doomed.extend(pkg.files)
    doomed.extend(scan.foreign(old))
    emptied: set[str] = set()
    compiled: dict[str, list[str]] = {}
    for rel in doomed:
        if not _inside(rel):
            continue  # never removed through a path that leaves the generation
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(root + rel)  # noqa: PTH108
        head, _, name = rel.rpartition("/")
        if head:
            emptied.add(head)
        if name.endswith(".py"):
            cache = head + "/__pycache__" if head else "__pycache__"
            names = compiled.get(cache)
            if names is None:
                names = compiled[cache] = _byte_code(root + cache)
            stem = name[:-3] + "."
            for pyc in names:
                if pyc.startswith(stem) and len(pyc) >= len(stem) + 5:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(root + cache + "/" + pyc)  # noqa: PTH108
            emptied.add(cache)
    # Directories left empty go, deepest first (a directory still holding files stays).
    for rel in sorted(_with_parents(emptied), key=lambda d: d.count("/"), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(root + rel)  # noqa: PTH106
    return kept


def _inside(rel: str) -> bool:
    """A relative path that stays below its root (a state file is read, not trusted)."""
    return bool(rel) and not rel.startswith("/") and ".." not in rel.split("/")


def _with_parents(directories: AbstractSet[str]) -> set[str]:
    out: set[str] = set()
    for d in directories:
        while d and d not in out:
            out.add(d)
            d = d.rpartition("/")[0]
    return out


@dataclass(frozen=True)
class Scan:
    """What a generation holds, by one walk: paths relative to it, byte-code caches and
    overlock's own ``.overlock/`` left out, symbolic links never followed."""

    regular: frozenset[str]  # regular files
    others: tuple[str, ...]  # anything else that is not a directory: symbolic links, ...

    def foreign(self, state: GenerationState) -> list[str]:
        """The entries no package in ``state`` installed."""
        known: set[str] = set()
        for pkg in state.packages:
            known.update(pkg.files)
        return sorted(p for p in (*self.regular, *self.others) if p not in known)


def scan_generation(generation: Path) -> Scan:
    """Walk ``generation``: one ``scandir`` per directory and no ``stat`` (the entries'
    types are enough); this runs on every sync that changes something, over every
    directory of the prefix, and replaces a ``stat`` per file reused."""
    regular: set[str] = set()
    others: list[str] = []
    root = str(generation) + os.sep
    todo = [""]
    while todo:
        rel_root = todo.pop()
        with os.scandir(root + rel_root if rel_root else root) as entries:
            for entry in entries:
                rel = rel_root + entry.name
                if (entry.name == "__pycache__" or rel == STATE_DIRNAME) and entry.is_dir():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    todo.append(rel + "/")
                elif entry.is_file(follow_symlinks=False):
                    regular.add(rel)
                else:
                    others.append(rel)
    return Scan(frozenset(regular), tuple(others))


def foreign_files(generation: Path, state: GenerationState) -> list[str]:
    """Files in ``generation`` that no package in ``state`` installed (relative paths).

    Byte-code caches and overlock's own ``.overlock/`` are not counted: they belong to the
    files next to them, or to overlock. A symbolic link is a file here, never followed.
    """
    return scan_generation(generation).foreign(state)


def _carry_foreign(
    current: Path | None,
    gen: Path,
    prefix: Path,
    foreign: Sequence[str],
    keep: bool,
    report: Reporter,
) -> list[str]:
    """Keep (link into ``gen``) files someone else put in the prefix, and say so.

    Symbolic links that lead out of the prefix are never carried: whatever a later install
    or compile wrote through one would land outside the overlay (into the base, for a link
    like ``site-packages/pkg -> BASE/.../site-packages``).
    """
    if not foreign or current is None:
        return []
    if not keep:
        shown = _shown(foreign)
        report(f"--drop-foreign: dropping {len(foreign)} file(s) overlock did not install: {shown}")
        return [
            f"dropped {len(foreign)} file(s) that overlock did not install ({shown});"
            f" the previous generation still has them until the next sync"
            " (`overlock rollback` returns to it)"
        ]
    kept: list[str] = []
    leaving: list[str] = []
    for rel in foreign:
        src, dst = current / rel, gen / rel
        if src.is_symlink():
            target = outside_link(src, current)
            if target is not None:
                leaving.append(f"{rel} -> {target}")
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.readlink())
        else:
            _link(src, dst)
        kept.append(rel)
    notes: list[str] = []
    if leaving:
        notes.append(
            f"dropped {len(leaving)} symbolic link(s) leading out of {prefix}: {_shown(leaving)};"
            " overlock never writes through a link out of the overlay (nothing is written"
            " below the base). The previous generation still has them until the next sync"
        )
        report(notes[-1])
    if kept:
        notes.append(
            f"{prefix} holds {len(kept)} file(s) that overlock did not install; they were"
            f" kept: {_shown(kept)}. `overlock sync --drop-foreign` removes them"
        )
    return notes


def _shown(items: Sequence[str]) -> str:
    return ", ".join(items[:5]) + (f", ... ({len(items)} in all)" if len(items) > 5 else "")


def _dist_infos(files: Sequence[str]) -> set[str]:
    return {part for f in files for part in f.split("/") if part.endswith(".dist-info")}


def _check_imports(
    gen: Path,
    base: BaseEnv,
    lock: Lock,
    installed: Mapping[NormalizedName, InstalledPackage],
    report: Reporter,
) -> None:
    files = {name: pkg.files for name, pkg in installed.items()}
    checks = runtime_checks(lock, base, files)
    if not checks:
        return
    report(f"checking {len(checks)} import(s) in the base interpreter before switching")
    failures = verify_imports(lock, base, gen, files, checks=checks)
    if failures:
        raise ImportCheckError(failures, lock, base)


def _reuse(
    current: Path,
    gen: Path,
    old: InstalledPackage,
    counts: dict[str, int],
    made: set[str],
    regular: AbstractSet[str],
) -> bool:
    """Hard-link (or copy) ``old``'s files, and their byte-code, from ``current`` into ``gen``.

    ``counts``: how many of ``old``'s files were linked and copied, added to. ``made``: the
    directories of ``gen`` known to exist, added to. ``regular``: the regular files of
    ``current`` (``scan_generation``). Plain strings, one ``link`` per file: this runs for
    every file a re-sync keeps (pathlib, a ``mkdir`` and a ``glob`` per file took a re-sync
    of one package of 54 four times as long as linking).
    """
    src_root, dst_root = str(current) + os.sep, str(gen) + os.sep
    # Only regular files: one someone replaced by a symbolic link is reinstalled, never
    # linked (a hard link to the link's target would tie the overlay to that file, the
    # base's maybe).
    if not all(rel in regular for rel in old.files):
        return False
    caches: dict[str, list[str]] = {}  # directory -> the byte-code files of its __pycache__
    for rel in old.files:
        way = _link_in(src_root + rel, dst_root + rel, made)
        counts[way] = counts.get(way, 0) + 1
        if not rel.endswith(".py"):
            continue
        head, _, name = rel.rpartition("/")
        compiled = caches.get(head)
        if compiled is None:
            compiled = caches[head] = _byte_code(src_root + head + "/__pycache__")
        stem = name[:-3] + "."
        for pyc in compiled:  # what glob("<stem>.*.pyc") finds
            if pyc.startswith(stem) and len(pyc) >= len(stem) + 5:
                cache = head + "/__pycache__/" + pyc
                _link_in(src_root + cache, dst_root + cache, made)
    return True


def _byte_code(directory: str) -> list[str]:
    """The ``.pyc`` files (not symbolic links) in ``directory``, if it is a real directory."""
    try:
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            return []
        with os.scandir(directory) as entries:
            return [e.name for e in entries if e.name.endswith(".pyc") and not e.is_symlink()]
    except OSError:
        return []


def _link(src: Path, dst: Path) -> str:
    """Hard-link ``src`` at ``dst``, else copy it; which of the two (HARDLINK or COPY)."""
    return _link_in(str(src), str(dst), set())


def _link_in(src: str, dst: str, made: set[str]) -> str:
    """``_link`` of paths as strings; ``made``: directories known to exist, added to."""
    parent = os.path.dirname(dst)  # noqa: PTH120
    if parent not in made:
        os.makedirs(parent, exist_ok=True)  # noqa: PTH103
        made.add(parent)
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        # copy2 keeps the mtime, so the byte-code copied next to it stays valid.
        shutil.copy2(src, dst)
        return COPY
    return HARDLINK


def _fetch(fetch: Fetch, files: Sequence[LockedFile]) -> dict[str, Path]:
    """Local paths of ``files``; their bytes are checked as they are installed."""
    if not files:
        return {}
    got = fetch(files)
    out: dict[str, Path] = {}
    for f in files:
        path = got.get(f.sha256)
        if path is None:
            raise SyncError(f"{f.filename} was not downloaded", hint="is the index reachable?")
        out[f.sha256] = Path(path)
    return out


def install_workers(count: int) -> int:
    """How many of ``count`` wheels to install at once: one per core, up to INSTALL_WORKERS."""
    return max(1, min(count, INSTALL_WORKERS, os.cpu_count() or 1))


def _install_all(
    gen: Path,
    base: BaseEnv,
    prefix: Path,
    packages: Sequence[LockedPackage],
    paths: Mapping[str, Path],
    report: Reporter,
    done: Callable[[LockedPackage, list[str], Mapping[str, int]], None],
    meanwhile: Callable[[], None],
    *,
    progress: ProgressFactory | None = None,
    store: Store | None = None,
    fetch: Fetch | None = None,
) -> None:
    """Install ``packages`` into ``gen`` a few at a time, the biggest wheels first.

    ``meanwhile()`` runs in this thread once every wheel is queued; ``done(package, files,
    counts)`` runs in this thread as each one completes (``counts``: how its files were
    placed). With a ``store``, each wheel is unpacked into it (those without a path in
    ``paths`` are there already) and linked from it; a worker that finds an entry damaged
    discards it, and the wheel is then fetched (``fetch``) and unpacked again. Each wheel is
    hashed as it is read and must match the lock (HashMismatchError), so unverified bytes
    are never installed. On the first error the wheels not started yet are dropped, the
    running ones finish, and the error is raised.
    """
    if not packages:
        meanwhile()
        return
    order = sorted(packages, key=lambda p: (-(p.file.size or 0), p.name))
    with install_pool(install_workers(len(order))) as pool:

        def submit(pkg: LockedPackage, wheel: Path | None) -> Future[Placed]:
            common: dict[str, Any] = {
                "prefix": prefix,
                "direct_url": pkg.direct_url,
                "direct_url_info": pkg.direct_url_info,
                "requested": bool(pkg.requested),
            }
            if store is not None:
                return pool.submit(
                    install_entry, store.root, pkg.file.sha256, wheel, gen, base, **common
                )
            assert wheel is not None
            return pool.submit(
                _install_unstored, wheel, gen, base, sha256=pkg.file.sha256, **common
            )

        futures: dict[Future[Placed], LockedPackage] = {}
        for pkg in order:
            report(f"installing {pkg.name} {pkg.version}")
            futures[submit(pkg, paths.get(pkg.file.sha256))] = pkg
        counter = progress("installing", len(order)) if progress is not None else None
        try:
            meanwhile()
            with counter if counter is not None else contextlib.nullcontext():
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        pkg = futures[future]
                        result = future.result()
                        if result.damaged is not None:
                            report(
                                f"{pkg.name}: its entry in the store is damaged"
                                f" ({result.damaged}); unpacking again"
                            )
                            wheel = _fetch(fetch, [pkg.file])[pkg.file.sha256] if fetch else None
                            if wheel is None:
                                raise SyncError(f"{pkg.name}: its entry in the store is damaged")
                            again = submit(pkg, wheel)
                            futures[again] = pkg
                            pending.add(again)
                            continue
                        if result.unpacked:
                            report(f"unpacked {pkg.name} {pkg.version} into the store")
                        done(pkg, result.files, result.counts)
                        if counter is not None:
                            counter.advance(f"{pkg.name} {pkg.version}")
        except BrokenExecutor as exc:
            pool.shutdown(wait=True, cancel_futures=True)
            raise SyncError(f"a process installing wheels died: {exc}") from exc
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _install_unstored(wheel: Path, target: Path, base: BaseEnv, **kw: Any) -> Placed:
    """``install_wheel`` straight into the generation, every file written (no store)."""
    files = install_wheel(wheel, target, base, **kw)
    return Placed(files, {WRITTEN: len(files)}, unpacked=False)


def _verify(
    gen: Path,
    base: BaseEnv,
    lock: Lock,
    *,
    ignore: AbstractSet[str] = frozenset(),
) -> None:
    """The new generation holds each locked distribution, at its version, and nothing else.

    ``ignore``: dist-info directories someone else installed, kept on purpose. Each file of
    each package was just written or linked into the generation (``_reuse`` gives up on a
    package with a file missing, which is then installed), so files are not looked for.
    """
    found: dict[NormalizedName, str] = {}
    for site in {gen / base.scheme["purelib"], gen / base.scheme["platlib"]}:
        if not site.is_dir():
            continue
        for entry in site.glob("*.dist-info"):
            if entry.name in ignore:
                continue
            name, _, version = entry.name[: -len(".dist-info")].partition("-")
            found[canonicalize_name(name)] = version
    problems: list[str] = []
    for pkg in lock.packages:
        have = found.pop(pkg.name, None)
        if have is None:
            problems.append(f"{pkg.name} is missing")
        elif not same_version(have, pkg.version):
            problems.append(f"{pkg.name} is {have}, locked {pkg.version}")
    problems += [f"{name} {v} is not in the lock" for name, v in sorted(found.items())]
    if problems:
        raise SyncError(
            "the new overlay generation does not match the lock: " + "; ".join(problems),
            hint="the previous overlay is untouched; a wheel's name or version may not"
            " match the lock",
        )

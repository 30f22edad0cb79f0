"""Make a prefix hold exactly the locked packages: plan, build a generation, switch atomically.

Layout on disk, for a prefix the user calls ``/data/ov``::

    /data/ov -> .ov.overlock/gen-7          the prefix: a symlink, swapped atomically
    /data/.ov.overlock/
        sync.lock                          flock(2): two syncs never interleave
        gen-7/                             current generation (a full prefix)
            bin/ lib/pythonX.Y/site-packages/ ...
            .overlock/state.json           what this generation holds (read by ``plan``)
            .overlock/boot/sitecustomize.py  the activation bootstrap (see prefix/activate.py)
        gen-6/                             previous generation, kept for ``rollback``

A new generation is built beside the current one (``gen-N.partial``), reusing unchanged
packages by hard-linking the files the previous generation recorded for them, verified, renamed
to ``gen-N`` and only then switched in with ``os.replace`` of a symlink over the prefix — one
atomic rename. A sync killed at any point leaves the prefix pointing at a complete generation;
leftovers are removed by the next sync. Everything written into a generation names the stable
prefix (``/data/ov/...``), never ``gen-N``, so the switch needs no rewriting.

Hard links mean two generations share inodes for unchanged files: nothing overlock does writes
into an installed file in place (installer writes new files, compileall replaces ``.pyc``
atomically), but a user editing an installed file edits it in both generations.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import BrokenExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from packaging.utils import NormalizedName, canonicalize_name

from overlock.atomic import write_text_atomic
from overlock.base.env import BaseEnv
from overlock.base.hiding import own_hides
from overlock.baseproc import outside_link
from overlock.dists.requirements import same_version
from overlock.errors import BadInputError, OwnedPrefixError, SyncError
from overlock.lock.pylock import Lock, LockedFile, LockedPackage, lock_hash
from overlock.prefix.bootstrap import boot_dir, hide_spec, render_sitecustomize
from overlock.prefix.layers import lower_site_dirs
from overlock.prefix.state import (
    LOCK_FILE,
    STATE_DIRNAME,
    STATE_FILE,
    GenerationState,
    InstalledPackage,
    Owner,
    abs_prefix,
    current_generation,
    gen_number,
    prefix_kind,
    read_state,
    read_state_file,
    state_root,
)
from overlock.sync.importcheck import ImportCheckError, runtime_checks, verify_imports
from overlock.sync.install import ByteCompiler, install_pool, install_wheel
from overlock.sync.plan import SyncPlan, make_plan

INSTALL_WORKERS = 4  # at most; see install_workers()
Fetch = Callable[[Sequence[LockedFile]], Mapping[str, Path]]
Reporter = Callable[[str], None]


class Counter(Protocol):
    """A progress counter (output.Progress): advanced once per unit of work."""

    def advance(self, what: str = "", n: int = 1) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


ProgressFactory = Callable[[str, int], Counter]


@dataclass(frozen=True)
class SyncResult:
    plan: SyncPlan
    prefix: Path
    generation: int | None  # current generation afterwards
    previous: int | None
    changed: bool
    dry_run: bool = False
    warnings: tuple[str, ...] = field(default=())


# -- ownership ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """Who owns the prefix after this sync, and what to tell the user about it."""

    owner: Owner | None
    notes: tuple[str, ...] = ()


def claim_prefix(
    prefix: Path, state: GenerationState | None, owner: Owner | None, *, take_over: bool = False
) -> Claim:
    """May ``owner`` sync into ``prefix``, whose current generation has ``state``?

    A prefix belongs to the overlay whose manifest last synced it. Another manifest is
    refused (OwnedPrefixError), unless ``take_over``, or unless it is the same overlay
    moved: the same name, and the recorded manifest no longer exists. A state without an
    owner (written by an older overlock) is adopted. ``owner`` None claims nothing and keeps
    the recorded owner.
    """
    recorded = state.owner if state is not None else None
    if owner is None:
        return Claim(recorded)
    if recorded is None or recorded.same_manifest(owner):
        return Claim(owner)
    if take_over:
        note = f"took {prefix} over from {recorded}; `overlock rollback` returns it"
        return Claim(owner, (note,))
    if recorded.name == owner.name and not os.path.lexists(recorded.manifest):
        return Claim(
            owner,
            (
                f"{prefix} was synced from {recorded.manifest}, which no longer exists;"
                f" it now belongs to {owner.manifest} (the same overlay name, {owner.name!r})",
            ),
        )
    raise OwnedPrefixError(
        str(prefix), recorded.manifest, recorded.name, owner.manifest, owner.name
    )


def layout_key(base: BaseEnv, prefix: Path) -> dict[str, Any]:
    """What files in a generation depend on besides the wheels; a change means rebuild."""
    return {
        "prefix": str(abs_prefix(prefix)),
        "python": base.python,
        "base-prefix": base.prefix,
        "python-version": base.py_short,
        "scheme": dict(sorted(base.scheme.items())),
        "base-site-dirs": list(base.interpreter_site_dirs),
        # Lower overlays are written into the bootstrap and launchers (prefix/layers.py).
        **({"layers": lower_site_dirs(base)} if lower_site_dirs(base) else {}),
        # So is what ``hide`` withholds (base/hiding.py); absent without one, as before.
        **({"hide": hide, "hides": own_hides(base)} if (hide := hide_spec(base, prefix)) else {}),
    }


# -- plan --------------------------------------------------------------------------------


def plan(lock: Lock, prefix: Path, base: BaseEnv) -> SyncPlan:
    """Compare ``lock`` with what the prefix's current generation holds."""
    prefix = abs_prefix(prefix)
    return make_plan(lock, read_state(prefix), layout_key(base, prefix), prefix)


# -- sync --------------------------------------------------------------------------------


def sync(
    lock: Lock,
    base: BaseEnv,
    prefix: Path,
    *,
    fetch: Fetch,
    compile_bytecode: bool = True,
    verify_imports: bool = True,
    dry_run: bool = False,
    move_aside: bool = False,
    drop_foreign: bool = False,
    protect: Sequence[Path] = (),
    reporter: Reporter | None = None,
    owner: Owner | None = None,
    take_over: bool = False,
    progress: ProgressFactory | None = None,
) -> SyncResult:
    """Make ``prefix`` hold exactly ``lock``'s packages, switching atomically.

    ``fetch`` gets the files to install and returns sha256 -> local wheel path; each file is
    hashed again here, from the very bytes then installed, so a fetcher that returns the
    wrong bytes cannot get them installed.
    ``move_aside``: a prefix overlock did not make, that looks like an install prefix
    (``pip install --prefix``), is moved into the state directory instead of refused; never
    the home directory nor a directory holding one of ``protect`` (the project).
    ``drop_foreign``: files in the prefix that overlock did not install are left out of the
    new generation instead of carried over.
    ``owner`` is the overlay syncing: a prefix another overlay owns is refused
    (OwnedPrefixError) unless ``take_over``; None syncs without claiming the prefix.
    ``progress(label, total)`` gives a counter advanced as each wheel is installed (a
    terminal's one-line progress, output.Output.progress).
    On any error the prefix is left as it was.
    """
    report: Reporter = reporter or (lambda _msg: None)
    prefix = abs_prefix(prefix)
    _refuse_base_paths(prefix, base)
    kind = prefix_kind(prefix)
    if kind == "foreign" and not move_aside:
        raise BadInputError(
            f"{prefix} exists and was not made by overlock",
            hint="choose another prefix, or pass --move-aside to move it aside"
            f" (into {state_root(prefix)}) and build the overlay there",
        )
    if kind == "foreign":
        _refuse_moving_aside(prefix, base, protect)
    if dry_run:
        claim = claim_prefix(prefix, read_state(prefix), owner, take_over=take_over)
        p = plan(lock, prefix, base)
        gen = current_generation(prefix)
        return SyncResult(
            p, prefix, gen, _previous(prefix), changed=False, dry_run=True, warnings=claim.notes
        )

    root = state_root(prefix)
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / LOCK_FILE, prefix, report):
        # Planned under the lock: a sync that held it before us may have changed everything.
        kind = prefix_kind(prefix)
        state = read_state(prefix)
        claim = claim_prefix(prefix, state, owner, take_over=take_over)
        p = plan(lock, prefix, base)
        if p.is_noop and state is not None:
            _refresh_lock_facts(prefix, state, lock, claim.owner)
            return SyncResult(
                p, prefix, state.generation, state.previous, changed=False, warnings=claim.notes
            )
        for line in p.lines():
            report(line)
        # Leftovers of killed syncs go; the rollback target stays until the switch succeeds.
        _prune(root, keep={state.generation, state.previous or 0} if state else set())
        number = _next_generation(root)
        building = root / f"gen-{number}.partial"
        try:
            warn = _build(
                building,
                lock,
                base,
                prefix,
                p,
                state,
                fetch,
                compile_bytecode,
                report,
                verify_imports=verify_imports,
                keep_foreign=not drop_foreign,
                owner=claim.owner,
                progress=progress,
            )
            final = root / f"gen-{number}"
            building.rename(final)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        if kind == "empty":
            prefix.rmdir()
        elif kind == "foreign":
            aside = _unused(root / "replaced")
            prefix.rename(aside)
            report(f"moved the previous contents of {prefix} to {aside}")
        report(f"switching {prefix} to generation {number}")
        _switch(prefix, final)
        report(f"{prefix} now holds generation {number}")
        _prune(root, keep={number} | ({state.generation} if state else set()))
        return SyncResult(
            p,
            prefix,
            number,
            state.generation if state else None,
            changed=True,
            warnings=(*claim.notes, *warn),
        )


def rollback(prefix: Path, *, owner: Owner | None = None) -> int:
    """Switch ``prefix`` back to its previous generation; return that generation's number.

    ``owner``: the overlay asking; a prefix another overlay owns is refused.
    """
    prefix = abs_prefix(prefix)
    state = read_state(prefix)
    if state is None:
        raise SyncError(f"{prefix} is not an overlay made by `overlock sync`")
    root = state_root(prefix)
    with _exclusive(root / LOCK_FILE, prefix, lambda _m: None):
        state = read_state(prefix)
        assert state is not None
        if owner is not None and state.owner is not None and not state.owner.same_manifest(owner):
            raise OwnedPrefixError(
                str(prefix), state.owner.manifest, state.owner.name, owner.manifest, owner.name
            )
        prev = state.previous
        target = root / f"gen-{prev}"
        if prev is None or read_state_file(target / STATE_DIRNAME / STATE_FILE) is None:
            raise SyncError(
                f"{prefix} has no previous generation to go back to",
                hint="only the generation before the last sync is kept",
            )
        _switch(prefix, target)
        return prev


def _previous(prefix: Path) -> int | None:
    state = read_state(prefix)
    return state.previous if state else None


# -- building a generation --------------------------------------------------------------


def _build(
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
) -> list[str]:
    gen.mkdir()
    current = prefix.resolve() if state is not None else None
    installed: dict[NormalizedName, InstalledPackage] = {}
    to_install = list(p.to_install)
    if p.rebuild is None and state is not None and current is not None:
        for pkg in p.unchanged:
            old = state.by_name[pkg.name]
            if _reuse(current, gen, old):
                installed[pkg.name] = old
            else:
                report(f"{pkg.name}: files missing from the current generation; reinstalling")
                to_install.append(pkg)
    foreign = foreign_files(current, state) if current is not None and state else []
    foreign_notes = _carry_foreign(current, gen, prefix, foreign, keep_foreign, report)

    paths = _fetch(fetch, [pkg.file for pkg in to_install])
    boot = boot_dir(gen)
    site_dirs = sorted({base.scheme["purelib"], base.scheme["platlib"]})
    in_site_dirs = tuple(d + "/" for d in site_dirs)
    warnings: list[str] = []
    # Byte-code is compiled by the base interpreter while wheels are still being installed:
    # each package's modules are handed over as soon as it is in place.
    compiler = ByteCompiler(base, gen, prefix) if compile_bytecode else None
    with compiler or contextlib.nullcontext():

        def done(pkg: LockedPackage, files: list[str]) -> None:
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
            gen, base, prefix, to_install, paths, report, done, meanwhile, progress=progress
        )
        if compiler is not None:
            # Everything else compileall would find: reused packages (their byte-code is
            # linked, so they cost a stat), carried files, the bootstrap.
            for directory in (*(gen / d for d in site_dirs), boot):
                compiler.add_tree(gen, directory)
            ok, output = compiler.finish()
            if not ok:
                warnings.append("some files could not be byte-compiled:\n" + output)
                report(warnings[-1])

    _verify(gen, base, lock, installed, ignore=_dist_infos(foreign) if keep_foreign else set())
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
    )
    _write_json_atomic(gen / STATE_DIRNAME / STATE_FILE, new_state.to_json())
    warnings.extend(foreign_notes)
    return warnings


def foreign_files(generation: Path, state: GenerationState) -> list[str]:
    """Files in ``generation`` that no package in ``state`` installed (relative paths).

    Byte-code caches and overlock's own ``.overlock/`` are not counted: they belong to the
    files next to them, or to overlock.
    """
    known: set[str] = set()
    for pkg in state.packages:
        known.update(pkg.files)
    out: list[str] = []
    for root, dirs, files in os.walk(generation):
        rel_root = os.path.relpath(root, generation)
        rel_root = "" if rel_root == "." else rel_root + "/"
        keep_dirs = []
        for d in dirs:
            rel = rel_root + d
            if rel == STATE_DIRNAME or d == "__pycache__":
                continue
            if os.path.islink(os.path.join(root, d)):  # noqa: PTH114, PTH118
                out.append(rel)  # a symlink is a file here; never descend into it
            else:
                keep_dirs.append(d)
        dirs[:] = keep_dirs
        out.extend(rel_root + f for f in files if rel_root + f not in known)
    return sorted(out)


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


def _reuse(current: Path, gen: Path, old: InstalledPackage) -> bool:
    """Hard-link (or copy) ``old``'s files, and their byte-code, from ``current`` into ``gen``."""
    for rel in old.files:
        # lstat: a file someone replaced by a symbolic link is reinstalled, never linked
        # (a hard link to the link's target would tie the overlay to that file, the base's
        # maybe).
        try:
            if not stat.S_ISREG(os.lstat(current / rel).st_mode):
                return False
        except OSError:
            return False
    for rel in old.files:
        _link(current / rel, gen / rel)
        if rel.endswith(".py"):
            src = current / rel
            cache = src.parent / "__pycache__"
            if cache.is_dir() and not cache.is_symlink():
                for pyc in cache.glob(f"{src.stem}.*.pyc"):
                    if not pyc.is_symlink():
                        _link(pyc, gen / Path(rel).parent / "__pycache__" / pyc.name)
    return True


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        # copy2 keeps the mtime, so the byte-code copied next to it stays valid.
        shutil.copy2(src, dst)


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
    done: Callable[[LockedPackage, list[str]], None],
    meanwhile: Callable[[], None],
    *,
    progress: ProgressFactory | None = None,
) -> None:
    """Install ``packages`` into ``gen`` a few at a time, the biggest wheels first.

    ``meanwhile()`` runs in this thread once every wheel is queued; ``done(package, files)``
    runs in this thread as each one completes. Each wheel is hashed as it is read and must
    match the lock (HashMismatchError), so unverified bytes are never installed. On the
    first error the wheels not started yet are dropped, the running ones finish, and the
    error is raised.
    """
    if not packages:
        meanwhile()
        return
    order = sorted(packages, key=lambda p: (-(p.file.size or 0), p.name))
    with install_pool(install_workers(len(order))) as pool:
        futures = {}
        for pkg in order:
            report(f"installing {pkg.name} {pkg.version}")
            future = pool.submit(
                install_wheel,
                paths[pkg.file.sha256],
                gen,
                base,
                sha256=pkg.file.sha256,
                prefix=prefix,
                direct_url=pkg.direct_url,
                direct_url_info=pkg.direct_url_info,
                requested=bool(pkg.requested),
            )
            futures[future] = pkg
        counter = progress("installing", len(order)) if progress is not None else None
        try:
            meanwhile()
            with counter if counter is not None else contextlib.nullcontext():
                for future in as_completed(futures):
                    pkg = futures[future]
                    done(pkg, future.result())
                    if counter is not None:
                        counter.advance(f"{pkg.name} {pkg.version}")
        except BrokenExecutor as exc:
            pool.shutdown(wait=True, cancel_futures=True)
            raise SyncError(f"a process installing wheels died: {exc}") from exc
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _verify(
    gen: Path,
    base: BaseEnv,
    lock: Lock,
    installed: Mapping[NormalizedName, InstalledPackage],
    *,
    ignore: AbstractSet[str] = frozenset(),
) -> None:
    """The new generation holds each locked distribution, at its version, and nothing else.

    ``ignore``: dist-info directories someone else installed, kept on purpose.
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
        else:
            # os.path, not pathlib: this runs once per installed file (~11,000 for 50 wheels).
            files = installed[pkg.name].files
            missing = [f for f in files if not os.path.isfile(os.path.join(gen, f))]  # noqa: PTH113, PTH118
            if missing:
                problems.append(f"{pkg.name} lacks {missing[0]}")
    problems += [f"{name} {v} is not in the lock" for name, v in sorted(found.items())]
    if problems:
        raise SyncError(
            "the new overlay generation does not match the lock: " + "; ".join(problems),
            hint="the previous overlay is untouched; a wheel's name or version may not"
            " match the lock",
        )


# -- switching and cleaning --------------------------------------------------------------


def _switch(prefix: Path, gen: Path) -> None:
    """Point ``prefix`` at ``gen`` with one atomic rename."""
    tmp = prefix.with_name(f".{prefix.name}.overlock-switch")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(gen, prefix.parent))
    tmp.replace(prefix)
    _fsync_dir(prefix.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories; durability is best effort
        pass
    finally:
        os.close(fd)


def _next_generation(root: Path) -> int:
    numbers = [0]
    for entry in root.iterdir():
        n = gen_number(entry.name.removesuffix(".partial"))
        if n is not None:
            numbers.append(n)
    return max(numbers) + 1


def _prune(root: Path, keep: set[int]) -> None:
    """Remove generations not in ``keep`` and leftovers of interrupted syncs."""
    for entry in sorted(root.iterdir()):
        n = gen_number(entry.name)
        partial = entry.name.endswith(".partial") or entry.name.startswith("trash-")
        if (n is not None and n not in keep) or partial:
            # Renamed first, so a prune killed half-way never leaves a half-deleted gen-N
            # that rollback could mistake for a complete one.
            trash = entry
            if not entry.name.startswith("trash-"):
                trash = root / f"trash-{entry.name}-{os.getpid()}"
                entry.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)


def _unused(stem: Path) -> Path:
    n = 1
    while os.path.lexists(f"{stem}-{n}"):
        n += 1
    return Path(f"{stem}-{n}")


def _refresh_lock_facts(
    prefix: Path, state: GenerationState, lock: Lock, owner: Owner | None
) -> None:
    """Same packages, another lock text (a new manifest hash) or owner: record it, atomically."""
    new_hash = lock_hash(lock)
    if (
        state.lock_hash == new_hash
        and state.base_fingerprint == lock.base_fingerprint
        and state.owner == owner
    ):
        return
    data = state.to_json()
    data["lock-hash"] = new_hash
    data["base-fingerprint"] = lock.base_fingerprint
    data["owner"] = None if owner is None else owner.to_json()
    _write_json_atomic(prefix / STATE_DIRNAME / STATE_FILE, data)


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def _exclusive(lock_path: Path, prefix: Path, report: Reporter) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            held = f" (held by {holder})" if holder else ""
            report(f"waiting for another sync of {prefix} to finish{held}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        # Who holds it, for the message above in the next sync that has to wait. Written
        # only under the lock; a stale line from a killed holder is harmless (flock is
        # released by the kernel, and the next holder overwrites it).
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            f"pid {os.getpid()} on {socket.gethostname()},"
            f" since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(),
            0,
        )
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _lock_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def _refuse_moving_aside(prefix: Path, base: BaseEnv, protect: Sequence[Path]) -> None:
    """Moving a directory aside is only for an old install prefix in the overlay's place.

    ``prefix = "~"`` once had $HOME renamed aside: whatever the flags, never the home
    directory, never a directory holding the project (or the current directory), and never
    one that holds anything but the directories an install scheme makes.
    """
    real = Path(os.path.realpath(prefix))
    why = None
    home = Path(os.path.realpath(Path.home()))
    held = [Path(os.path.realpath(p)) for p in (*protect, Path.cwd())]
    if real == home or home.is_relative_to(real):
        why = "it is (or holds) your home directory"
    elif any(p == real or p.is_relative_to(real) for p in held):
        why = "it holds the project (overlay.toml) or the current directory"
    elif not prefix.is_dir() or prefix.is_symlink():
        why = "it is not a directory"
    else:
        # What an install scheme makes at the top, plus where wheels' data files usually go.
        tops = {parts[0] for p in base.scheme.values() if (parts := PurePosixPath(p).parts)}
        tops |= {"share", "etc", "lib64"}
        others = sorted(e.name for e in prefix.iterdir() if e.name not in tops)
        installed = any((prefix / base.scheme[k]).is_dir() for k in ("purelib", "platlib"))
        if others or not installed:
            shown = ", ".join(others[:5]) or "no site-packages"
            why = f"it does not look like an install prefix ({shown})"
    if why is not None:
        raise BadInputError(
            f"refusing to move {prefix} aside: {why}",
            hint="point `prefix` in overlay.toml at a new directory for the overlay",
        )


def _refuse_base_paths(prefix: Path, base: BaseEnv) -> None:
    """The overlay, its generations and its lock must all live outside the base."""
    # The generations live next to the prefix, so checking the prefix's real location (its
    # parent resolved, the prefix itself possibly a symlink we own) covers them too.
    mine = Path(os.path.realpath(prefix.parent)) / prefix.name
    for raw in (base.prefix, *base.site_dirs):
        if not raw:
            continue
        theirs = Path(os.path.realpath(raw))
        if mine == theirs or mine.is_relative_to(theirs) or theirs.is_relative_to(mine):
            raise BadInputError(
                f"the overlay prefix {prefix} overlaps the base at {theirs};"
                " overlock never writes into the base",
                hint="choose a prefix outside the base environment",
            )

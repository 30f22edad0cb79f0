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
        spare/                             the generation before, retired: the next sync
                                           trims it to what its lock keeps and builds on it

A new generation is built beside the current one (``gen-N.partial``): from the spare when
there is one (the packages the lock keeps stay, every other file goes), reusing the other
unchanged packages by hard-linking the files the current generation recorded for them,
verified, renamed to ``gen-N`` and only then switched in with ``os.replace`` of a symlink
over the prefix — one atomic rename. A sync killed at any point leaves the prefix pointing
at a complete generation; leftovers are removed by the next sync. Everything written into a
generation names the stable prefix (``/data/ov/...``), never ``gen-N``, so the switch needs
no rewriting.

A wheel's files come from the unpacked store (sync/store.py): unpacked once per cache, then
hard-linked into each generation (cloned or copied where a link fails: another file system,
say), while launchers, ``#!python`` scripts, RECORD, INSTALLER and direct_url.json are written
per generation. So generations of one prefix, and overlays sharing a cache, share inodes.
Nothing overlock does writes into an installed file in place (compileall replaces ``.pyc``
atomically), and the shared files are read-only, so an edit fails; one made anyway (by root)
would show in every generation sharing the file: ``check`` finds it against RECORD, and the
store's stat key keeps the damaged entry from being linked again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from overlock.base.env import BaseEnv
from overlock.errors import BadInputError, OwnedPrefixError, SyncError
from overlock.lock.pylock import Lock
from overlock.prefix.bootstrap import layout_key
from overlock.prefix.state import (
    LOCK_FILE,
    STATE_DIRNAME,
    STATE_FILE,
    GenerationState,
    Owner,
    abs_prefix,
    current_generation,
    prefix_kind,
    read_state,
    read_state_file,
    state_root,
)
from overlock.sync.generation import Fetch, ProgressFactory, Reporter, build
from overlock.sync.plan import SyncPlan, make_plan
from overlock.sync.store import Store
from overlock.sync.switching import (
    SPARE,
    exclusive,
    next_generation,
    prune,
    refresh_lock_facts,
    refuse_base_paths,
    refuse_moving_aside,
    switch,
    unused,
)


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
    store: Store | None = None,
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
    ``store``: the unpacked store (sync/store.py); each wheel is unpacked into it once and
    its files are hard-linked (else cloned, else copied) into the generation, and a wheel
    whose entry is intact is not even fetched. None: wheels are unpacked into the
    generation itself.
    On any error the prefix is left as it was.
    """
    report: Reporter = reporter or (lambda _msg: None)
    prefix = abs_prefix(prefix)
    refuse_base_paths(prefix, base)
    kind = prefix_kind(prefix)
    if kind == "foreign" and not move_aside:
        raise BadInputError(
            f"{prefix} exists and was not made by overlock",
            hint="choose another prefix, or pass --move-aside to move it aside"
            f" (into {state_root(prefix)}) and build the overlay there",
        )
    if kind == "foreign":
        refuse_moving_aside(prefix, base, protect)
    if dry_run:
        claim = claim_prefix(prefix, read_state(prefix), owner, take_over=take_over)
        p = plan(lock, prefix, base)
        gen = current_generation(prefix)
        return SyncResult(
            p, prefix, gen, _previous(prefix), changed=False, dry_run=True, warnings=claim.notes
        )

    root = state_root(prefix)
    root.mkdir(parents=True, exist_ok=True)
    with exclusive(root / LOCK_FILE, prefix, report):
        # Planned under the lock: a sync that held it before us may have changed everything.
        kind = prefix_kind(prefix)
        state = read_state(prefix)
        claim = claim_prefix(prefix, state, owner, take_over=take_over)
        p = plan(lock, prefix, base)
        if p.is_noop and state is not None:
            refresh_lock_facts(prefix, state, lock, claim.owner)
            return SyncResult(
                p, prefix, state.generation, state.previous, changed=False, warnings=claim.notes
            )
        for line in p.lines():
            report(line)
        # Leftovers of killed syncs go; the rollback target stays until the switch succeeds.
        prune(root, keep={state.generation, state.previous or 0} if state else set())
        number = next_generation(root)
        building = root / f"gen-{number}.partial"
        spare = root / SPARE
        recycle = p.rebuild is None and spare.is_dir() and not spare.is_symlink()
        if recycle:
            spare.rename(building)
        # From choosing which store entries to link until they are linked, none is pruned.
        using = contextlib.ExitStack()
        if store is not None:
            waiting = "waiting for `overlock cache prune` or `clean` to finish with the store"
            using.enter_context(store.using(lambda: report(waiting)))
        try:
            warn = build(
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
                store=store,
                recycle=recycle,
            )
            final = root / f"gen-{number}"
            building.rename(final)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        finally:
            using.close()
        if kind == "empty":
            prefix.rmdir()
        elif kind == "foreign":
            aside = unused(root / "replaced")
            prefix.rename(aside)
            report(f"moved the previous contents of {prefix} to {aside}")
        report(f"switching {prefix} to generation {number}")
        switch(prefix, final)
        report(f"{prefix} now holds generation {number}")
        prune(root, keep={number} | ({state.generation} if state else set()), spare=True)
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
    with exclusive(root / LOCK_FILE, prefix, lambda _m: None):
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
        switch(prefix, target)
        return prev


def _previous(prefix: Path) -> int | None:
    state = read_state(prefix)
    return state.previous if state else None

"""The commands that write overlay.toml: init, add, remove.

``add`` and ``remove`` are one transaction: the edited manifest is validated and locked
first, and only a successful lock lets the manifest and the lock be written. On any error
both files keep their exact bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from overlock.app.edit import commit_edit, read_manifest_text, validated_manifest
from overlock.app.overlay import Overlay, default_manifest_path
from overlock.base.env import BaseEnv, find_base_python
from overlock.base.probe_cache import probe_cached
from overlock.cache import Cache
from overlock.cli.common import (
    add_index_options,
    add_no_build_option,
    add_policy_options,
    add_upgrade_options,
    index_options,
    make_lock,
    sync_and_report,
)
from overlock.cli.output import Output
from overlock.errors import BadInputError, BaseProbeError, ManifestError, OverlockError
from overlock.manifest.edit import Edit, add_requirements, remove_requirements
from overlock.manifest.model import MANIFEST_FILENAME, NAME_PLACEHOLDER, Manifest
from overlock.manifest.template import render_template

DEFAULT_PREFIX = "~/overlays/{name}"


# -- init --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Pick:
    base: str  # what goes into overlay.toml
    how: str  # how it was chosen, for the user
    env: BaseEnv


def _probe(base: str, how: str) -> BaseEnv:
    try:
        return probe_cached(base, Cache.default().root)
    except BaseProbeError as exc:
        raise BaseProbeError(
            f"cannot use {how}: {exc.message}",
            hint=exc.hint if exc.hint else "pass the base with --base PATH",
        ) from exc


def _own_environment() -> str | None:
    """The prefix of the environment overlock itself is installed in, if it has one.

    Not a base anyone means when they name none: it holds overlock and its dependencies, and
    an overlay on it serves overlock's interpreter. A venv holding overlock is one; another
    Python is one when overlock sits in its own site-packages (a user-site install is not).
    This is about the running process itself, so ``sys`` is the right source here.
    """
    prefix = os.path.realpath(sys.prefix)
    if sys.prefix != sys.base_prefix:
        return prefix
    here = os.path.realpath(__file__)
    return prefix if here.startswith(prefix.rstrip(os.sep) + os.sep) else None


def _pythons_on_path() -> list[str]:
    """Each ``python3`` on PATH, in PATH order, one per directory (``/bin`` = ``/usr/bin``)."""
    found, seen = [], set()
    for entry in os.environ.get("PATH", os.defpath).split(os.pathsep):
        python = shutil.which("python3", path=entry or os.curdir)
        real_dir = os.path.realpath(entry or os.curdir)
        if python is not None and real_dir not in seen:
            seen.add(real_dir)
            found.append(python)
    return found


def _path_pick(found: str, env: BaseEnv) -> _Pick:
    # Write the environment's prefix when it leads back to the same interpreter (true for
    # /usr, conda and pyenv installs); else the interpreter itself.
    spec = env.prefix
    try:
        same = os.path.realpath(find_base_python(env.prefix)) == os.path.realpath(
            str(env.extra.get("executable") or found)
        )
    except BaseProbeError:
        same = False
    if not same:
        spec = str(env.extra.get("executable") or found)
    return _Pick(spec, f"the python3 on PATH: {found} (prefix {env.prefix})", env)


def _pick_base(given: str | None, out: Output) -> _Pick:
    """The base named with --base, else the active environment, else python3 on PATH;
    never overlock's own environment while another candidate exists."""
    if given is not None:
        spec = os.path.abspath(Path(given).expanduser())  # noqa: PTH100 (keeps symlinks)
        return _Pick(spec, f"the base {spec}", _probe(spec, f"the base {spec}"))
    own = _own_environment()
    fallback: _Pick | None = None

    def is_own(prefix: str) -> bool:
        return own is not None and os.path.realpath(prefix) == own

    def skip(how: str, pick: _Pick) -> None:
        nonlocal fallback
        out.note(f"note: not using {how}: overlock itself is installed there")
        fallback = fallback or pick

    conda = os.environ.get("CONDA_PREFIX")
    venv = os.environ.get("VIRTUAL_ENV")
    for value, how in (
        (conda, f"the active conda environment {conda} ($CONDA_PREFIX)"),
        (venv, f"the active virtual environment {venv} ($VIRTUAL_ENV)"),
    ):
        if not value:
            continue
        if is_own(value):
            skip(how, _Pick(value, how, _probe(value, how)))
            continue
        if value == conda and venv and not is_own(venv):
            out.note(f"note: $VIRTUAL_ENV is set too ({venv}); pass --base to use it instead")
        return _Pick(value, how, _probe(value, how))
    unusable: BaseProbeError | None = None
    for found in _pythons_on_path():
        try:
            env = _probe(found, f"the python3 on PATH ({found})")
        except BaseProbeError as exc:
            unusable = unusable or exc  # a later python3 on PATH may do
            continue
        if is_own(env.prefix):
            skip(f"the python3 on PATH: {found}", _path_pick(found, env))
            continue
        if unusable is not None:
            out.note(f"note: passed over: {unusable.message}")
        return _path_pick(found, env)
    if fallback is not None:
        out.note(
            f"warning: the only base found is the environment overlock itself runs in"
            f" ({own}): an overlay on it is for overlock's interpreter, not your work's;"
            " pass the environment you work in with --base PATH"
        )
        return fallback
    if unusable is not None:
        raise unusable
    raise BadInputError(
        "no base given, no environment is active, and there is no python3 on PATH",
        hint="pass the base environment with --base PATH (its prefix or its python)",
    )


def _manifest_target(given: Path | None) -> Path:
    path = (given or default_manifest_path()).absolute()
    if path.is_dir():
        path = path / MANIFEST_FILENAME
    return path


def _prefix_text(given: str | None, manifest_dir: Path) -> str:
    if given is None:
        return DEFAULT_PREFIX
    if given.startswith("~") or Path(given).is_absolute():
        return given
    # Given relative to where the command runs; the manifest reads it relative to itself.
    return os.path.relpath(os.path.abspath(given), manifest_dir)  # noqa: PTH100


def _name_of_directory(path: Path, base_prefix: str) -> str:
    """The overlay's name when --name is not given: the name of the manifest's directory.

    Not the base's directory name alone: two overlays of ``/usr`` made in two directories
    would both be ``~/overlays/usr``. Characters that do not belong in a path become ``-``.
    """
    for candidate in (path.parent.name, PurePath(base_prefix).name):
        name = re.sub(r"[^A-Za-z0-9._+-]+", "-", candidate).strip("-.")
        if name:
            return name
    return "overlay"


def _unclaimed_name(manifest: Manifest, base_prefix: str) -> Manifest:
    """``manifest`` with ``name-2``, ``name-3``... when its prefix is already taken.

    Taken: something exists there that is not an overlay this very manifest synced (a prefix
    belongs to one overlay, see sync.claim_prefix).
    """
    from overlock.prefix.state import read_state

    if "{" + NAME_PLACEHOLDER + "}" not in manifest.prefix_template:
        return manifest
    stem = manifest.name or manifest.overlay_name(base_prefix)
    for n in range(1, 1000):
        candidate = dataclasses.replace(manifest, name=stem if n == 1 else f"{stem}-{n}")
        prefix = candidate.prefix(base_prefix)
        if not os.path.lexists(prefix):
            return candidate
        try:
            state = read_state(prefix)
        except OverlockError:
            continue
        owner = state.owner if state is not None else None
        mine = os.path.realpath(manifest.path)
        if owner is not None and os.path.realpath(owner.manifest) == mine:
            return candidate
    return manifest


def _check_prefix(prefix: Path, base: BaseEnv) -> None:
    real = Path(os.path.realpath(prefix))
    base_real = Path(os.path.realpath(base.prefix))
    if real == base_real or base_real in real.parents:
        raise BadInputError(
            f"the overlay prefix {prefix} is inside the base {base.prefix}",
            hint="the base is never written; choose another place with --prefix DIR",
        )
    existing = prefix
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise BadInputError(
            f"the overlay prefix {prefix} cannot be created: {existing} is not a writable"
            " directory",
            hint="choose another place with --prefix DIR",
        )


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    path = _manifest_target(args.manifest)
    if path.exists() or path.is_symlink():
        raise OverlockError(
            f"{path} already exists; init does not overwrite it",
            hint="edit it, change it with `overlock add` / `overlock remove`,"
            " or pass -m NEW/PATH/overlay.toml",
        )
    pick = _pick_base(args.base, out)
    out.note(f"using {pick.how}")
    prefix_text = _prefix_text(args.prefix, path.parent)
    name = args.name if args.name is not None else _name_of_directory(path, pick.env.prefix)
    text = render_template(pick.base, prefix_text, name, args.index_url or ())
    try:
        # Every path in the text is absolute or kept relative to ``path`` by Manifest.prefix,
        # so it can be checked before the directory for it exists.
        with tempfile.TemporaryDirectory(prefix="overlock-init-") as scratch:
            manifest = validated_manifest(text, path, Path(scratch))
    except ManifestError as exc:
        issues = "\n".join(f"  {issue}" for issue in exc.issues)
        raise BadInputError(
            f"these options do not make a valid {MANIFEST_FILENAME}:\n{issues}",
            hint="check --prefix and --name",
        ) from None
    if args.name is None:
        manifest = _unclaimed_name(manifest, pick.env.prefix)
        text = render_template(pick.base, prefix_text, manifest.name, args.index_url or ())
    prefix = manifest.prefix(pick.env.prefix)
    _check_prefix(prefix, pick.env)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except FileExistsError:
        raise OverlockError(
            f"{path} appeared while init ran; init does not overwrite it",
            hint="run `overlock init` again, or edit that file",
        ) from None
    env = pick.env
    out.info(
        f"wrote {path}: base {pick.base} (Python {env.python_version}, {env.kind},"
        f" {len(env.distributions)} distributions); overlay prefix {prefix}"
    )
    where = "" if path == default_manifest_path().absolute() else f" -m {_shown_path(path)}"
    out.note("next:")
    out.note(f"  overlock add{where} PACKAGE      # add or upgrade a package, and lock")
    out.note(f"  overlock sync{where}             # install the lock into {prefix}")
    return 0


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- add, remove -------------------------------------------------------------------------


def _edit(args: argparse.Namespace, out: Output, change: Callable[[str], Edit]) -> int:
    from overlock.lock.make import diff_locks

    # The manifest as it is must be valid; this run's index options hold for the new one too.
    overlay = Overlay.load(args.manifest).with_index_options(index_options(args))
    path = overlay.manifest.path
    lock_path = overlay.lock_path
    old_text = read_manifest_text(path)
    edit = change(old_text)
    try:
        new = (
            Overlay(validated_manifest(edit.text, path), overlay.index_options)
            if edit.changed
            else overlay
        )
        old_lock = overlay.read_lock()
        lock, _outcome, _requests = make_lock(
            new, out, no_build=args.no_build, keep=old_lock, args=args
        )
    except OverlockError as exc:
        exc.message += f"\n  nothing was written: {path.name} and {lock_path.name} are unchanged"
        raise

    if edit.changes:
        out.info(f"{path.name} requires:")
        for requirement in edit.changes:
            out.info(f"  {requirement}")
    else:
        out.info(f"{path.name} already says that")
    out.debug(edit.diff(path.name).rstrip("\n"))
    changes = diff_locks(old_lock, lock)
    if changes:
        out.info(f"{lock_path.name}:")
        for locked in changes:
            out.info(f"  {locked}")

    sync_options: dict[str, Any] = {
        "compile_bytecode": not args.no_compile,
        "no_build": args.no_build,
        "offline": args.offline,
    }
    if args.dry_run:
        out.note(f"dry run: {path.name} and {lock_path.name} were not written")
        if args.sync:
            out.info("sync:")
            return sync_and_report(new, out, lock=lock, dry_run=True, **sync_options)
        return 0

    lock_written = commit_edit(path, old_text, edit, lock, lock_path)
    if edit.changed or lock_written:
        written = [p.name for p, done in ((path, edit.changed), (lock_path, lock_written)) if done]
        out.note("wrote " + " and ".join(written))
    else:
        out.note(f"{lock_path.name} was already up to date")
    if args.sync:
        out.info("sync:")
        return sync_and_report(new, out, lock=lock, **sync_options)
    return 0


def cmd_add(args: argparse.Namespace, out: Output) -> int:
    return _edit(args, out, lambda text: add_requirements(text, args.requirements))


def cmd_remove(args: argparse.Namespace, out: Output) -> int:
    return _edit(args, out, lambda text: remove_requirements(text, args.names))


# -- registration ------------------------------------------------------------------------

EXAMPLES = {
    "init": (
        "examples:\n"
        "  overlock init                   # base: $CONDA_PREFIX, $VIRTUAL_ENV or python3 on PATH\n"
        "  overlock init --base /opt/conda/envs/analysis --name hotfix\n"
        "  overlock init -m overlays/analysis/overlay.toml --prefix /scratch/$USER/{name}"
    ),
    "add": (
        "examples:\n"
        '  overlock add "urllib3>=2" seaborn==0.13.2\n'
        '  overlock add "numpy<2"                # replaces an existing numpy entry\n'
        "  overlock add --sync seaborn           # lock, then install into the prefix\n"
        "  overlock add --dry-run seaborn        # show what would change"
    ),
    "remove": "examples:\n  overlock remove seaborn\n  overlock remove --sync urllib3 requests",
}


def register(add: Callable[..., Any], manifest_opt: argparse.ArgumentParser) -> None:
    p = add(
        "init",
        cmd_init,
        "write a commented overlay.toml for a base environment",
        manifest_opt,
        example=EXAMPLES["init"],
    )
    p.add_argument(
        "--base",
        metavar="PATH",
        help="the base environment's prefix or python (default: the active environment:"
        " $CONDA_PREFIX, $VIRTUAL_ENV, else the python3 on PATH)",
    )
    p.add_argument(
        "--prefix",
        metavar="DIR",
        help=f"where the overlay is installed; {{name}} is replaced (default: {DEFAULT_PREFIX})",
    )
    p.add_argument(
        "--name",
        help="the overlay's name (default: the name of overlay.toml's directory, with -2, -3..."
        " added when that prefix is taken)",
    )
    p.add_argument(
        "--index-url",
        action="append",
        metavar="URL",
        help="package index to use instead of pip's configuration (repeat for more)",
    )

    edit_opts = argparse.ArgumentParser(add_help=False)
    edit_opts.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    edit_opts.add_argument("--sync", action="store_true", help="also sync the prefix")
    add_no_build_option(edit_opts)
    add_policy_options(edit_opts)
    add_upgrade_options(edit_opts)
    add_index_options(edit_opts)
    edit_opts.add_argument(
        "--no-compile", action="store_true", help="with --sync: do not byte-compile"
    )

    p = add(
        "add",
        cmd_add,
        "add or change requirements in overlay.toml, then lock",
        manifest_opt,
        edit_opts,
        example=EXAMPLES["add"],
    )
    p.add_argument("requirements", nargs="+", metavar="REQ", help='PEP 508, e.g. "urllib3>=2"')

    p = add(
        "remove",
        cmd_remove,
        "remove projects from overlay.toml's requires, then lock",
        manifest_opt,
        edit_opts,
        example=EXAMPLES["remove"],
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="project names to remove")

"""``overlock export --format requirements``: the lock as a hash-pinned requirements file.

The file reproduces the overlay with plain pip on a machine without overlock::

    BASE/bin/python -m pip install -I --no-deps --require-hashes --prefix PREFIX -r FILE

Every package is pinned to the exact file the lock chose (``--hash``), so pip installs the
same bytes or fails. Index lines come from the indexes the lock recorded per package; they
never carry credentials (pip finds those in netrc, a keyring or its own configuration).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlock import __version__
from overlock.index.pipconfig import IndexConfig
from overlock.lock.pylock import Lock, LockedFile, LockedPackage
from overlock.redact import strip_credentials

FORMATS = ("requirements",)


@dataclass(frozen=True)
class Export:
    """The file's text and what went into it."""

    text: str
    command: str  # the pip command the header recommends
    index_urls: tuple[str, ...]  # first is --index-url, the rest --extra-index-url
    find_links: tuple[str, ...]
    packages: tuple[str, ...]  # "name==version" or "name @ URL", in lock order
    skipped: tuple[str, ...] = ()  # "name @ URL" of sources no hash can pin (git, directories)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "requirements",
            "command": self.command,
            "index_urls": list(self.index_urls),
            "find_links": list(self.find_links),
            "packages": list(self.packages),
            "skipped": list(self.skipped),
        }


def pip_command(python: str, prefix: str, target: str, *, requirement: bool = False) -> str:
    """The pip command installing the file ``target`` (or, with ``requirement``, one
    requirement already quoted for the shell) into ``prefix``."""
    words = [
        python or "python",
        "-m",
        "pip",
        "install",
        "-I",
        "--no-deps",
        *([] if requirement else ["--require-hashes"]),
        "--prefix",
        prefix,
    ]
    command = " ".join(shlex.quote(w) for w in words)
    return f"{command} {target}" if requirement else f"{command} -r {shlex.quote(target)}"


def _sources(lock: Lock, config: IndexConfig | None) -> tuple[list[str], list[str]]:
    """(index URLs, find-links) the locked packages came from, credential-free.

    The lock records each file's source by its credential-free label; the configuration says
    which labels are indexes and which are find-links locations. A label the configuration no
    longer lists is judged by its shape: an http(s) URL is an index, anything else find-links.
    """
    cfg_indexes: list[str] = []
    cfg_links: list[str] = []
    if config is not None:
        cfg_indexes = [] if config.no_index else [strip_credentials(u) for u in config.index_urls]
        cfg_links = [strip_credentials(f) for f in config.find_links]
    used = list(
        dict.fromkeys(
            strip_credentials(p.index)
            for p in lock.packages
            if p.index and (p.wheel is not None or p.sdist is not None)
        )
    )
    indexes: list[str] = []
    links: list[str] = []
    for label in used:
        if label in cfg_links:
            links.append(label)
        elif label in cfg_indexes or label.startswith(("http://", "https://")):
            indexes.append(label)
        else:
            links.append(label)
    # The configuration's order: its primary index stays the primary.
    order = {u: i for i, u in enumerate([*cfg_indexes, *cfg_links])}
    indexes.sort(key=lambda u: order.get(u, len(order)))
    links.sort(key=lambda u: order.get(u, len(order)))
    if not indexes and not links and any(p.wheel or p.sdist for p in lock.packages):
        indexes = cfg_indexes[:1]  # a lock that recorded no index: what the overlay uses now
    return indexes, links


def _hashed(pkg: LockedPackage) -> LockedFile | None:
    """The file a hash can pin: a wheel, a direct file URL, or an index sdist."""
    return pkg.wheel or pkg.archive or pkg.sdist


def _requirement(pkg: LockedPackage) -> str:
    if pkg.archive is not None:
        return f"{pkg.name} @ {strip_credentials(pkg.archive.url)}"
    return f"{pkg.name}=={pkg.version}"


def _unpinnable(pkg: LockedPackage, lock_dir: Path) -> str:
    """``name @ URL`` of a source tree or a git commit: pip cannot check a hash of either."""
    if pkg.vcs is not None:
        v = pkg.vcs
        sub = f"#subdirectory={v.subdirectory}" if v.subdirectory else ""
        return f"{pkg.name} @ {v.type}+{strip_credentials(v.url)}@{v.commit_id}{sub}"
    assert pkg.directory is not None
    path = Path(pkg.directory.path)
    return f"{pkg.name} @ {(path if path.is_absolute() else lock_dir / path).as_uri()}"


def requirements(
    lock: Lock,
    *,
    lock_path: str,
    prefix: str,
    config: IndexConfig | None = None,
    filename: str = "requirements.txt",
) -> Export:
    """The requirements file reproducing ``lock`` in ``prefix`` with pip."""
    indexes, links = _sources(lock, config)
    command = pip_command(lock.base_python, prefix, filename)
    lines = [
        f"# Generated by overlock {__version__} from {lock_path}; do not edit.",
        "# It reproduces that overlay without overlock. Install it with the base's own pip",
        "# (or any pip of the same Python), into the overlay's prefix:",
        "#",
        f"#   {command}",
        "#",
        "# -I: ignore what the base has; --no-deps: this list is already complete.",
        "# Then put the prefix's site-packages first on the base's path to use it.",
    ]
    if indexes or links:
        lines.append("# Credentials are not written here: pip reads them from netrc, a keyring")
        lines.append("# or its configuration.")
    lines.append("")
    # Quoted as pip splits option lines (shlex): a location read from a shared lock cannot
    # add options of its own (`--trusted-host`, another index), and a path may hold spaces.
    q = shlex.quote
    if indexes:
        lines.append(f"--index-url {q(indexes[0])}")
        lines += [f"--extra-index-url {q(u)}" for u in indexes[1:]]
    elif lock.packages:
        lines.append("--no-index")
    lines += [f"--find-links {q(f)}" for f in links]
    if indexes or links or lock.packages:
        lines.append("")
    packages = []
    skipped = []
    for pkg in lock.packages:
        locked = _hashed(pkg)
        if locked is None:
            skipped.append(_unpinnable(pkg, Path(lock_path).parent))
            continue
        requirement = _requirement(pkg)
        packages.append(requirement)
        lines.append(f"{requirement} \\")
        lines.append(f"    --hash=sha256:{locked.sha256}")
    if skipped:
        lines += [
            "",
            "# Not above: built from source trees or git commits, which pip cannot check",
            "# against a hash. Install them after the file, without --require-hashes:",
            *(
                "#   " + pip_command(lock.base_python, prefix, shlex.quote(s), requirement=True)
                for s in skipped
            ),
        ]
    return Export(
        text="\n".join(lines) + "\n",
        command=command,
        index_urls=tuple(indexes),
        find_links=tuple(links),
        packages=tuple(packages),
        skipped=tuple(skipped),
    )

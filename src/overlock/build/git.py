"""git references: a revision resolved to a commit, a commit checked out, moved branches found.

Every repository is mirrored once per cache (``Cache.git_dir``, a bare repository); checkouts
are cheap ``--shared`` clones of the mirror into scratch space, so a commit already fetched
is never fetched again. ``git ls-remote`` answers "which commit is this branch or tag now"
without fetching anything: that is all a lock of an already-built commit, and
``vcs_updates``, need from the network.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.utils import NormalizedName

from overlock import children, untrusted
from overlock.cache import Cache
from overlock.dists.urls import fragment_subdirectory
from overlock.errors import BadInputError, BuildError
from overlock.limits import GIT_LOW_SPEED_LIMIT, GIT_LOW_SPEED_TIME, GIT_TIMEOUT_ENV, git_timeout
from overlock.lock.pylock import Lock
from overlock.redact import (
    http_credentials,
    redact_text,
    redact_url,
    strip_credentials,
    with_credentials,
)

_COMMIT = re.compile(r"^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$")
_SUPPORTED = ("git+",)
_OTHER_VCS = ("hg+", "svn+", "bzr+")


@dataclass(frozen=True)
class GitRef:
    """``git+URL@rev#subdirectory=dir``, taken apart."""

    repo: str  # the repository URL, without ``git+``, revision or fragment
    rev: str | None = None
    subdirectory: str | None = None

    @property
    def url(self) -> str:
        """Back to a PEP 508 URL."""
        text = f"git+{self.repo}"
        if self.rev:
            text += f"@{self.rev}"
        if self.subdirectory:
            text += f"#subdirectory={self.subdirectory}"
        return text


def is_vcs_url(url: str) -> bool:
    return url.startswith(_SUPPORTED + _OTHER_VCS)


def parse_git_url(url: str) -> GitRef:
    """Split a ``git+`` requirement URL; other version-control systems are refused."""
    if url.startswith(_OTHER_VCS):
        raise BadInputError(
            f"{redact_url(url)}: only git references are supported",
            hint="point at a git repository, a source directory or an sdist",
        )
    if not url.startswith("git+"):
        raise BadInputError(f"{redact_url(url)} is not a git reference (git+URL@revision)")
    parts = urlsplit(url[len("git+") :])
    path, rev = parts.path, None
    if "@" in path:
        path, _, rev = path.rpartition("@")
        rev = unquote(rev) or None
    subdirectory = fragment_subdirectory(url)
    repo = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    try:
        untrusted.git_url(repo, "the repository URL")
        if rev is not None:
            untrusted.git_revision(rev, "the revision")
        if subdirectory is not None:
            untrusted.relative_path(subdirectory, "#subdirectory=")
    except untrusted.UntrustedValue as exc:
        raise BadInputError(
            f"git+{redact_url(repo)}: {exc}",
            hint="a git reference is git+https://, git+ssh://, git+git:// or git+file://,"
            " then @branch, tag or commit",
        ) from None
    return GitRef(repo=repo, rev=rev, subdirectory=subdirectory)


def is_commit(rev: str | None) -> bool:
    return bool(rev and _COMMIT.match(rev))


# -- running git -------------------------------------------------------------------------


# A credential helper defined in the environment, answering from the environment: the
# password never appears on git's command line (``ps`` shows that to every user of a login
# node) nor in a file.
_HELPER = (
    '!f() { test "$1" = get || exit 0;'
    ' printf "username=%s\\npassword=%s\\n" "$OVERLOCK_GIT_USERNAME" "$OVERLOCK_GIT_PASSWORD"; }; f'
)


def _credential_env(env: dict[str, str], user: str, password: str) -> None:
    """Make git ask ``_HELPER`` (and no other helper) for credentials: an empty
    ``credential.helper`` first clears the user's helpers, so none of them stores these."""
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    for i, value in enumerate(("", _HELPER), start=count):
        env[f"GIT_CONFIG_KEY_{i}"] = "credential.helper"
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + 2)
    env["OVERLOCK_GIT_USERNAME"] = user
    env["OVERLOCK_GIT_PASSWORD"] = password


def _environment() -> dict[str, str]:
    """git's environment: it never waits for a person, nor for a stalled HTTP transfer."""
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    # A lock may run unattended: fail rather than prompt. An empty GIT_ASKPASS stops git
    # before it tries core.askPass or SSH_ASKPASS. ssh, in a session of its own
    # (``children``), has no terminal to prompt on, and no askpass program either: OpenSSH
    # 8.4+ is told so, older ones run one only when there is a display. So ssh cannot ask,
    # as with ``-o BatchMode=yes``, and the user's own ssh command is kept as it is.
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_ASKPASS"] = ""
    env["SSH_ASKPASS_REQUIRE"] = "never"
    env.pop("DISPLAY", None)
    env["GCM_INTERACTIVE"] = "never"  # Git Credential Manager's dialogs
    # curl waits for an answer as long as the server keeps the connection open; this ends a
    # stalled HTTP transfer long before the deadline of the whole command. A user's own
    # setting wins.
    env.setdefault("GIT_HTTP_LOW_SPEED_LIMIT", str(GIT_LOW_SPEED_LIMIT))
    env.setdefault("GIT_HTTP_LOW_SPEED_TIME", str(GIT_LOW_SPEED_TIME))
    # Transports that cannot run a program (``ext::``), for submodules of a fetched tree too.
    env["GIT_ALLOW_PROTOCOL"] = ":".join(sorted(untrusted.GIT_SCHEMES))
    return env


def _run(args: Sequence[str], *, cwd: Path | None, what: str) -> subprocess.CompletedProcess[str]:
    """git ``args``, ended with all its helpers (``git-remote-http``, ssh) at the deadline."""
    env = _environment()
    argv = ["git"]
    for arg in args:
        found = http_credentials(arg)
        if found is not None:
            _credential_env(env, *found)
            arg = strip_credentials(arg)
        argv.append(arg)
    timeout = git_timeout()
    try:
        return children.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )
    except FileNotFoundError:
        raise BuildError(
            f"cannot {what}: git is not installed",
            hint="install git, or point at a source directory or an sdist instead",
        ) from None
    except subprocess.TimeoutExpired:
        raise BuildError(
            f"cannot {what}: git {args[0]} did not finish within {timeout:g} s and was stopped",
            hint="the server may accept connections but not answer, or the network is very"
            " slow; check the repository URL and the network, or set"
            f" {GIT_TIMEOUT_ENV} (seconds, now {timeout:g}) to wait longer",
        ) from None


def _git(args: Sequence[str], *, cwd: Path | None = None, what: str) -> str:
    proc = _run(args, cwd=cwd, what=what)
    if proc.returncode != 0:
        raise BuildError(
            f"cannot {what}: git {args[0]} failed",
            output=redact_text(proc.stderr + proc.stdout),
            hint="check the repository URL and revision, and that it is reachable",
        )
    return proc.stdout


def ls_remote(repo: str, rev: str | None, *, credentials: Sequence[str] = ()) -> str | None:
    """The commit ``rev`` (a branch, a tag, or HEAD when None) names in ``repo`` now.

    ``credentials``: URLs whose user and password serve ``repo``'s host (see
    ``redact.with_credentials``); a lock's URL never has any.
    """
    pattern = rev or "HEAD"
    access = with_credentials(repo, credentials)
    # Both patterns: an annotated tag is listed peeled (``^{}``) only when asked for so.
    # ``--``: what follows is a repository and patterns, never an option, whatever a lock says.
    out = _git(
        ["ls-remote", "--", access, pattern, f"{pattern}^{{}}"], what=f"list {redact_url(repo)}"
    )
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if sha and ref:
            refs[ref.strip()] = sha.strip()
    for ref in (
        pattern,
        f"refs/heads/{pattern}",
        f"refs/tags/{pattern}^{{}}",  # an annotated tag, peeled to its commit
        f"refs/tags/{pattern}",
    ):
        if ref in refs:
            return refs[ref].lower()
    return None


def resolve_commit(repo: str, rev: str | None, cache: Cache) -> str:
    """The full commit id ``rev`` names in ``repo`` now (a moving branch is pinned here)."""
    if rev is not None and is_commit(rev):
        return rev.lower()
    found = ls_remote(repo, rev)
    if found is not None:
        return found
    # Not a branch or tag: perhaps an abbreviated commit. Only a fetch can tell.
    mirror = _mirror(repo, cache, fetch_all=True)
    try:
        out = _git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
            cwd=mirror,
            what=f"find {rev} in {redact_url(repo)}",
        )
    except BuildError:
        out = ""
    if not out.strip():
        raise BadInputError(
            f"{redact_url(repo)} has no branch, tag or commit named {rev!r}",
            hint="check the `rev` in overlay.toml (or the @revision of the git URL)",
        )
    return out.strip().lower()


def checkout(
    repo: str, commit: str, cache: Cache, dest: Path, *, credentials: Sequence[str] = ()
) -> Path:
    """A working tree of ``repo`` at ``commit`` (with submodules) in ``dest``."""
    repo = with_credentials(repo, credentials)
    mirror = _mirror(repo, cache, fetch_all=False)
    if not _has_commit(mirror, commit):
        _fetch(mirror, repo, ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"])
    if not _has_commit(mirror, commit):
        # Some servers let a client fetch an unadvertised commit by its id.
        with contextlib.suppress(BuildError):
            _fetch(mirror, repo, [commit])
    if not _has_commit(mirror, commit):
        raise BuildError(
            f"{redact_url(repo)} no longer has commit {commit}",
            hint="the branch was rewritten; run `overlock lock` to pin a commit that exists",
        )
    what = f"check out {commit[:12]} of {redact_url(repo)}"
    _git(
        ["clone", "--quiet", "--shared", "--no-checkout", "--", str(mirror), str(dest)],
        what=what,
    )
    # ``commit`` before ``--``: a tree-ish, with no paths after it.
    _git(["checkout", "--quiet", "--detach", commit, "--"], cwd=dest, what=what)
    if (dest / ".gitmodules").is_file():
        _git(["submodule", "update", "--quiet", "--init", "--recursive"], cwd=dest, what=what)
    return dest


def _mirror(repo: str, cache: Cache, *, fetch_all: bool) -> Path:
    # One mirror per repository whatever credentials reach it; no secret in a cache key.
    mirror = cache.git_dir(strip_credentials(repo))
    if not (mirror / "HEAD").is_file():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        _git(["init", "--quiet", "--bare", "--", str(mirror)], what="create a git mirror")
        fetch_all = True
    if fetch_all:
        _fetch(mirror, repo, ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"])
    return mirror


def _fetch(mirror: Path, repo: str, refspecs: Sequence[str]) -> None:
    _git(
        ["fetch", "--quiet", "--force", "--", repo, *refspecs],
        cwd=mirror,
        what=f"fetch {redact_url(repo)}",
    )


def _has_commit(mirror: Path, commit: str) -> bool:
    proc = _run(
        ["cat-file", "-e", "--end-of-options", f"{commit}^{{commit}}"],
        cwd=mirror,
        what=f"look for commit {commit[:12]} in the git mirror {mirror}",
    )
    return proc.returncode == 0


# -- moved references ----------------------------------------------------------------------


@dataclass(frozen=True)
class VcsUpdate:
    """A locked git reference whose branch or tag now names another commit (or could not
    be checked: ``error``)."""

    name: NormalizedName
    url: str  # the repository, as the lock records it
    requested_revision: str | None  # the branch or tag; None: the default branch
    locked_commit: str
    latest_commit: str | None = None
    error: str | None = None

    @property
    def available(self) -> bool:
        """A newer commit is there (not merely: the check failed)."""
        return self.latest_commit is not None and self.latest_commit != self.locked_commit

    def __str__(self) -> str:
        ref = self.requested_revision or "the default branch"
        if self.error is not None:
            return f"{self.name}: cannot check {ref} of {self.url}: {self.error}"
        assert self.latest_commit is not None
        return (
            f"{self.name}: newer commit available on {ref}:"
            f" {self.locked_commit[:12]} (locked) -> {self.latest_commit[:12]}"
        )

    def to_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "url": self.url,
            "requested_revision": self.requested_revision,
            "locked_commit": self.locked_commit,
            "latest_commit": self.latest_commit,
            "error": self.error,
        }


def vcs_updates(lock: Lock, credentials: Sequence[str] = ()) -> list[VcsUpdate]:
    """The lock's git references whose branch or tag moved since the lock was written.

    Asks each repository with ``git ls-remote`` (no fetch, no build, nothing written);
    references locked by commit id are not asked about. A repository that cannot be
    reached gives an entry with ``error`` set rather than an exception. Packages whose
    reference did not move are left out, so an empty list means "all current".
    """
    out: list[VcsUpdate] = []
    for pkg in lock.packages:
        vcs = pkg.vcs
        if vcs is None or is_commit(vcs.requested_revision):
            continue
        latest: str | None = None
        error: str | None = None
        try:
            latest = ls_remote(vcs.url, vcs.requested_revision, credentials=credentials)
        except BuildError as exc:
            detail = exc.output.strip().splitlines()
            error = detail[-1] if detail else exc.message
        else:
            if latest is None:
                error = "the branch or tag no longer exists"
            elif latest == vcs.commit_id:
                continue
        out.append(
            VcsUpdate(pkg.name, vcs.url, vcs.requested_revision, vcs.commit_id, latest, error)
        )
    return out


__all__ = [
    "GitRef",
    "VcsUpdate",
    "checkout",
    "is_commit",
    "is_vcs_url",
    "ls_remote",
    "parse_git_url",
    "resolve_commit",
    "vcs_updates",
]

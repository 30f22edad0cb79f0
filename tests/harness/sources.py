"""Buildable sources for tests: project trees with an in-tree PEP 517 backend, sdists of
them, and local git repositories.

The backend, ``tinybuild``, is one module written into the tree (``backend-path``), so a
build needs nothing from any index. It reads ``tinybuild.json`` (written by
``write_project``) for the project's name, version, requirements and packages, and writes
wheels with ``zipfile``. It offers every hook overlock may call: ``prepare_metadata_for_*``,
``build_wheel``, ``build_editable`` (PEP 660: a ``.pth`` pointing at the tree),
``build_sdist`` and ``get_requires_for_build_*``. Each hook call is appended to the file
named by ``$TINYBUILD_LOG``, if set, so tests can tell what ran (and with which Python).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

# Plain Python 3 (no f-strings, no walrus): the base interpreter runs it, whatever version.
BACKEND_SOURCE = r'''
"""tinybuild: a PEP 517 build backend small enough for tests."""
import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import zipfile

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _config():
    with open("tinybuild.json") as fh:
        return json.load(fh)


def _log(hook):
    path = os.environ.get("TINYBUILD_LOG")
    if path:
        with open(path, "a") as fh:
            version = "%d.%d" % sys.version_info[:2]
            fh.write("%s %s %s\n" % (hook, version, os.getcwd()))


def _enter(hook):
    _log(hook)
    cfg = _config()
    if cfg.get("fail") in (hook, "*"):
        sys.stderr.write("tinybuild: compiling %s ...\n" % cfg["name"])
        sys.stderr.write("tinybuild: error: missing header frobnicate.h\n")
        raise RuntimeError("deliberate failure in " + hook)
    return cfg


def _stem(cfg):
    return re.sub(r"[-_.]+", "_", cfg["name"]).lower()


def _dist_info(cfg):
    return "%s-%s.dist-info" % (_stem(cfg), cfg["version"])


def _metadata(cfg):
    lines = ["Metadata-Version: 2.1", "Name: " + cfg["name"], "Version: " + cfg["version"]]
    if cfg.get("requires_python"):
        lines.append("Requires-Python: " + cfg["requires_python"])
    for req in cfg.get("requires", []):
        lines.append("Requires-Dist: " + req)
    return "\n".join(lines) + "\n\n"


_WHEEL = "Wheel-Version: 1.0\nGenerator: tinybuild\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _requires(hook):
    _log(hook)
    return list(_config().get("extra_build_requires", []))


def get_requires_for_build_wheel(config_settings=None):
    return _requires("get_requires_for_build_wheel")


def get_requires_for_build_editable(config_settings=None):
    return _requires("get_requires_for_build_editable")


def get_requires_for_build_sdist(config_settings=None):
    return _requires("get_requires_for_build_sdist")


def _prepare(hook, metadata_directory):
    cfg = _enter(hook)
    path = os.path.join(metadata_directory, _dist_info(cfg))
    if not os.path.isdir(path):
        os.makedirs(path)
    with open(os.path.join(path, "METADATA"), "w") as fh:
        fh.write(_metadata(cfg))
    with open(os.path.join(path, "WHEEL"), "w") as fh:
        fh.write(_WHEEL)
    return _dist_info(cfg)


if not _config().get("no_prepare"):

    def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
        return _prepare("prepare_metadata_for_build_wheel", metadata_directory)

    def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
        return _prepare("prepare_metadata_for_build_editable", metadata_directory)


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _write_wheel(directory, cfg, files):
    info = _dist_info(cfg)
    members = list(files)
    members.append((info + "/METADATA", _metadata(cfg).encode("utf-8")))
    members.append((info + "/WHEEL", _WHEEL.encode("utf-8")))
    record = "".join(
        "%s,%s,%d\n" % (name, _record_hash(data), len(data)) for name, data in members
    )
    record += info + "/RECORD,,\n"
    members.append((info + "/RECORD", record.encode("utf-8")))
    filename = "%s-%s-py3-none-any.whl" % (_stem(cfg), cfg["version"])
    with zipfile.ZipFile(os.path.join(directory, filename), "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zinfo = zipfile.ZipInfo(name, date_time=_EPOCH)
            zinfo.external_attr = 0o644 << 16
            zf.writestr(zinfo, data)
    return filename


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    cfg = _enter("build_wheel")
    files = []
    for package in cfg.get("packages", []):
        for dirpath, dirnames, filenames in os.walk(package):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    with open(path, "rb") as fh:
                        files.append((path.replace(os.sep, "/"), fh.read()))
    if cfg.get("packages"):
        files.append(
            (
                cfg["packages"][0] + "/_built_with.py",
                ("BUILT_WITH = %r\n" % ("%d.%d" % sys.version_info[:2])).encode("utf-8"),
            )
        )
    return _write_wheel(wheel_directory, cfg, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    cfg = _enter("build_editable")
    pth = "__editable__.%s.pth" % _stem(cfg)
    return _write_wheel(wheel_directory, cfg, [(pth, (os.getcwd() + "\n").encode("utf-8"))])


def build_sdist(sdist_directory, config_settings=None):
    cfg = _enter("build_sdist")
    stem = "%s-%s" % (_stem(cfg), cfg["version"])
    filename = stem + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tf:
        tf.add(".", arcname=stem)
    return filename
'''

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}
_GIT_IDENTITY = ("-c", "user.name=overlock tests", "-c", "user.email=tests@example.invalid")


def write_project(
    root: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    module: str | None = None,
    code: str | None = None,
    fail: str | None = None,
    no_prepare: bool = False,
    build_requires: Sequence[str] = (),
    extra_build_requires: Sequence[str] = (),
    in_tree: bool = True,
) -> Path:
    """A project tree at ``root`` built by tinybuild; returns ``root``.

    ``module`` (default: the name with ``_``) holds ``code`` (default: a ``VERSION`` and a
    ``hello()``). ``fail`` names a hook that fails with compiler-like output (``"*"``: all).
    ``in_tree=False`` leaves the backend out of the tree: ``build_requires`` must then bring
    it (see ``backend_wheel_files``).
    """
    module = module or canonicalize_name(name).replace("-", "_")
    root.mkdir(parents=True, exist_ok=True)
    requires_line = "requires = [" + ", ".join(json.dumps(r) for r in build_requires) + "]"
    lines = ["[build-system]", requires_line, 'build-backend = "tinybuild"']
    if in_tree:
        lines.append('backend-path = ["_build"]')
        (root / "_build").mkdir(exist_ok=True)
        (root / "_build" / "tinybuild.py").write_text(BACKEND_SOURCE)
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n")
    config: dict[str, object] = {
        "name": name,
        "version": version,
        "requires": list(requires),
        "packages": [module],
    }
    if requires_python:
        config["requires_python"] = requires_python
    if fail:
        config["fail"] = fail
    if no_prepare:
        config["no_prepare"] = True
    if extra_build_requires:
        config["extra_build_requires"] = list(extra_build_requires)
    (root / "tinybuild.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    package = root / module
    package.mkdir(exist_ok=True)
    init = package / "__init__.py"
    if code is not None or not init.exists():
        init.write_text(
            code
            if code is not None
            else f'VERSION = "{version}"\n\n\ndef hello() -> str:\n    return "hello from {name}"\n'
        )
    return root


def set_version(root: Path, version: str, requires: Sequence[str] | None = None) -> None:
    """Change the declared version (and optionally the requirements) of a tinybuild tree."""
    path = root / "tinybuild.json"
    config = json.loads(path.read_text())
    config["version"] = version
    if requires is not None:
        config["requires"] = list(requires)
    path.write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")


def backend_wheel_files() -> Mapping[str, str]:
    """Files of a wheel that installs tinybuild as an ordinary module (for WheelSpec)."""
    return {"tinybuild.py": BACKEND_SOURCE}


def make_sdist(root: Path, dest: Path) -> Path:
    """A reproducible ``.tar.gz`` sdist of the tinybuild tree at ``root``, in ``dest``."""
    config = json.loads((root / "tinybuild.json").read_text())
    name, version = config["name"], config["version"]
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = [("PKG-INFO", pkg_info)]
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                entries.append((path.relative_to(root).as_posix(), path.read_bytes()))
        for rel, data in entries:
            info = tarfile.TarInfo(f"{stem}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{stem}.tar.gz"
    with (
        open(target, "wb") as out,
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz,
    ):
        gz.write(raw.getvalue())
    return target


# -- git -----------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with no system or global configuration; return its stdout."""
    proc = subprocess.run(
        ["git", *_GIT_IDENTITY, "-c", "init.defaultBranch=main", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}:\n{proc.stderr}")
    return proc.stdout.strip()


def git_init(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "--quiet")
    return repo


def commit_all(repo: Path, message: str = "change") -> str:
    """Commit everything in the work tree; return the new commit id."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")

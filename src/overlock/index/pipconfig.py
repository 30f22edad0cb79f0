"""Where packages come from: the overlay's ``[index]`` table, else the user's pip configuration.

Users of overlock ran ``pip install --prefix`` before; with no ``[index]`` table an overlay
must see the same indexes, find-links, certificates and timeouts pip would have. pip's
configuration is read here without importing pip (its internals are not an API), following
pip's documented file locations and precedence.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from overlock.limits import read_text_bounded
from overlock.redact import redact_url

PYPI_SIMPLE = "https://pypi.org/simple/"
DEFAULT_TIMEOUT = 15.0  # pip's default socket timeout
DEFAULT_RETRIES = 5  # pip's default

# pip reads its options from these sections, later ones winning (``install`` is the command
# overlock stands in for).
_SECTIONS = ("global", "install")
# pip's global file besides $XDG_CONFIG_DIRS/pip/pip.conf (a name tests point elsewhere:
# the suite never reads this machine's configuration).
SYSTEM_CONFIG = Path("/etc/pip.conf")
_TRUE = frozenset({"1", "y", "yes", "t", "true", "on"})
_FALSE = frozenset({"0", "n", "no", "f", "false", "off"})


@dataclass(frozen=True)
class IndexConfig:
    """Everything the index client needs to know about where packages come from."""

    index_urls: tuple[str, ...] = (PYPI_SIMPLE,)  # first is primary; may hold credentials
    find_links: tuple[str, ...] = ()  # URLs or absolute paths
    cert: str | None = None  # CA bundle added to the system trust store
    client_cert: str | None = None  # PEM with client certificate and key
    trusted_hosts: tuple[str, ...] = ()  # host or host:port; TLS not verified there
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    no_index: bool = False  # when true, index_urls are ignored
    # URLs that only lend their credentials to requests for their host (direct references
    # in overlay.toml); never an index, never written.
    auth_urls: tuple[str, ...] = ()
    # pip's constraint files (``constraint``, PIP_CONSTRAINT): machine policy, kept when an
    # [index] table replaces where packages come from.
    constraint_files: tuple[str, ...] = ()
    # pip's ``proxy`` (PIP_PROXY, --proxy): every request goes through it, as pip sends them
    # (NO_PROXY does not exempt a host from it). May hold credentials: kept out of repr.
    proxy: str | None = field(default=None, repr=False)
    # pip's configuration files that were read, in pip's order, each with its kind:
    # "/etc/pip.conf (global)", ".../base/pip.conf (site)"; for `overlock show`.
    config_files: tuple[str, ...] = ()
    origin: str = "defaults"  # where these settings came from, for messages
    # How this run may use the network (``--offline``/``--refresh``), not where packages are:
    # offline, only the cache answers (pages of any age); refresh, every kept index page is
    # revalidated however fresh (index/httpcache.py).
    offline: bool = False
    refresh: bool = False

    @property
    def sources(self) -> tuple[str, ...]:
        """Index URLs then find-links actually in use (may hold credentials)."""
        indexes = () if self.no_index else self.index_urls
        return indexes + self.find_links

    def describe(self) -> str:
        """A credential-free one-line summary for messages and logs."""
        parts = [redact_url(u) for u in (() if self.no_index else self.index_urls)]
        parts += [f"find-links {redact_url(f)}" for f in self.find_links]
        return f"{', '.join(parts) or 'no index'} (from {self.origin})"

    @classmethod
    def from_pip_config(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        cwd: str | os.PathLike[str] | None = None,
        site_prefix: str | None = None,
    ) -> IndexConfig:
        """The settings ``pip install`` would use, given ``environ`` (default ``os.environ``).

        Files are read in pip's order, later files overriding earlier ones (pip's
        ``Configuration.iter_config_files``): the global files (``$XDG_CONFIG_DIRS/pip/pip.conf``,
        ``/etc/pip.conf``); the user files (``~/.pip/pip.conf``, ``$XDG_CONFIG_HOME/pip/pip.conf``),
        skipped when ``PIP_CONFIG_FILE`` names an existing file, as pip does; the *site* file,
        ``<sys.prefix>/pip.conf`` of the environment pip installs into: ``site_prefix``, the
        base's ``sys.prefix`` from its probe (a facility's mirror set for one environment),
        never this process's; last ``PIP_CONFIG_FILE`` (``os.devnull`` disables every file).
        The ``[install]`` section beats ``[global]`` and ``PIP_*`` variables beat both.
        """
        env = dict(os.environ if environ is None else environ)
        here = Path(cwd) if cwd is not None else Path.cwd()
        values: dict[str, str] = {}
        merged: dict[tuple[str, str], str] = {}
        used: list[str] = []
        for kind, path in _config_files(env, site_prefix):
            found = _read_config_file(path)
            if found is not None:
                used.append(f"{path} ({kind})")
                merged.update(found)
        for section in _SECTIONS:
            for (sect, key), value in merged.items():
                if sect == section:
                    values[key] = value
        for name, value in env.items():
            if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
                values[name[4:].lower().replace("_", "-")] = value

        index_url = values.get("index-url", "").strip() or PYPI_SIMPLE
        extra = tuple(values.get("extra-index-url", "").split())
        find_links = tuple(absolute_location(f, here) for f in values.get("find-links", "").split())
        timeout_text = values.get("timeout") or values.get("default-timeout")
        return cls(
            index_urls=(index_url, *extra),
            find_links=find_links,
            cert=values.get("cert") or None,
            client_cert=values.get("client-cert") or None,
            trusted_hosts=tuple(values.get("trusted-host", "").split()),
            timeout=_to_float(timeout_text, DEFAULT_TIMEOUT),
            retries=_to_int(values.get("retries"), DEFAULT_RETRIES),
            no_index=_to_bool(values.get("no-index")),
            constraint_files=tuple(
                absolute_location(f, here) for f in values.get("constraint", "").split()
            ),
            proxy=proxy_url(values.get("proxy")),
            config_files=tuple(used),
            origin="pip configuration",
        )

    @classmethod
    def from_manifest(
        cls,
        urls: Sequence[str],
        find_links: Sequence[str] = (),
        base_config: IndexConfig | None = None,
    ) -> IndexConfig:
        """An ``[index]`` table: it replaces where packages come from, nothing else.

        TLS, trusted hosts, timeouts and retries stay as pip's configuration has them: they
        describe the machine (its proxy, its CA), not the overlay. A table with ``find_links``
        but no ``urls`` means "no index at all", like ``pip --no-index --find-links``; a table
        with neither falls back to PyPI.
        """
        base = base_config if base_config is not None else cls()
        no_index = not urls and bool(find_links)
        return cls(
            index_urls=tuple(urls) or (PYPI_SIMPLE,),
            find_links=tuple(find_links),
            cert=base.cert,
            client_cert=base.client_cert,
            trusted_hosts=base.trusted_hosts,
            timeout=base.timeout,
            retries=base.retries,
            no_index=no_index,
            constraint_files=base.constraint_files,
            proxy=base.proxy,
            config_files=base.config_files,
            origin="overlay.toml [index]",
        )


def _config_files(env: Mapping[str, str], site_prefix: str | None) -> list[tuple[str, Path]]:
    env_file = env.get("PIP_CONFIG_FILE")
    if env_file is not None and env_file == os.devnull:
        return []
    files: list[tuple[str, Path]] = []
    xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    if sys.platform != "win32":
        files += [("global", Path(d) / "pip" / "pip.conf") for d in xdg_dirs.split(os.pathsep) if d]
        files.append(("global", SYSTEM_CONFIG))
    if not (env_file and Path(env_file).exists()):
        home = Path(env.get("HOME") or Path.home())
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        files += [("user", home / ".pip" / "pip.conf"), ("user", config_home / "pip" / "pip.conf")]
    if site_prefix:
        files.append(
            ("site", Path(site_prefix) / ("pip.ini" if _windows(site_prefix) else "pip.conf"))
        )
    if env_file:
        # pip loads the PIP_CONFIG_FILE file last among files: it overrides all others.
        files.append(("PIP_CONFIG_FILE", Path(env_file)))
    return files


def _windows(prefix: str) -> bool:
    # The base's platform, not this process's: a Windows prefix is spelled with a drive.
    return len(prefix) > 1 and prefix[1] == ":"


def _read_config_file(path: Path) -> dict[tuple[str, str], str] | None:
    """The file's settings by (section, key); None when there is no such file."""
    parser = configparser.RawConfigParser()
    try:
        text = read_text_bounded(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        parser.read_string(text, str(path))
    except configparser.Error:
        # pip errors on an unparsable file; here a broken or unreadable optional file must not
        # stop a lock that would otherwise work, and pip reports it when the user runs pip.
        return {}
    out: dict[tuple[str, str], str] = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            out[(section, key.lower().replace("_", "-"))] = value
    return out


def proxy_url(text: str | None) -> str | None:
    """pip's ``proxy`` value as a URL: ``[user:passwd@]proxy.server:port`` means http, as
    requests (under pip) takes it; empty means none."""
    value = (text or "").strip()
    if not value:
        return None
    return value if "://" in value else f"http://{value}"


def absolute_location(location: str, cwd: Path) -> str:
    """A find-links location or file as pip takes it: URLs as they are, paths made absolute."""
    if "://" in location:
        return location
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else cwd / path)


def _to_float(text: str | None, default: float) -> float:
    try:
        return float(text) if text else default
    except ValueError:
        return default


def _to_int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def _to_bool(text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE or not value:
        return False
    return False

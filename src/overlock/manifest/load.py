"""Reading overlay.toml: every problem found at once, each with its line number.

Unknown tables and keys are errors (with a did-you-mean), never ignored: a key this version
does not understand may change what the overlay means. The optional ``[overlay] format``
exists so that a manifest written for a later format fails with one clear "upgrade overlock"
message instead of a list of unknown keys; nothing requires it.
"""

from __future__ import annotations

import difflib
import json
import re
import string
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from tomlkit.exceptions import ParseError, TOMLKitError

from overlock import untrusted
from overlock.errors import ManifestError, ManifestIssue, ManifestMissingError
from overlock.limits import read_text_bounded
from overlock.manifest.model import (
    FORMAT_VERSION,
    GIT_URL_SCHEMES,
    MANIFEST_FILENAME,
    NAME_PLACEHOLDER,
    SCHEMA,
    SHADOW_POLICIES,
    SOURCE_KEYS,
    UPSTREAM_POLICIES,
    URL_SCHEMES,
    IndexSettings,
    KeyPath,
    Manifest,
    SourceEntry,
    absolute_path,
    is_project_name,
)
from overlock.manifest.policy import ALL, PRERELEASE_MODES
from overlock.manifest.positions import Positions


def load_manifest(path: Path) -> Manifest:
    """Read and validate overlay.toml; raise one ManifestError listing every problem."""
    shown = str(path)
    try:
        text = read_text_bounded(path)
    except FileNotFoundError:
        raise ManifestMissingError(shown) from None
    except IsADirectoryError:
        raise ManifestError(
            shown, [ManifestIssue("", f"is a directory; expected the file {MANIFEST_FILENAME}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise ManifestError(
            shown, [ManifestIssue("", f"is not UTF-8 text ({exc.reason})")]
        ) from None
    except OSError as exc:
        raise ManifestError(shown, [ManifestIssue("", f"cannot be read: {exc.strerror}")]) from None

    try:
        data = tomlkit.parse(text).unwrap()
    except ParseError as exc:
        # tomlkit appends " at line L col C" to its message; the issue carries the line itself.
        reason = re.sub(r" at line \d+ col \d+$", "", str(exc))
        raise ManifestError(
            shown, [ManifestIssue("", f"invalid TOML: {reason} (column {exc.col})", exc.line)]
        ) from None
    except TOMLKitError as exc:
        # tomlkit reports a key repeated inside a table without a position; the scanner
        # finds it. (Keys repeat legitimately only across [[array tables]], not used here.)
        repeated = Positions(text).repeated
        line = repeated[0] if repeated else None
        raise ManifestError(shown, [ManifestIssue("", f"invalid TOML: {exc}", line)]) from None

    validator = _Validator(data, Positions(text), path.absolute().parent)
    manifest = validator.run(path.absolute())
    if manifest is None:
        # Stable sort: issues on one line stay in the order they were found.
        issues = sorted(validator.issues, key=lambda i: i.line or 0)
        raise ManifestError(shown, issues)
    return manifest


class _Validator:
    def __init__(self, data: Mapping[str, Any], positions: Positions, root: Path) -> None:
        self.data = data
        self.positions = positions
        self.root = root
        self.issues: list[ManifestIssue] = []
        self.sources: list[SourceEntry] = []

    def report(self, where: KeyPath, message: str) -> None:
        self.issues.append(ManifestIssue(_label(where), message, self.positions.line(where)))

    def run(self, path: Path) -> Manifest | None:
        if self._newer_format():
            return None
        self._check_tables()
        overlay = self._table("overlay")
        index_table = self._table("index")
        resolve = self._table("resolve")

        base_text, base_snapshot_text = self._base(overlay)
        prefix = self._prefix(overlay)
        name = self._name(overlay)
        requires_text, requires = self._requires(overlay)
        index, find_links_text = self._index(index_table)
        shadow = self._choice(resolve, "shadow", SHADOW_POLICIES, "auto")
        allow_build = self._allow_build(resolve)
        keep = self._keep(resolve)
        hide = self._hide(overlay, keep)
        prereleases, only_binary, no_binary = self._policy(resolve)
        upstream_metadata = self._choice(
            resolve,
            "upstream-metadata",
            UPSTREAM_POLICIES,
            "warn",
            explain=" (what to do with caps the index's metadata of a Debian or conda base"
            " package declares and its installed copy does not)",
        )
        if overlay is not None and "format" in overlay:
            self._format(overlay["format"])

        if self.issues:
            return None
        assert prefix is not None  # a missing prefix is an issue, so we returned above
        return Manifest(
            path=path,
            base=None if base_text is None else str(absolute_path(base_text, self.root)),
            base_snapshot=(
                None if base_snapshot_text is None else absolute_path(base_snapshot_text, self.root)
            ),
            prefix_template=prefix,
            name=name,
            requires=requires,
            requires_text=requires_text,
            index=index,
            shadow=shadow,
            upstream_metadata=upstream_metadata,
            base_text=base_text,
            base_snapshot_text=base_snapshot_text,
            find_links_text=find_links_text,
            sources=tuple(self.sources),
            allow_build=allow_build,
            prereleases=prereleases,
            only_binary=only_binary,
            no_binary=no_binary,
            keep=keep,
            hide=hide,
        )

    # -- structure

    def _newer_format(self) -> bool:
        # Checked first and alone: a later format's new keys would otherwise drown the one
        # message that matters in "unknown key" noise.
        overlay = self.data.get("overlay")
        if not isinstance(overlay, Mapping):
            return False
        value = overlay.get("format")
        if _is_int(value) and value > FORMAT_VERSION:
            self.report(
                ("overlay", "format"),
                f"this manifest is format {value}; this overlock reads format "
                f"{FORMAT_VERSION}; upgrade overlock",
            )
            return True
        return False

    def _check_tables(self) -> None:
        for key, value in self.data.items():
            if key in SCHEMA:
                if not isinstance(value, Mapping):
                    self.report((key,), f"must be a table, not {_toml_type(value)}")
                    continue
                for inner in value:
                    if inner not in SCHEMA[key]:
                        self.report((key, inner), _unknown_key(inner, key))
            elif isinstance(value, Mapping):
                self.report((key,), "unknown table" + _suggest(key, list(SCHEMA), "[{}]"))
            else:
                home = _table_of(key)
                hint = f"; it belongs in [{home}]" if home else ""
                self.issues.append(
                    ManifestIssue(key, f"unknown top-level key{hint}", self.positions.line((key,)))
                )
        if "overlay" not in self.data:
            self.issues.append(
                ManifestIssue("[overlay]", "missing table; it must set `prefix` and `base`")
            )

    def _table(self, key: str) -> Mapping[str, Any] | None:
        value = self.data.get(key)
        return value if isinstance(value, Mapping) else None

    # -- [overlay]

    def _base(self, overlay: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
        if overlay is None:
            return None, None
        base = self._string(overlay, ("overlay", "base"))
        snapshot = self._string(overlay, ("overlay", "base-snapshot"))
        present = [k for k in ("base", "base-snapshot") if k in overlay]
        if not present:
            self.report(("overlay",), "set `base` (an environment) or `base-snapshot` (a file)")
        elif len(present) == 2:
            self.report(
                ("overlay", "base-snapshot"),
                "set either `base` or `base-snapshot`, not both",
            )
        for key, text in (("base", base), ("base-snapshot", snapshot)):
            if text is not None:
                self._check_expandable(("overlay", key), text)
        return base, snapshot

    def _prefix(self, overlay: Mapping[str, Any] | None) -> str | None:
        if overlay is None:
            return None
        where: KeyPath = ("overlay", "prefix")
        if "prefix" not in overlay:
            self.report(("overlay",), "missing `prefix`: the directory the overlay is installed in")
            return None
        text = self._string(overlay, where)
        if text is None or not self._no_control(where, text):
            return None
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError:
            self.report(where, "unbalanced `{` or `}`; write `{{` or `}}` for a literal brace")
            return None
        ok = True
        for _literal, field, spec, conversion in fields:
            if field is None:
                continue
            if field != NAME_PLACEHOLDER:
                self.report(where, f"unknown placeholder `{{{field}}}`; only `{{name}}` is allowed")
                ok = False
            elif spec or conversion:
                self.report(where, "write the placeholder as plain `{name}`")
                ok = False
        if ok:
            self._check_expandable(where, text)
        return text if ok else None

    def _name(self, overlay: Mapping[str, Any] | None) -> str | None:
        if overlay is None:
            return None
        where: KeyPath = ("overlay", "name")
        text = self._string(overlay, where)
        if text is None:
            return None
        # The name is substituted into a path: it must stay one directory.
        if not self._no_control(where, text):
            return None
        if text in (".", "..") or any(c in text for c in "/\\\0"):
            self.report(where, f"{text!r} is not a plain directory name")
            return None
        return text

    def _requires(
        self, overlay: Mapping[str, Any] | None
    ) -> tuple[tuple[str, ...], tuple[Requirement, ...]]:
        where: KeyPath = ("overlay", "requires")
        if overlay is None or "requires" not in overlay:
            return (), ()
        value = overlay["requires"]
        if not isinstance(value, list):
            self.report(where, f"must be an array of requirement strings, not {_toml_type(value)}")
            return (), ()
        texts: list[str] = []
        reqs: list[Requirement] = []
        seen: dict[tuple[str, str | None], int] = {}
        for i, entry in enumerate(value):
            at = (*where, i)
            if isinstance(entry, Mapping):
                source = self._source_entry(at, entry)
                if source is None:
                    continue
                text = _source_text(source)
                identity: tuple[str, str | None] = (source.name, None)
                if identity in seen:
                    self.report(
                        at,
                        f"`{source.name}` is already required by requires[{seen[identity]}];"
                        " merge the two entries",
                    )
                    continue
                try:
                    direct = Requirement(f"{source.name} @ {source.url}")
                except InvalidRequirement as exc:
                    # A rev or subdirectory that no URL can carry (spaces, say).
                    reason = str(exc).splitlines()[0] if str(exc) else "invalid requirement"
                    self.report(at, f"cannot be written as `name @ URL`: {reason}")
                    continue
                seen[identity] = i
                texts.append(text)
                reqs.append(direct)
                self.sources.append(source)
                continue
            if not isinstance(entry, str):
                self.report(at, f"must be a requirement string or a table, not {_toml_type(entry)}")
                continue
            if not entry.strip():
                self.report(at, "empty requirement")
                continue
            try:
                req = Requirement(entry)
            except InvalidRequirement as exc:
                # packaging's message is the reason followed by a caret diagram; keep the reason.
                reason = str(exc).splitlines()[0] if str(exc) else "invalid requirement"
                self.report(at, f"{json.dumps(entry)}: {reason}")
                continue
            # The same project twice is the intersection of both, as pip and uv read it;
            # a conflict between them is reported by the resolver, naming both.
            texts.append(entry)
            reqs.append(req)
        return tuple(texts), tuple(reqs)

    def _source_entry(self, at: KeyPath, entry: Mapping[str, Any]) -> SourceEntry | None:
        """A ``{ name = ..., path = ... }`` or ``{ name = ..., git = ... }`` entry."""
        count = len(self.issues)
        for key in entry:
            if key not in SOURCE_KEYS:
                hint = _suggest(key, SOURCE_KEYS) or "; valid keys: " + ", ".join(SOURCE_KEYS)
                self.report((*at, key), "unknown key" + hint)
        name = self._string(entry, (*at, "name"))
        if "name" not in entry:
            self.report(at, "missing `name`: the project the source provides")
        elif name is not None and not is_project_name(name):
            self.report((*at, "name"), f"{json.dumps(name)} is not a valid project name")
        path = self._string(entry, (*at, "path"))
        git = self._string(entry, (*at, "git"))
        rev = self._string(entry, (*at, "rev"))
        subdirectory = self._string(entry, (*at, "subdirectory"))
        for key, value, check in (
            ("rev", rev, untrusted.git_revision),
            ("subdirectory", subdirectory, untrusted.relative_path),
        ):
            if value is not None:
                try:
                    check(value, f"`{key}`")
                except untrusted.UntrustedValue as exc:
                    self.report((*at, key), str(exc))
        editable = entry.get("editable", False)
        if not isinstance(editable, bool):
            self.report((*at, "editable"), f"must be true or false, not {_toml_type(editable)}")
            editable = False
        if "path" in entry and "git" in entry:
            self.report((*at, "git"), "set either `path` or `git`, not both")
        elif "path" not in entry and "git" not in entry:
            self.report(at, "set `path` (a local source tree) or `git` (a repository URL)")
        if "path" in entry:
            for key in ("rev", "subdirectory"):
                if key in entry:
                    self.report((*at, key), f"`{key}` goes with `git`, not with `path`")
        elif editable:
            self.report((*at, "editable"), "only a local `path` can be installed as editable")
        url: str | None = None
        if path is not None and self._check_expandable((*at, "path"), path):
            url = absolute_path(path, self.root).as_uri()
        elif git is not None:
            if "://" in git:
                parts = urlsplit(git)
                if parts.scheme not in GIT_URL_SCHEMES or not (parts.netloc or parts.path):
                    self.report(
                        (*at, "git"),
                        f"{json.dumps(git)}: expected an https://, ssh://, git:// or file://"
                        " URL, or a local path",
                    )
                repo = git
            elif self._check_expandable((*at, "git"), git):
                repo = absolute_path(git, self.root).as_uri()
            else:
                repo = None
            if repo is not None:
                if any(c.isspace() for c in repo) or "@" in urlsplit(repo).path:
                    self.report((*at, "git"), f"{json.dumps(git)}: unsupported characters")
                url = f"git+{repo}" + (f"@{rev}" if rev else "")
                if subdirectory:
                    url += f"#subdirectory={subdirectory}"
        if len(self.issues) > count or name is None or url is None:
            return None
        return SourceEntry(
            name=canonicalize_name(name),
            url=url,
            path=path,
            editable=bool(editable),
            git=git,
            rev=rev,
            subdirectory=subdirectory,
        )

    def _policy(
        self, table: Mapping[str, Any] | None
    ) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """``prereleases``, ``only-binary`` and ``no-binary`` of [resolve]."""
        if table is None:
            return "pep440", (), ()
        mode = self._choice(table, "prereleases", PRERELEASE_MODES, "pep440", noun="mode")
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("only-binary", "no-binary"):
            names: list[str] = []
            for k, text in enumerate(self._string_list(table, ("resolve", key)) or ()):
                if text != ALL and not is_project_name(text):
                    self.report(
                        ("resolve", key, k),
                        f'{json.dumps(text)} is not a project name or ":all:"',
                    )
                    continue
                names.append(text if text == ALL else canonicalize_name(text))
            lists[key] = tuple(dict.fromkeys(names))
        both = sorted((set(lists["only-binary"]) & set(lists["no-binary"])) - {ALL})
        if both:
            self.report(
                ("resolve", "no-binary"),
                f"{', '.join(both)} also in only-binary; a project can be in one of the two",
            )
        return mode, lists["only-binary"], lists["no-binary"]

    def _allow_build(self, table: Mapping[str, Any] | None) -> bool:
        if table is None or "allow-build" not in table:
            return False
        value = table["allow-build"]
        if not isinstance(value, bool):
            self.report(
                ("resolve", "allow-build"), f"must be true or false, not {_toml_type(value)}"
            )
            return False
        return value

    def _keep(self, table: Mapping[str, Any] | None) -> tuple[NormalizedName, ...]:
        if table is None:
            return ()
        names = self._string_list(table, ("resolve", "keep")) or []
        for i, name in enumerate(names):
            if not is_project_name(name):
                self.report(("resolve", "keep", i), f"{json.dumps(name)} is not a project name")
        return tuple(dict.fromkeys(canonicalize_name(n) for n in names if is_project_name(n)))

    def _hide(
        self, overlay: Mapping[str, Any] | None, keep: Sequence[NormalizedName]
    ) -> tuple[NormalizedName, ...]:
        if overlay is None:
            return ()
        names = self._string_list(overlay, ("overlay", "hide")) or []
        out: list[NormalizedName] = []
        for i, name in enumerate(names):
            if not is_project_name(name):
                self.report(("overlay", "hide", i), f"{json.dumps(name)} is not a project name")
                continue
            canonical = canonicalize_name(name)
            if canonical in keep:
                # keep says "only the installed copy", hide says "not the installed copy".
                self.report(
                    ("overlay", "hide", i),
                    f"{json.dumps(name)} is also in [resolve] keep, which keeps its installed"
                    " copy; a package can be hidden or kept, not both",
                )
                continue
            if canonical not in out:
                out.append(canonical)
        return tuple(out)

    def _format(self, value: object) -> None:
        if not (_is_int(value) and value == FORMAT_VERSION):
            shown = json.dumps(value) if isinstance(value, str) else str(value)
            self.report(("overlay", "format"), f"must be {FORMAT_VERSION}, not {shown}")

    # -- [index], [resolve]

    def _index(
        self, table: Mapping[str, Any] | None
    ) -> tuple[IndexSettings | None, tuple[str, ...] | None]:
        if table is None:
            return None, None
        urls = self._string_list(table, ("index", "urls"))
        links = self._string_list(table, ("index", "find-links"))
        if table.get("urls") == []:
            self.report(
                ("index", "urls"),
                "empty; list at least one index URL, or leave `urls` out to use only find-links",
            )
        if "urls" not in table and "find-links" not in table:
            self.report(
                ("index",),
                "empty table; set `urls` or `find-links`, or remove [index] to use pip's settings",
            )
        for i, url in enumerate(urls or []):
            problem = _url_problem(url)
            if problem:
                self.report(("index", "urls", i), f"{json.dumps(url)}: {problem}")
        resolved_links: list[str] = []
        for i, link in enumerate(links or []):
            at: KeyPath = ("index", "find-links", i)
            if "://" in link:
                problem = _url_problem(link)
                if problem:
                    self.report(at, f"{json.dumps(link)}: {problem}")
                resolved_links.append(link)
            elif self._check_expandable(at, link):
                resolved_links.append(str(absolute_path(link, self.root)))
        settings = IndexSettings(urls=tuple(urls or ()), find_links=tuple(resolved_links))
        return settings, tuple(links or ())

    def _choice(
        self,
        table: Mapping[str, Any] | None,
        key: str,
        choices: Sequence[str],
        default: str,
        *,
        noun: str = "policy",
        explain: str = "",
    ) -> str:
        """``[resolve] key``, one of ``choices``; else reported, and ``default``."""
        where: KeyPath = ("resolve", key)
        text = self._string(table, where) if table is not None else None
        if text is None:
            return default
        if text not in choices:
            quoted = [json.dumps(c) for c in choices]
            listed = " or ".join(quoted) if len(quoted) == 2 else "one of " + ", ".join(quoted)
            self.report(where, f"{json.dumps(text)} is not a {noun}; use {listed}{explain}")
            return default
        return text

    # -- value helpers

    def _string(self, table: Mapping[str, Any], where: KeyPath) -> str | None:
        """The string at ``where`` if present and valid; reports wrong types and blanks."""
        key = where[-1]
        assert isinstance(key, str)
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, str):
            self.report(where, f"must be a string, not {_toml_type(value)}")
            return None
        if not value.strip():
            self.report(where, "must not be empty")
            return None
        return value

    def _string_list(self, table: Mapping[str, Any], where: KeyPath) -> list[str] | None:
        key = where[-1]
        assert isinstance(key, str)
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, list):
            self.report(where, f"must be an array of strings, not {_toml_type(value)}")
            return None
        good: list[str] = []
        for i, entry in enumerate(value):
            if not isinstance(entry, str):
                self.report((*where, i), f"must be a string, not {_toml_type(entry)}")
            elif not entry.strip():
                self.report((*where, i), "must not be empty")
            else:
                good.append(entry)
        return good

    def _no_control(self, where: KeyPath, text: str) -> bool:
        """A path with a newline (or any control character) could end a line of the shell
        code ``overlock activate`` prints, and what follows would run."""
        try:
            untrusted.text(text, "it")
        except untrusted.UntrustedValue as exc:
            self.report(where, f"{json.dumps(text)}: {str(exc).removeprefix('it ')}")
            return False
        return True

    def _check_expandable(self, where: KeyPath, text: str) -> bool:
        try:
            Path(text).expanduser()
        except RuntimeError:  # "~someone" for a user this machine does not know
            self.report(where, f"cannot expand {text.split('/')[0]!r}: no such user")
            return False
        return True


def _source_text(source: SourceEntry) -> str:
    """A table entry as one line of inline TOML (for messages, the lock and the hash)."""
    fields: list[tuple[str, object]] = [("name", source.name)]
    if source.path is not None:
        fields.append(("path", source.path))
        if source.editable:
            fields.append(("editable", True))
    else:
        fields += [("git", source.git), ("rev", source.rev), ("subdirectory", source.subdirectory)]
    parts = []
    for key, value in fields:
        if value is None:
            continue
        shown = "true" if value is True else toml_string(str(value))
        parts.append(f"{key} = {shown}")
    return "{ " + ", ".join(parts) + " }"


def _url_problem(url: str) -> str | None:
    if any(c.isspace() for c in url):
        return "URLs must not contain whitespace"
    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES:
        return "not a URL; expected http://, https:// or file://"
    if parts.scheme != "file" and not parts.netloc:
        return "URL has no host"
    if parts.scheme == "file" and not parts.path:
        return "file URL has no path"
    return None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _toml_type(value: object) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "a boolean"
    kinds: tuple[tuple[type, str], ...] = (
        (str, "a string"),
        (int, "an integer"),
        (float, "a float"),
        (list, "an array"),
        (dict, "a table"),
        (datetime, "a date-time"),
        (date, "a date"),
        (time, "a time"),
    )
    for kind, label in kinds:
        if isinstance(value, kind):
            return label
    return type(value).__name__


def _table_of(key: str) -> str | None:
    for table, keys in SCHEMA.items():
        if key in keys:
            return table
    return None


def _suggest(word: str, choices: Sequence[str], shape: str = "`{}`") -> str:
    # Authors often write snake_case for kebab-case keys; compare in one spelling.
    close = difflib.get_close_matches(word.replace("_", "-"), choices, n=1, cutoff=0.6)
    return f"; did you mean {shape.format(close[0])}?" if close else ""


def _unknown_key(key: str, table: str) -> str:
    suggestion = _suggest(key, SCHEMA[table])
    if suggestion:
        return "unknown key" + suggestion
    home = _table_of(key)
    if home:
        return f"unknown key; `{key}` belongs in [{home}]"
    return "unknown key; valid keys: " + ", ".join(SCHEMA[table])


def _label(where: KeyPath) -> str:
    """``("overlay", "requires", 2)`` -> ``[overlay] requires[2]``."""
    head, *rest = where
    text = f"[{head}]"
    for i, part in enumerate(rest):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += (" " if i == 0 else ".") + part
    return text


def toml_string(value: str) -> str:
    return tomlkit.string(value).as_string()

"""Edit ``[overlay] requires`` in overlay.toml text, keeping everything else as it was.

Pure text in, text out (tomlkit keeps comments, blank lines, quoting and key order): the
caller decides whether the result is written. Entries are matched by canonical project name;
an entry is either a PEP 508 string or an inline table with a ``name`` key (a development
source such as ``{ name = "mylib", path = "../mylib" }``), which is matched by that key and
otherwise left alone.

Style is kept: an array written one entry per line stays so (each new entry on its own line,
with a trailing comma, indented like its neighbours); an inline array stays inline.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidName, NormalizedName, canonicalize_name
from tomlkit.container import OutOfOrderTableProxy
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array, InlineTable, Item, String, Table

from overlock.errors import BadInputError
from overlock.manifest.positions import Positions

# A project name as PEP 508 allows it (what `remove` accepts).


@dataclass(frozen=True)
class Change:
    """One change to ``requires``: ``old`` and ``new`` entries as written (None: absent)."""

    old: str | None
    new: str | None

    def __str__(self) -> str:
        if self.old is None:
            return f"+ {self.new}"
        if self.new is None:
            return f"- {self.old}"
        return f"~ {self.old} -> {self.new}"


@dataclass(frozen=True)
class Edit:
    """The manifest text after an edit, and what changed in ``requires``."""

    old_text: str
    text: str
    changes: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        return self.text != self.old_text

    def diff(self, filename: str) -> str:
        """A unified diff of the whole file (empty when nothing changed)."""
        lines = difflib.unified_diff(
            self.old_text.splitlines(keepends=True),
            self.text.splitlines(keepends=True),
            fromfile=f"{filename} (before)",
            tofile=f"{filename} (after)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def parse_requirement(text: str) -> Requirement:
    """``text`` as a PEP 508 requirement, or a BadInputError naming what is wrong."""
    stripped = text.strip()
    if not stripped:
        raise BadInputError("an empty requirement was given", hint='e.g. overlock add "numpy>=2"')
    try:
        return Requirement(stripped)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "invalid requirement"
        raise BadInputError(
            f"{json.dumps(text)} is not a valid requirement: {reason}",
            hint='write it as PEP 508, e.g. "numpy>=2", "pkg[extra]==1.0" or'
            ' "pkg @ https://host/pkg-1.0-py3-none-any.whl"',
        ) from None


def add_requirements(text: str, requirements: Sequence[str]) -> Edit:
    """Add each requirement to ``requires``; one naming a project already there replaces it.

    The replaced entry keeps its place and its comment. A project listed several times
    (under different markers) is replaced only where the markers match exactly.
    """
    parsed = [(raw.strip(), parse_requirement(raw)) for raw in requirements]
    seen: dict[NormalizedName, str] = {}
    for raw, req in parsed:
        key = canonicalize_name(req.name)
        if key in seen:
            raise BadInputError(
                f"{json.dumps(seen[key])} and {json.dumps(raw)} name the same project",
                hint="give each project once",
            )
        seen[key] = raw

    doc = tomlkit.parse(text)
    if _requires_array(doc, create=False) is None:
        doc = _with_requires(text) or doc
    array = _requires_array(doc, create=True)
    assert array is not None
    changes: list[Change] = []
    for raw, req in parsed:
        key = canonicalize_name(req.name)
        matches = [i for i, entry in enumerate(array) if _entry_name(entry) == key]
        if len(matches) > 1:
            same_marker = [i for i in matches if _marker(array[i]) == _marker_of(req)]
            if len(same_marker) != 1:
                raise BadInputError(
                    f"`{key}` appears {len(matches)} times in requires, under different markers,"
                    f" and none has the marker of {json.dumps(raw)}",
                    hint="edit those entries in overlay.toml by hand,"
                    f" or `overlock remove {key}` first",
                )
            matches = same_marker
        if not matches:
            _append(array, raw)
            changes.append(Change(None, raw))
            continue
        [i] = matches
        entry = array[i]
        if not isinstance(entry, str):
            raise BadInputError(
                f"`{key}` is required as a development source in requires"
                f" ({_shown(entry)}); `add` would drop it",
                hint=f"edit that entry in overlay.toml, or `overlock remove {key}` first",
            )
        if str(entry) == raw:
            continue
        array[i] = _string_item(raw)
        changes.append(Change(str(entry), raw))
    return Edit(text, _same_newlines(text, doc.as_string()), tuple(changes))


def remove_requirements(text: str, names: Sequence[str]) -> Edit:
    """Remove every ``requires`` entry naming one of ``names`` (canonical comparison)."""
    wanted: list[NormalizedName] = []
    for name in names:
        try:
            key = canonicalize_name(name.strip(), validate=True)
        except InvalidName:
            raise BadInputError(
                f"{json.dumps(name)} is not a project name",
                hint="give names only, e.g. `overlock remove numpy` (not numpy>=2)",
            ) from None
        if key not in wanted:
            wanted.append(key)

    doc = tomlkit.parse(text)
    array = _requires_array(doc, create=False)
    present = [] if array is None else [_entry_name(entry) for entry in array]
    missing = [key for key in wanted if key not in present]
    if missing:
        known = sorted({n for n in present if n is not None})
        first = missing[0]
        close = difflib.get_close_matches(first, known, n=1, cutoff=0.6)
        suggestion = f"; did you mean `{close[0]}`?" if close else ""
        listed = ", ".join(known) if known else "nothing"
        raise BadInputError(
            f"`{first}` is not in requires{suggestion}",
            hint=f"requires lists: {listed}",
        )
    assert array is not None
    changes: list[Change] = []
    # From the end, so earlier indexes stay valid.
    for i in reversed(range(len(array))):
        if present[i] in wanted:
            changes.append(Change(_shown(array[i]), None))
            del array[i]
    changes.reverse()
    return Edit(text, _same_newlines(text, doc.as_string()), tuple(changes))


# -- helpers -----------------------------------------------------------------------------


def _requires_array(doc: tomlkit.TOMLDocument, *, create: bool) -> Array | None:
    """The ``[overlay] requires`` array; with ``create``, add an empty one if absent.

    The caller has validated the manifest, so ``[overlay]`` exists and ``requires``, if
    present, is an array. ``add`` first tries :func:`_with_requires` on the text, which
    places a new array where a person would; this is the fallback.
    """
    overlay = doc["overlay"]
    assert isinstance(overlay, (Table, InlineTable, OutOfOrderTableProxy))
    if "requires" not in overlay:
        if not create:
            return None
        overlay["requires"] = tomlkit.array()
    found = overlay["requires"]
    assert isinstance(found, Array)
    return found


def _with_requires(text: str) -> tomlkit.TOMLDocument | None:
    """``text`` with ``requires = []`` as the last key of its ``[overlay]`` table.

    tomlkit can only append a key to a table, which puts it after the comments and blank
    lines that introduce the next table (and offers no public way to insert elsewhere), so
    the line goes into the text, right after the line of the table's last key. None when
    ``[overlay]`` is not a ``[header]`` table, or when the result does not read back as the
    same document plus an empty ``requires`` (the scanner lost its way): the caller then
    lets tomlkit append.
    """
    end = Positions(text).table_ends.get(("overlay",))
    if end is None:
        return None
    newline = "\r\n" if text[:end].endswith("\r") else "\n"
    if text[:end].endswith("\r"):
        end -= 1
    try:
        doc = tomlkit.parse(f"{text[:end]}{newline}requires = []{text[end:]}")
        before = tomlkit.parse(text).unwrap()
    except TOMLKitError:
        return None
    overlay = before.get("overlay")
    if not isinstance(overlay, dict):
        return None
    if doc.unwrap() != {**before, "overlay": {**overlay, "requires": []}}:
        return None
    return doc


def _entry_name(entry: object) -> NormalizedName | None:
    if isinstance(entry, str):
        try:
            return canonicalize_name(Requirement(entry).name)
        except InvalidRequirement:
            return None
    if isinstance(entry, Mapping):
        name = entry.get("name")
        if isinstance(name, str):
            return canonicalize_name(name)
    return None


def _marker_of(req: Requirement) -> str | None:
    return str(req.marker) if req.marker else None


def _marker(entry: object) -> str | None:
    if isinstance(entry, str):
        try:
            return _marker_of(Requirement(entry))
        except InvalidRequirement:
            return None
    if isinstance(entry, Mapping):
        marker = entry.get("marker")
        return str(marker) if marker else None
    return None


def _shown(entry: object) -> str:
    if isinstance(entry, Item):
        return str(entry) if isinstance(entry, str) else entry.as_string().strip()
    return str(entry)


def _string_item(text: str) -> String:
    # 'numpy; python_version < "3.10"' reads better than the escaped basic string.
    literal = '"' in text and "'" not in text and "\n" not in text
    return tomlkit.string(text, literal=literal)


def _is_multiline(array: Array) -> bool:
    return "\n" in array.as_string()


def _indent(array: Array) -> str:
    """The indentation of the array's last entry on its own line (default: four spaces)."""
    indent = "    "
    # The first line holds the bracket (and maybe an entry on it, which sets no indentation).
    for line in array.as_string().splitlines()[1:]:
        entry = line.lstrip(" \t")
        if entry and not entry.startswith(("#", "]")):
            indent = line[: len(line) - len(entry)]
    return indent


def _append(array: Array, text: str) -> None:
    item = _string_item(text)
    if _is_multiline(array):
        array.add_line(item, indent=_indent(array))
    else:
        array.append(item)


def _same_newlines(old: str, new: str) -> str:
    """tomlkit writes new lines with ``\\n``; a CRLF file stays CRLF."""
    if "\r\n" in old and "\n" not in old.replace("\r\n", ""):
        return re.sub(r"(?<!\r)\n", "\r\n", new)
    return new

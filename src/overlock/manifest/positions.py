"""Where keys sit in overlay.toml: tomlkit does not report positions, so the (already valid)
TOML text is scanned again to map key paths to line numbers.
"""

from __future__ import annotations

import bisect
import contextlib
import re

from overlock.manifest.model import KeyPath

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _ScanError(Exception):
    pass


class Positions:
    """Line numbers of tables, keys and array elements, by key path.

    A small TOML scanner, enough to follow structure in text tomlkit has already accepted:
    it skips strings (all four kinds), comments and nested values, so a ``[table]`` or
    ``key =`` inside a multi-line string is not mistaken for structure. If it ever gets
    lost it stops, and the issues it could not place simply carry no line.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.lines: dict[KeyPath, int] = {}
        self.repeated: list[int] = []  # lines of keys seen before; see load_manifest
        # Per [table] header: the offset of the end of the line that holds its last own key
        # (or the header itself) -- where a new key of that table can go, before the
        # comments and blank lines that introduce the next table.
        self.table_ends: dict[KeyPath, int] = {}
        with contextlib.suppress(_ScanError, IndexError):
            self._document()

    def line(self, where: KeyPath) -> int | None:
        """Line of ``where``, else of its nearest enclosing table or key that has one."""
        for end in range(len(where), 0, -1):
            found = self.lines.get(where[:end])
            if found is not None:
                return found
        return None

    def _line_at(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)

    def _record(self, where: KeyPath) -> None:
        # First occurrence wins: for [[array tables]] that is the first header.
        self.lines.setdefault(where, self._line_at(self.i))

    def _peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def _skip_blank(self, *, newlines: bool) -> None:
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            else:
                return

    def _document(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_blank(newlines=True)
            if self.i >= len(self.text):
                return
            if self._peek() == "[":
                double = self.text.startswith("[[", self.i)
                start = self.i
                self.i += 2 if double else 1
                self._skip_blank(newlines=False)
                table = self._key()
                self._skip_blank(newlines=False)
                closer = "]]" if double else "]"
                if not self.text.startswith(closer, self.i):
                    raise _ScanError
                self.i += len(closer)
                # [a.b] also defines [a]: an issue about `a` belongs on this line too.
                for end in range(1, len(table) + 1):
                    self.lines.setdefault(table[:end], self._line_at(start))
                if not double:
                    self.table_ends.setdefault(table, self._line_end())
            else:
                self._keyval(table)
                if table in self.table_ends:
                    self.table_ends[table] = self._line_end()

    def _line_end(self) -> int:
        # Past the value only blanks or a comment may follow on the line.
        end = self.text.find("\n", self.i)
        return len(self.text) if end < 0 else end

    def _keyval(self, table: KeyPath) -> None:
        start = self.i
        parts = self._key()
        line = self._line_at(start)
        if (*table, *parts) in self.lines:
            self.repeated.append(line)
        # Dotted keys (``overlay.base = ...``) also locate the tables they imply.
        for end in range(1, len(parts) + 1):
            self.lines.setdefault((*table, *parts[:end]), line)
        self._skip_blank(newlines=False)
        if self._peek() != "=":
            raise _ScanError
        self.i += 1
        self._skip_blank(newlines=False)
        self._value((*table, *parts))

    def _key(self) -> KeyPath:
        parts: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            c = self._peek()
            if c in "\"'":
                start = self.i + 1
                self._string()
                parts.append(self.text[start : self.i - 1])
            else:
                match = _BARE_KEY.match(self.text, self.i)
                if not match:
                    raise _ScanError
                parts.append(match.group())
                self.i = match.end()
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return tuple(parts)
            self.i += 1

    def _value(self, where: KeyPath) -> None:
        c = self._peek()
        if c in "\"'":
            self._string()
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self._skip_blank(newlines=True)
                if self._peek() == "]":
                    self.i += 1
                    return
                self._record((*where, index))
                self._value((*where, index))
                self._skip_blank(newlines=True)
                if self._peek() == ",":
                    self.i += 1
                    index += 1
                elif self._peek() == "]":
                    self.i += 1
                    return
                else:
                    raise _ScanError
        elif c == "{":
            self.i += 1
            while True:
                self._skip_blank(newlines=True)
                if self._peek() == "}":
                    self.i += 1
                    return
                self._keyval(where)
                self._skip_blank(newlines=True)
                if self._peek() == ",":
                    self.i += 1
        else:
            # Numbers, booleans, dates: a date-time may contain a space, so stop only at
            # what can follow a value.
            start = self.i
            while self.i < len(self.text) and self.text[self.i] not in ",]}\r\n#":
                self.i += 1
            if self.i == start:
                raise _ScanError

    def _string(self) -> None:
        text = self.text
        quote = text[self.i]
        triple = quote * 3
        if text.startswith(triple, self.i):
            self.i += 3
            while not text.startswith(triple, self.i):
                if self.i >= len(text):
                    raise _ScanError
                self.i += 2 if (quote == '"' and text[self.i] == "\\") else 1
            self.i += 3
            # Up to two quotes may end the content right before the closing delimiter.
            for _ in range(2):
                if self._peek() == quote:
                    self.i += 1
            return
        self.i += 1
        while True:
            c = text[self.i]  # IndexError past the end stops the scan
            if c == quote:
                self.i += 1
                return
            if c == "\n":
                raise _ScanError
            self.i += 2 if (quote == '"' and c == "\\") else 1

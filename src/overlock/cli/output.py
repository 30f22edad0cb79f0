"""How the CLI talks to people: results on stdout, progress and errors on stderr."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, TextIO

from overlock.redact import scrub

_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}

ColorMode = Literal["auto", "always", "never"]
COLOR_MODES: tuple[ColorMode, ...] = ("auto", "always", "never")

# What `--color` says in --help; the order of the rules is the order color_on applies them.
COLOR_HELP = (
    "colour: auto (default), always or never. --color wins over the environment; with auto,"
    " NO_COLOR (set and not empty) turns colour off, else FORCE_COLOR (set and not empty)"
    " turns it on even when piped, else TERM=dumb turns it off, else colour only on a terminal"
)

_WIDTH = 78  # without a size from the terminal: a line never wraps on 80 columns


def _set(name: str) -> bool:
    # no-color.org and force-color.org: "present and not an empty string (regardless of
    # its value)".
    return bool(os.environ.get(name))


class Output:
    """Where messages go: results on stdout, progress and errors on stderr.

    Colour follows ``color`` (``--color``), then ``NO_COLOR`` (https://no-color.org), then
    ``FORCE_COLOR`` (https://force-color.org), then ``TERM=dumb``, then whether the stream
    is a terminal. Progress (one line redrawn in place) only on a terminal, not with -q,
    ``--json``, ``TERM=dumb``, ``NO_COLOR`` or ``--color never``: FORCE_COLOR and
    ``--color always`` colour a pipe but never draw ``\\r`` into it. Every line goes
    through ``redact.scrub``: whatever a message quotes (a requirement, a URL, a
    library's error), no credential reaches the screen.
    """

    def __init__(
        self, verbosity: int = 0, json_mode: bool = False, color: ColorMode = "auto"
    ) -> None:
        self.verbosity = verbosity
        self.json_mode = json_mode
        self.color = color
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        self._status = 0  # width of the transient status line on stderr now (see status)
        self._bars = 0  # progress lines being drawn: they say what is going on meanwhile

    def _tty(self, stream: TextIO) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def color_on(self, stream: TextIO) -> bool:
        if self.color != "auto":
            return self.color == "always"
        if _set("NO_COLOR"):
            return False
        if _set("FORCE_COLOR"):
            return True
        if os.environ.get("TERM") == "dumb":
            return False
        return self._tty(stream)

    def width(self) -> int:
        """Columns a redrawn line may take: one less than the terminal's, so it never wraps
        (a wrapped line cannot be redrawn with a carriage return)."""
        try:
            columns = os.get_terminal_size(self.err.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        return columns - 1 if columns > 10 else _WIDTH

    def live(self) -> bool:
        """Whether progress is drawn: a terminal on stderr that wants no plain output."""
        if self.verbosity < 0 or self.json_mode or not self._tty(self.err):
            return False
        if os.environ.get("TERM") == "dumb":
            return False
        if self.color == "auto":
            return not _set("NO_COLOR")
        return self.color == "always"

    def style(self, text: str, *styles: str, stream: TextIO | None = None) -> str:
        """``text`` in ``styles`` (bold, dim, red, green, yellow, cyan) when colour is on."""
        target = stream or (self.err if self.json_mode else self.out)
        if not styles or not self.color_on(target):
            return text
        codes = ";".join(_STYLES[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"

    def info(self, text: str) -> None:
        """Human-readable result text; in --json mode it goes to stderr."""
        if self.verbosity < 0:
            return
        self._clear()
        print(scrub(text), file=self.err if self.json_mode else self.out)

    def note(self, text: str) -> None:
        """Secondary information, shown unless -q."""
        if self.verbosity >= 0:
            self._clear()
            print(scrub(text), file=self.err)

    def debug(self, text: str) -> None:
        if self.verbosity > 0:
            self._clear()
            print(scrub(text), file=self.err)

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        """A long step said while it runs (``text …``) and gone when it ends, on a terminal
        (see ``live``); nothing elsewhere. Any other output first clears it."""
        self._draw(text)
        try:
            yield
        finally:
            self._clear()

    def say(self, text: str) -> None:
        """What a long step is doing now: a -v line; on a terminal without -v, a status
        line that the next one replaces (``waiting for another sync …``); else nothing."""
        if self.verbosity > 0:
            self.debug(text)
        else:
            self._draw(text)

    def _draw(self, text: str) -> None:
        """``text …`` as the status line, unless progress is drawn or nothing may be."""
        if self._bars or not self.live():
            return
        self._clear()
        line = scrub(text)[: self.width() - 2] + " …"
        self.err.write(line)
        self.err.flush()
        self._status = len(line)

    def finish(self) -> None:
        """The command is over: no status line stays behind."""
        self._clear()

    def _clear(self) -> None:
        if self._status:
            self.err.write("\r" + " " * self._status + "\r")
            self.err.flush()
            self._status = 0

    def json(self, data: Any) -> None:
        print(scrub(json.dumps(data, indent=2, sort_keys=True)), file=self.out)

    def error(self, message: str, hint: str | None = None) -> None:
        self._clear()
        print(
            self.style("overlock: error:", "bold", "red", stream=self.err) + f" {scrub(message)}",
            file=self.err,
        )
        if hint:
            print(self.style("  hint:", "cyan", stream=self.err) + f" {scrub(hint)}", file=self.err)

    def progress(self, label: str, total: int, *, unit: Literal["", "bytes"] = "") -> Progress:
        """A one-line counter on stderr, redrawn in place (see ``live``); silent otherwise.

        ``unit="bytes"``: ``total`` and each ``advance``'s ``n`` are bytes, drawn in MB.
        """
        self._clear()
        live = self.live()
        if live:
            self._bars += 1

        def closed() -> None:
            self._bars -= 1

        return Progress(
            self.err if live else None,
            label,
            total,
            unit=unit,
            on_close=closed if live else None,
            width=self.width() if live else _WIDTH,
        )

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        """A long step that says what it is doing: ``text …`` while it runs, then
        ``text … done`` (or ``failed``) on a terminal; off one, ``text`` as a note."""
        if not self.live():
            self.note(text)
            yield
            return
        self._clear()
        line = scrub(text)[: self.width() - 7]
        self.err.write(f"{line} …")
        self.err.flush()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.err.write(f"\r{line} … {'done' if ok else 'failed'}\n")
            self.err.flush()


def human_mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


class Progress:
    """``with out.progress("installing", n) as bar: ... bar.advance(name)``.

    Safe to advance from several threads (parallel downloads). Redrawn only when the text
    changes, so a download arriving in small pieces does not flood the terminal.
    """

    def __init__(
        self,
        stream: TextIO | None,
        label: str,
        total: int,
        *,
        unit: Literal["", "bytes"] = "",
        on_close: Callable[[], object] | None = None,
        width: int = _WIDTH,
    ) -> None:
        self.stream = stream
        self.width = width
        self._on_close = on_close
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._lock = threading.Lock()
        self._width = 0
        self._shown = ""

    def advance(self, what: str = "", n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self.stream is None:
                return
            if self.unit == "bytes":
                # "downloading numpy-2.1.0-…whl 12.3/45.6 MB": the file last heard from,
                # the bytes of the whole batch.
                # (a lock without sizes, or a server sending more: no total worth showing)
                known = self.total > 0 and self.done <= self.total
                count = f"{human_mb(self.done)}" + (f"/{human_mb(self.total)}" if known else "")
                count += " MB"
                room = self.width - len(self.label) - len(count) - 2
                name = what if len(what) <= room else what[: max(0, room - 1)] + "…"
                line = f"{self.label} {name} {count}" if name else f"{self.label} {count}"
            else:
                line = f"{self.label} {self.done}/{self.total}" + (f" {what}" if what else "")
            line = scrub(line)[: self.width]
            if line == self._shown:
                return
            self._shown = line
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stream is not None and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

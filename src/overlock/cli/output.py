"""How the CLI talks to people: results on stdout, progress and errors on stderr."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, TextIO

from overlock.redact import scrub

_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


class Output:
    """Where messages go: results on stdout, progress and errors on stderr.

    Colour only on a terminal, and never with ``NO_COLOR`` (https://no-color.org) or
    ``TERM=dumb``; progress only on a terminal and not with ``-q``. Every line goes through
    ``redact.scrub``: whatever a message quotes (a requirement, a URL, a library's error),
    no credential reaches the screen.
    """

    def __init__(self, verbosity: int = 0, json_mode: bool = False) -> None:
        self.verbosity = verbosity
        self.json_mode = json_mode
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr

    def _tty(self, stream: TextIO) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def color_on(self, stream: TextIO) -> bool:
        if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
            return False
        return self._tty(stream)

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
        print(scrub(text), file=self.err if self.json_mode else self.out)

    def note(self, text: str) -> None:
        """Secondary information, shown unless -q."""
        if self.verbosity >= 0:
            print(scrub(text), file=self.err)

    def debug(self, text: str) -> None:
        if self.verbosity > 0:
            print(scrub(text), file=self.err)

    def json(self, data: Any) -> None:
        print(scrub(json.dumps(data, indent=2, sort_keys=True)), file=self.out)

    def error(self, message: str, hint: str | None = None) -> None:
        print(
            self.style("overlock: error:", "bold", "red", stream=self.err) + f" {scrub(message)}",
            file=self.err,
        )
        if hint:
            print(self.style("  hint:", "cyan", stream=self.err) + f" {scrub(hint)}", file=self.err)

    def progress(self, label: str, total: int) -> Progress:
        """A one-line counter on stderr, redrawn in place; silent off a terminal, with -q,
        ``--json``, ``NO_COLOR`` or ``TERM=dumb`` (where redrawing a line is not wanted)."""
        live = self.verbosity >= 0 and not self.json_mode and self.color_on(self.err)
        return Progress(self.err if live else None, label, total)


class Progress:
    """``with out.progress("installing", n) as bar: ... bar.advance(name)``."""

    def __init__(self, stream: TextIO | None, label: str, total: int) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._width = 0

    def advance(self, what: str = "", n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self.stream is None:
                return
            line = f"{self.label} {self.done}/{self.total}" + (f" {what}" if what else "")
            line = line[:78]
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

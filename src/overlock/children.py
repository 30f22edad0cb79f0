"""Child processes that never outlive the command that started them.

overlock runs the base interpreter (byte-compiling with a pool of workers, the import check)
and build backends (which start compilers of their own). Killing only the direct child
leaves its children running: on a 64-core login node a failed sync once left 64 compile
workers behind. So every child here starts a session of its own, and its whole process
group is killed when the command is done with it: on return, on an error, on a timeout,
on Ctrl-C or SIGTERM. A group of its own also keeps the terminal's Ctrl-C away from
children, so they are stopped by overlock, in order, rather than each printing a traceback.

Groups still running are remembered, so that a second signal (``cli/main.py``) can kill them all
and exit at once when the orderly unwinding after the first one takes too long.
"""

from __future__ import annotations

import contextlib
import io
import locale
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from typing import IO, Any

_live: set[int] = set()
_live_lock = threading.Lock()


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the group ``pgid`` (a child started here leads one)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_all() -> None:
    """Kill every group still running; for a last-moment exit (see ``cli/main.py``)."""
    with _live_lock:
        groups = list(_live)
    for pgid in groups:
        kill_group(pgid)


class Child:
    """A ``subprocess.Popen`` in a session of its own, its group killed by ``close()``."""

    def __init__(self, args: Sequence[str], **kwargs: Any) -> None:
        kwargs["start_new_session"] = True
        self.proc: subprocess.Popen[Any] = subprocess.Popen(args, **kwargs)
        with _live_lock:
            _live.add(self.proc.pid)

    @property
    def stdin(self) -> IO[Any] | None:
        return self.proc.stdin

    def close(self) -> None:
        """Kill the group (a no-op when it is gone) and reap the child."""
        kill_group(self.proc.pid)
        with contextlib.suppress(ChildProcessError):
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with _live_lock:
            _live.discard(self.proc.pid)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(
    args: Sequence[str],
    *,
    input: bytes | str | None = None,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` whose child and all its descendants are gone when it returns.

    Captured output goes to temporary files, not pipes: a descendant that inherited a pipe
    (a daemon a build started) would keep ``communicate`` waiting for its end forever.
    ``text``/``encoding``/``errors`` decode the output as ``subprocess.run`` would.
    """
    encoding = kwargs.pop("encoding", None)
    errors = kwargs.pop("errors", None)
    text = bool(kwargs.pop("text", False) or kwargs.pop("universal_newlines", False))
    text = text or encoding is not None or errors is not None
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with contextlib.ExitStack() as stack:
        captured: dict[str, IO[bytes]] = {}
        for name in ("stdout", "stderr"):
            if kwargs.get(name) is subprocess.PIPE:
                captured[name] = kwargs[name] = stack.enter_context(tempfile.TemporaryFile())
        if input is not None:
            data = (
                input.encode(encoding or "utf-8", errors or "strict")
                if isinstance(input, str)
                else input
            )
            feed = stack.enter_context(tempfile.TemporaryFile())
            feed.write(data)
            feed.seek(0)
            kwargs["stdin"] = feed

        def read(name: str) -> Any:
            fh = captured.get(name)
            if fh is None:
                return None
            fh.seek(0)
            raw = fh.read()
            if not text:
                return raw
            wrapper = io.TextIOWrapper(
                io.BytesIO(raw),
                encoding=encoding or locale.getpreferredencoding(False),
                errors=errors or "strict",
            )
            return wrapper.read()

        with Child(args, **kwargs) as child:
            try:
                code = child.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.close()
                raise subprocess.TimeoutExpired(
                    child.proc.args, timeout or 0.0, output=read("stdout"), stderr=read("stderr")
                ) from None
        stdout, stderr = read("stdout"), read("stderr")
    if check and code:
        raise subprocess.CalledProcessError(code, list(args), output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(list(args), code, stdout, stderr)


__all__ = ["Child", "kill_all", "kill_group", "run"]

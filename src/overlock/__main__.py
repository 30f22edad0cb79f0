"""Allow ``python -m overlock``; also the ``overlock`` console script."""

import contextlib
import os
import sys


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        # Answered before anything else loads: a version check is what scripts run most.
        from overlock import __version__

        print(f"overlock {__version__}")
        return 0
    try:
        # A sync with nothing to do is answered from a stamp before the CLI and its imports
        # load (sync/stamp.py); everything else goes to the CLI.
        from overlock.sync.stamp import quick_sync

        code = quick_sync(sys.argv[1:])
        if code is None:
            from overlock.cli.main import main as cli_main

            code = cli_main()
    except KeyboardInterrupt:  # before the CLI's own handler was in place
        code = 130
        print("overlock: interrupted", file=sys.stderr)
    if code >= 128:
        # Interrupted: everything was cleaned up while unwinding. Leave now, without
        # waiting at exit for threads still finishing a download (a second Ctrl-C there
        # would print a traceback).
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())

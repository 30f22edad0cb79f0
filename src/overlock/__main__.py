"""Allow ``python -m overlock``; also the ``overlock`` console script."""

import sys


def main() -> int:
    # A sync with nothing to do is answered from a stamp before the CLI and its imports
    # load (syncstamp.py); everything else goes to the CLI.
    from overlock.syncstamp import quick_sync

    code = quick_sync(sys.argv[1:])
    if code is not None:
        return code
    from overlock.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

"""Allow ``python -m overlock``."""

import sys

from overlock.cli import main

if __name__ == "__main__":
    sys.exit(main())

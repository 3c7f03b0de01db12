"""``python -m recurct.cli``: the ``recurct`` command."""

import sys

from recurct.cli import main

if __name__ == "__main__":
    sys.exit(main())

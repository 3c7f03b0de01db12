"""``python -m recurct``: the ``recurct`` command (:func:`recurct.cli.main`)."""

import sys

from recurct.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m recurct.synthetic.calibration PROFILE``: re-run a shipped calibration
(:func:`recurct.cli._maintenance.calibrate_main`)."""

import sys

from recurct.cli._maintenance import calibrate_main

if __name__ == "__main__":
    sys.exit(calibrate_main())

"""Print pip requirements pinning each core dependency of pyproject.toml to the lowest
version it declares (``numpy>=1.26`` -> ``numpy==1.26.*``): `.ci/run` installs them in a
second environment and runs `.ci/smoke_minimums.py` there, so that the declared minimums
are versions the main path was seen to work with, not a guess."""

import re
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
for requirement in project["dependencies"]:
    m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)>=([0-9.]+)", requirement.replace(" ", ""))
    if m is None:
        raise SystemExit(f"minimums.py: {requirement!r} is not of the form name>=version")
    print(f"{m[1]}=={m[2]}.*")

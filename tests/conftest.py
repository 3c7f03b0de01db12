"""Shared test configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

TESTS = Path(__file__).parent
DATA = TESTS / "data"
ROOT = TESTS.parent

# numba compiles on first call, so the first example of a property test is slow: no deadline.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def data_dir() -> Path:
    """Folder of test fixtures that ship with the repository."""
    return DATA


#: Eight exams of five patients with every attribute (the command-line tests' small file).
EXAM_CSV = """patient_id,exam_date,effective_dose_msv,age_years,sex,facility
1,2017-01-02,60,40,F,A
1,2017-01-02,50,40,F,A
2,2017-02-01,10,70,M,A
3,2017-01-02,30,60,M,B
3,2017-01-12,40,60,M,B
3,2018-02-07,50,61,M,B
4,2017-01-07,5,30,F,B
5,2017-01-04,200,55,F,C
"""


@pytest.fixture
def exam_csv(tmp_path: Path) -> Path:
    """:data:`EXAM_CSV` written to ``exams.csv`` in the test's folder."""
    path = tmp_path / "exams.csv"
    path.write_text(EXAM_CSV)
    return path

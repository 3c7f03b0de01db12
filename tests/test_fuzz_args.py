"""Arguments found by fuzzing: each is refused with a ParameterError naming it (never a hang,
a TypeError from deep inside, or a silently empty result)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import recurct
from recurct import synthetic
from recurct.alerts import trailing_kernel
from recurct.cohort import Cohort
from recurct.errors import ParameterError
from recurct.outofcore import cumulative_dose_chunked, write_patients
from recurct.timevarying import lagged_dose_kernel

RDSR = Path(__file__).parent / "data" / "rdsr"


def _in_subprocess(code: str, timeout: float = 120) -> str:
    """Run ``code`` in a fresh interpreter (a hang is a failure, not a stuck test run); it
    prints the name of the exception raised, or ``returned``."""
    body = textwrap.indent(textwrap.dedent(code), "    ")
    script = (
        "import numpy as np\n"
        "try:\n" + body + "\n    print('returned')\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    try:
        res = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung (> {timeout} s): {code.strip()}")
    return res.stdout.strip() + res.stderr.strip()[-500:]


# ------------------------------------------------------------------ public numba kernels
# Before the checks some of these hung in native code or read out of bounds, so every bad
# call runs in one subprocess (a hang fails the test instead of stalling the run).
_KERNEL_CASES = """
import numpy as np
from recurct.alerts import trailing_kernel
from recurct.timevarying import lagged_dose_kernel

def args():
    return {
        "starts": np.array([0, 2, 3], np.int64),
        "day": np.array([0, 10, 5], np.int64),
        "dose": np.array([1.0, 2.0, 3.0]),
        "entry": np.array([0, 0], np.int64),
        "exit_": np.array([20, 30], np.int64),
        "lags": np.array([0, 365], np.int64),
    }

LAGGED = [
    ("exit_", np.array([0.0, float("nan")])),
    ("exit_", np.array([0, 30])),
    ("lags", np.array([0.5])),
    ("lags", np.array([-1])),
    ("starts", np.array([1, 2, 3])),
    ("starts", np.array([0, 3, 2])),
    ("starts", np.array([0, 3])),
    ("day", np.array([5, 0, 1])),
    ("day", np.array(["a", "b", "c"])),
    ("dose", np.array([1.0, float("nan"), 1.0])),
    ("dose", np.array([1.0])),
    ("entry", [[0, 0]]),
]
S, D, DOSE = np.array([0, 2, 3]), np.array([0, 10, 5]), np.array([1.0, 2.0, 3.0])
TRAILING = [(S, D, DOSE, w) for w in (0, -1, 1.5, float("nan"), True, "3", None, 10**6)] + [
    (np.array([0, 2]), D, DOSE, 3),
    (np.array([0, 3]), D, DOSE, 3),
    (S, D.astype(float), DOSE, 3),
]

def show(i, call):
    try:
        call()
        out = "returned"
    except Exception as exc:
        out = f"{type(exc).__name__} {exc}"
    print(i, out.replace(chr(10), " "), flush=True)

for i, (name, value) in enumerate(LAGGED):
    a = args()
    a[name] = value
    show(f"lagged{i}", lambda: lagged_dose_kernel(*a.values()))
for i, targs in enumerate(TRAILING):
    show(f"trailing{i}", lambda: trailing_kernel(*targs))
"""

#: (case, words the message must hold)
_KERNEL_EXPECT = [
    ("lagged0", "exit_"),
    ("lagged1", "entry < exit_"),
    ("lagged2", "lags"),
    ("lagged3", "lags"),
    ("lagged4", "starts"),
    ("lagged5", "starts"),
    ("lagged6", "one value per subject"),
    ("lagged7", "non-decreasing"),
    ("lagged8", "day"),
    ("lagged9", "dose"),
    ("lagged10", "dose"),
    ("lagged11", "entry"),
    *[(f"trailing{i}", "window") for i in range(8)],
    ("trailing8", "starts"),
    ("trailing9", "non-decreasing"),
    ("trailing10", "day"),
]


@pytest.fixture(scope="module")
def kernel_results() -> dict[str, str]:
    try:
        res = subprocess.run(
            [sys.executable, "-c", _KERNEL_CASES], capture_output=True, text=True, timeout=180
        )
        lines = res.stdout.splitlines()
    except subprocess.TimeoutExpired as exc:  # the cases before the hang still count
        out = exc.stdout or b""
        lines = (out.decode() if isinstance(out, bytes) else out).splitlines()
    return dict(line.split(" ", 1) for line in lines if " " in line)


@pytest.mark.parametrize(("case", "words"), _KERNEL_EXPECT)
def test_public_kernels_check_their_arguments(
    kernel_results: dict[str, str], case: str, words: str
) -> None:
    got = kernel_results.get(case, "hung or crashed")
    assert got.startswith("ParameterError") and words in got, got


def test_lagged_dose_kernel_still_computes() -> None:
    row_starts, start, stop, ced = lagged_dose_kernel(
        np.array([0, 2, 3], np.int64),
        np.array([0, 10, 5], np.int64),
        np.array([1.0, 2.0, 3.0]),
        np.array([0, 0], np.int64),
        np.array([20, 30], np.int64),
        np.array([0, 365], np.int64),
    )
    # subject 0: exams on days 0 and 10, cut at day 10; subject 1: exam on day 5, cut at 5
    assert row_starts.tolist() == [0, 2, 4]
    assert start.tolist() == [0, 10, 0, 5] and stop.tolist() == [10, 20, 5, 30]
    assert ced[:, 0].tolist() == [1.0, 3.0, 0.0, 3.0] and ced[:, 1].tolist() == [0.0] * 4


def test_trailing_kernel_still_computes() -> None:
    s, d, dose = np.array([0, 2, 3]), np.array([0, 10, 5]), np.array([1.0, 2.0, 3.0])
    ced, lo = trailing_kernel(s, d, dose, 11.0)
    assert ced.tolist() == [1.0, 3.0, 3.0] and lo.tolist() == [0, 0, 2]


# ------------------------------------------------------------------ synthetic generator
def test_generate_huge_n_patients_is_refused_at_once() -> None:
    for n in ("2**70", "1e308", "10**9 + 1", '{"USA-1": 2**70}'):
        out = _in_subprocess(
            f"""
            from recurct import synthetic
            synthetic.generate("small", n_patients={n})
            """,
            timeout=90,
        )
        assert out.startswith("ParameterError") and "n_patients" in out, out


@pytest.mark.parametrize("fn", ["generate", "iter_chunks"])
@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"threads": -1}, "threads"),
        ({"threads": 0}, "threads"),
        ({"threads": 2**70}, "threads"),
        ({"threads": "abc"}, "threads"),
        ({"threads": None}, "threads"),
        ({"threads": 1.5}, "threads"),
        ({"chunk_patients": float("nan")}, "chunk_patients"),
        ({"chunk_patients": 1.5}, "chunk_patients"),
        ({"chunk_patients": None}, "chunk_patients"),
        ({"chunk_patients": "abc"}, "chunk_patients"),
        ({"chunk_patients": 2**70}, "chunk_patients"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": -1}, "seed"),
        ({"seed": "1"}, "seed"),
        ({"n_patients": "30"}, "n_patients"),
    ],
)
def test_generator_arguments(fn: str, kw: dict[str, object], name: str) -> None:
    args = {"n_patients": 30, **kw}
    with pytest.raises(ParameterError, match=name):
        next(iter(getattr(synthetic, fn)("small", **args)))


def test_generator_profile_and_site_sizes() -> None:
    for bad in (None, 1, b"small", ""):
        with pytest.raises(ParameterError, match="profile"):
            synthetic.generate(bad)  # type: ignore[arg-type]
    assert synthetic.site_sizes("small", 30) == synthetic.site_sizes(
        synthetic.load_profile("small"), 30
    )
    assert sum(synthetic.site_sizes("small", 30)) == 30
    # whole numbers in other types are still fine
    df = synthetic.generate("small", 30, seed=np.int64(3), chunk_patients=10.0, threads=2)
    assert df["patient_id"].n_unique() == 30


def test_write_cohort_out_and_arguments(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="out"):
        synthetic.write_cohort("small", 1, n_patients=30)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="threads"):
        synthetic.write_cohort("small", tmp_path / "c", n_patients=30, threads=0)
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------ readers, out of core
@pytest.mark.parametrize("bad", [None, 1, b"x", 1.5, ""])
def test_reader_paths(bad: object) -> None:
    with pytest.raises(ParameterError, match="source"):
        recurct.read_openrem_ct(bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="source"):
        recurct.read_rdsr(bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="source"):
        recurct.read_rdsr([bad])  # type: ignore[list-item]


@pytest.mark.parametrize("workers", [float("nan"), 1.5, 0, -1, "abc", True])
def test_read_rdsr_workers(workers: object) -> None:
    files = sorted(RDSR.glob("*.dcm"))[:2]
    with pytest.raises(ParameterError, match="workers"):
        recurct.read_rdsr(files, workers=workers)  # type: ignore[arg-type]


@pytest.fixture
def exams_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "exams.parquet"
    synthetic.generate("small", 20).write_parquet(path)
    return path


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"buckets": float("nan")}, "buckets"),
        ({"buckets": 1.5}, "buckets"),
        ({"buckets": "abc"}, "buckets"),
        ({"buckets": 0}, "buckets"),
        ({"rows_per_bucket": -1}, "rows_per_bucket"),
        ({"rows_per_bucket": "abc"}, "rows_per_bucket"),
        ({"rows_per_bucket": float("nan")}, "rows_per_bucket"),
    ],
)
def test_chunked_bucket_arguments(exams_parquet: Path, kw: dict[str, object], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        cumulative_dose_chunked(exams_parquet, **kw)  # type: ignore[arg-type]


def test_write_patients_out(exams_parquet: Path) -> None:
    with pytest.raises(ParameterError, match="out"):
        write_patients(exams_parquet, None)  # type: ignore[arg-type]
    assert cumulative_dose_chunked(exams_parquet, buckets=2.0).height == 20


# ------------------------------------------------------------------ Cohort
def _cohort() -> Cohort:
    return Cohort(synthetic.generate("small", 20))


@pytest.mark.parametrize("rule", [[None], 1, b"x", pl.lit("x")])
def test_cohort_where_rule(rule: object) -> None:
    with pytest.raises(ParameterError, match="rule"):
        _cohort().where(pl.col("age_years") > 18, rule=rule)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [-1, 0, 2**70, ["A", 3]])
def test_cohort_facilities_need_text(name: object) -> None:
    with pytest.raises(ParameterError, match="facility names must be text"):
        _cohort().facilities(name)  # type: ignore[arg-type]


def test_cohort_facilities_codes_for_a_code_column() -> None:
    ex = synthetic.generate("small", 20)
    codes = ex.with_columns(pl.col("facility").rank("dense").cast(pl.Int64))
    assert Cohort(codes).facilities(1).exams.height > 0

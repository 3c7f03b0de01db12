"""Hostile-input corpus (issue 17): real exports and frames as hospitals and spreadsheets
write them, each case with its expected outcome.

Every case is one row of ``CASES``: an input (the bytes of a file, a folder, or a frame), a
call, and one expected outcome:

* ``Err(exc, pattern)``: the call raises ``exc`` and the message matches ``pattern``, which
  names the row and the column (or the file, for file-level problems);
* ``Drop(reasons, n_out)``: with ``strict=False`` the bad rows are dropped with a warning and
  counted exactly (``report.dropped_by_reason == reasons``), ``n_out`` rows kept;
* ``Value(check)``: the result is exactly right (``check`` asserts it).

The corpus size and its outcomes by kind are asserted at the end (``test_corpus_size``).
"""

from __future__ import annotations

import codecs
import gzip
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurct import Cohort, cumulative_dose, read_exams, validate
from recurct._checks import ParameterError
from recurct._frames import IdentifierWarning
from recurct.alerts import trailing_dose
from recurct.cumulative import period_dose, running_dose
from recurct.dose import DoseConversionError, DoseConversionWarning, effective_dose
from recurct.schema import DroppedRowsWarning, ExamValidationError, UnmappedValuesWarning
from recurct.stats import magnitude

TODAY = "2024-06-30"
HEAD = "patient_id,exam_date,effective_dose_msv"


# --------------------------------------------------------------------------- outcomes
@dataclass(frozen=True)
class Err:
    exc: type[BaseException]
    pattern: str


@dataclass(frozen=True)
class Drop:
    reasons: dict[str, int]
    n_out: int
    ids: list[Any] | None = None


@dataclass(frozen=True)
class Value:
    check: Callable[[Any], None]


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], Any]  # tmp_path -> the input
    call: Callable[..., Any]  # (input, strict) -> result
    expect: Err | Drop | Value


# --------------------------------------------------------------------------- inputs
def text_file(
    text: str,
    name: str = "x.csv",
    *,
    encoding: str = "utf-8",
    newline: str = "\n",
    gz: bool = False,
) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        data = text.replace("\n", newline).encode(encoding)
        if gz:
            data = gzip.compress(data)
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


def raw_file(data: bytes, name: str = "x.csv") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


def frame(**cols: Any) -> Callable[[Path], pl.DataFrame]:
    return lambda tmp: pl.DataFrame(cols, strict=False)


def pandas(**cols: Any) -> Callable[[Path], pd.DataFrame]:
    return lambda tmp: pd.DataFrame(cols)


def exams(ids: list[Any], doses: list[Any] | None = None, **extra: Any) -> Callable:
    """A polars exam frame, one exam a month from 2020-01-01."""
    n = len(ids)
    cols = {
        "patient_id": ids,
        "exam_date": [date(2020, 1 + i % 12, 1 + i // 12) for i in range(n)],
        "effective_dose_msv": doses if doses is not None else [10.0] * n,
        **extra,
    }
    return frame(**cols)


def pandas_exams(ids: list[Any]) -> Callable[[Path], pd.DataFrame]:
    """A pandas exam frame of three exams (1, 2 and 4 mSv)."""
    days = pd.to_datetime(["2020-01-01", "2020-02-01", "2020-01-01"])
    return pandas(patient_id=ids, exam_date=days, effective_dose_msv=[1.0, 2.0, 4.0])


def folder(files: dict[str, Any]) -> Callable[[Path], Path]:
    """A folder of files: a frame is written as Parquet, bytes as they are."""

    def make(tmp: Path) -> Path:
        root = tmp / "export"
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                content.write_parquet(path)
        return root

    return make


# --------------------------------------------------------------------------- calls
def read(**kw: Any) -> Callable[..., Any]:
    return lambda x, strict=True: read_exams(x, strict=strict, today=TODAY, **kw).exams


def check(**kw: Any) -> Callable[..., Any]:
    return lambda x, strict=True: validate(x, strict=strict, today=TODAY, **kw)


def ced(**kw: Any) -> Callable[..., Any]:
    return lambda x, strict=True: cumulative_dose(x, **kw)


def col(name: str, want: list[Any]) -> Value:
    def _check(out: Any) -> None:
        got = out.get_column(name).to_list() if isinstance(out, pl.DataFrame) else None
        assert got == want, (name, got, want)

    return Value(_check)


def _no_unnamed_column(out: Any) -> None:
    assert "" not in out.columns and out.height == 1, out.columns


def rows_are(names: list[str], want: list[tuple[Any, ...]]) -> Value:
    def _check(out: Any) -> None:
        got = out.select(names).rows()
        assert got == want, (got, want)

    return Value(_check)


def rows(n: int) -> Value:
    def _check(out: Any) -> None:
        assert out.height == n

    return Value(_check)


def region(text: str, want: str | None, **kw: Any) -> Case:
    data = f"{HEAD},Body Part\nA,2020-01-01,5.0,{text}\n"
    name = f"region {text!r}" + (f" with {sorted(kw)}" if kw else "")
    return Case(name, text_file(data, encoding="utf-8"), read(**kw), col("body_region", [want]))


def sex(text: str, want: str | None) -> Case:
    data = f"{HEAD},Patient Sex\nA,2020-01-01,5.0,{text}\n"
    return Case(f"sex {text!r}", text_file(data), read(), col("sex", [want]))


def bad_param(name: str, exc: type[BaseException], pattern: str, **kw: Any) -> Case:
    """A cumulative_dose parameter that must be refused with ``pattern``."""
    return Case(name, exams(["A"]), ced(**kw), Err(exc, pattern))


def not_a_table(what: str, data: bytes, name: str, named: str) -> Case:
    """A file that is no CSV or Parquet table, named with what it is."""
    pattern = re.escape(f"{name}: not a CSV or Parquet table ({named}")
    return Case(f"{what} named", raw_file(data, name), read(), Err(ValueError, pattern))


def first_id(out: Any) -> Any:
    return out.get_column("patient_id").to_list()


# --------------------------------------------------------------------------- the corpus
BIG = "".join(f"p{i},2020-01-0{1 + i % 9},1.0\n" for i in range(4000))  # > 64 KB of rows
MANY = "".join(f"{i},2020-02-0{1 + i % 9},1.0,CHEST\n" for i in range(1006))


def _checked_1006(out: pl.DataFrame) -> None:
    assert out.height == 3018 and out["body_region"].null_count() == 0
    assert set(out["body_region"]) == {"chest", "abdomen_pelvis", "chest_abdomen_pelvis"}


def _sum_ok(out: pl.DataFrame) -> None:
    assert out["ced_msv"].to_list() == [30.0]


def _strip(out: pl.DataFrame) -> None:
    assert out["patient_id"].to_list() == ["A"] and out["n_exams"].to_list() == [2]


def _float32_label(out: pl.DataFrame) -> None:
    assert "reached_0.1" in out.columns and "days_to_0.1" in out.columns


def _nan_age_same(out: pl.DataFrame) -> None:
    assert out["age_first_exam"].to_list() == [None, 40.0]


def _same_share(pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    a, b = (t.select("n_age_le_cut", "share_age_le_cut").row(0) for t in pair)
    assert a == b == (1, 1.0)  # the unknown age is not counted as <= 50


def _hive(out: pl.DataFrame) -> None:
    assert out.schema["facility"] == pl.Utf8
    assert sorted(zip(out["patient_id"], out["facility"])) == [("a", "001"), ("b", "St Mary")]


def _no_merge(out: pl.DataFrame) -> None:
    assert out.height == 2 and out["accession"].to_list() == [
        "12345678901234567890",
        "12345678901234567891",
    ]


def _sep_line(out: pl.DataFrame) -> None:
    assert out["effective_dose_msv"].to_list() == [1.5, 2.0]


def _null_counted(x: pl.DataFrame) -> list[Any]:
    with pytest.warns(DoseConversionWarning, match=r"left 1 dose\(s\) null \(1 effective dose"):
        out = effective_dose(x, strict=False)
    return [None if v is None else round(v, 9) for v in out["effective_dose_msv"]]


def _float_ids(out: pl.DataFrame) -> None:
    assert out.schema["patient_id"] == pl.Int64
    assert out.select("patient_id", "ced_msv").rows() == [(7, 3.0), (12, 4.0)]


def _same_periods(pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    assert pair[0].equals(pair[1]) and pair[0]["n_exams"].to_list() == [2], pair


def _cohort_sex(c: Cohort) -> None:
    assert c.n_patients == 1 and c.exams["patient_id"].to_list() == ["A"]


def _dedupe_kept(c: Cohort) -> None:
    assert c.n_exams == 2


def _per_pair(out: pl.DataFrame) -> None:
    assert out.height == 3


def _utf16(out: pl.DataFrame) -> None:
    assert out["facility"].to_list() == ["Hôpital", "Klinik Süd"]


def _cp1252_late(out: pl.DataFrame) -> None:
    assert out.height == 4001 and out["facility"].to_list()[-1] == "Hôpital"


B = pl.lit("b")
DLP_BOUND = (
    "DLP above 588235 mGy·cm (above 1000 mSv with every shipped conversion factor: "
    "implausible for one exam)"
)
CSV3 = f"{HEAD}\nA,2020-01-01,1.0\nB,2020-01-02,2.0\nC,2020-01-03,3.0\n"
FAC = f"{HEAD},facility\nA,2020-01-01,1.0,Hôpital\nB,2020-01-02,2.0,Klinik Süd\n"
CORRUPT = b"PAR1" + b"\x00garbage" * 10 + b"PAR1"
PARQ = pl.DataFrame(
    {"patient_id": ["a"], "exam_date": [date(2020, 1, 1)], "effective_dose_msv": [1.0]}
)

CASES: list[Case] = [
    # 1. free text normalised at the door --------------------------------------------------
    region("ABDOMEN/PELVIS", "abdomen_pelvis"),
    region("Thorax^TAP (Adult)", "chest_abdomen_pelvis"),
    region("CSPINE", "spine"),
    region("HEADNECK", "head_neck"),
    region("WHOLEBODY", "other"),
    region("CHESTABDPELVIS", "chest_abdomen_pelvis"),
    region("Schädel nativ", "head"),
    region("Schaedel", "head"),
    region("Abdomen/Becken", "abdomen_pelvis"),
    region("Hals", "neck"),
    region("Thorax", "chest"),
    region("crâne", "head"),
    region("bassin", "pelvis"),
    region("torace", "chest"),
    region("TC cranio", "head"),
    region("hoofd", "head"),
    region("Hüfte", "pelvis", region_rules={r" hufte ": "pelvis"}),
    region(
        "Thorax",
        "chest_abdomen_pelvis",
        region_rules=pl.DataFrame({"pattern": [" thorax "], "region": ["chest_abdomen_pelvis"]}),
    ),
    region("chest", "chest", region_rules={" chest ": "head"}),  # a canonical name stays itself
    sex("W", "F"),
    sex("D", "O"),
    sex("männlich", "M"),
    sex("Female", "F"),
    sex("h", "M"),
    Case(
        "region unmappable: set null, exam and dose kept",
        text_file(f"{HEAD},Body Part\nA,2020-01-01,5.0,Topogram\nB,2020-01-02,6.0,CHEST\n"),
        read(),
        col("effective_dose_msv", [5.0, 6.0]),
    ),
    Case(
        "raw region text kept",
        text_file(f"{HEAD},Body Part\nA,2020-01-01,5.0,Topogram\n"),
        read(),
        col("body_region_raw", ["Topogram"]),
    ),
    Case(
        "sex unmappable: set null, exam kept",
        text_file(f"{HEAD},sex\nA,2020-01-01,5.0,Q\n"),
        read(),
        col("sex", [None]),
    ),
    Case(
        "only the bad dose dropped, not the unknown region",
        text_file(f"{HEAD},Body Part\nA,2020-01-01,-5.0,CHEST\nB,2020-01-02,6.0,Topogram\n"),
        read(),
        Drop({"negative dose": 1}, 1),
    ),
    Case(
        "1,006 study descriptions mapped, none dropped",
        text_file(
            "Patient ID,Study Date,ED (mSv),Study Description\n"
            + MANY
            + MANY.replace("CHEST", "ABDOMEN/PELVIS").replace("-02-", "-03-")
            + MANY.replace("CHEST", '"Thorax^TAP (Adult)"').replace("-02-", "-04-")
        ),
        read(columns={"Study Description": "body_region"}),
        Value(_checked_1006),
    ),
    Case(
        "bad user region rule named",
        text_file(f"{HEAD},Body Part\nA,2020-01-01,5.0,x\n"),
        read(region_rules=[("(", "head")]),
        Err(ValueError, r"rule '\('.*regular expression"),
    ),
    Case(
        "user rule to a non-canonical region named",
        text_file(f"{HEAD},Body Part\nA,2020-01-01,5.0,x\n"),
        read(region_rules={" x ": "thorax"}),
        Err(ValueError, r"'thorax'.*region must be"),
    ),
    # 2. identity ----------------------------------------------------------------------------
    Case(
        "NULL id in a file",
        text_file(f"{HEAD}\nA,2020-01-01,1.0\nNULL,2020-01-02,1.0\n"),
        read(),
        Err(
            ExamValidationError,
            r"row 1 \(line 3 of the file\), column 'patient_id': missing patient id",
        ),
    ),
    Case(
        "placeholder ids counted as dropped",
        exams(["None", "nan", "#N/A", "NaN", "A", "<NA>", "n/a"]),
        check(),
        Drop({"missing patient id": 6}, 1),
    ),
    Case(
        "placeholders are not one 120 mSv patient",
        exams(["NULL", "None", "nan"], [40.0, 40.0, 40.0]),
        ced(),
        Err(ValueError, r"patient_id.*null.*rows 0, 1, 2"),
    ),
    Case("' A' and 'A' one patient", exams([" A", "A"]), ced(), Value(_strip)),
    Case(
        "blank id missing",
        exams(["   ", "A"]),
        check(),
        Err(ExamValidationError, r"row 0, column 'patient_id': missing patient id"),
    ),
    Case(
        "leading zeros kept",
        text_file(f"{HEAD}\n007,2020-01-01,1.0\n7,2020-01-02,1.0\n"),
        read(),
        col("patient_id", ["007", "7"]),
    ),
    Case(
        "digit ids become integers",
        text_file(f"{HEAD}\n12,2020-01-01,1.0\n7,2020-01-02,1.0\n"),
        read(),
        col("patient_id", [12, 7]),
    ),
    Case(
        "placeholders do not stop integer ids",
        text_file(f"{HEAD}\n12,2020-01-01,1.0\nNULL,2020-01-02,1.0\n"),
        read(),
        Drop({"missing patient id": 1}, 1, ids=[12]),
    ),
    Case(
        "mixed bad rows of a file counted by reason",
        text_file(
            f"{HEAD}\nA,2020-01-01,1.0\nNULL,2020-01-02,1.0\nB,2020-02-30,1.0\n"
            "C,2020-01-01,-2\nD,2020-01-01,5000\nE,2099-01-01,1.0\nA,2020-01-01,1.0\n"
        ),
        read(),
        Drop(
            {
                "missing patient id": 1,
                "unparseable date": 1,
                "negative dose": 1,
                "dose above 1000 mSv (implausible for one exam)": 1,
                "date after today": 1,
                "duplicate exam": 1,
            },
            1,
            ids=["A"],
        ),
    ),
    Case(
        "bad dose dropped, good rows of the same patient kept",
        exams(["A", "A", "A"], [5.0, math.inf, 7.0]),
        check(),
        Drop({"infinite dose": 1}, 2, ids=["A", "A"]),
    ),
    Case(
        "pandas NaN dose dropped as missing",
        pandas(
            patient_id=["a", "b"],
            exam_date=pd.to_datetime(["2020-01-01"] * 2),
            effective_dose_msv=[np.nan, 1.0],
        ),
        check(),
        Drop({"missing dose": 1}, 1, ids=["b"]),
    ),
    Case(
        "placeholder_ids overridden",
        exams(["0", "A"]),
        check(placeholder_ids=("0",)),
        Err(ExamValidationError, r"row 0, column 'patient_id': missing patient id"),
    ),
    Case(
        "UInt64 id above 2^63",
        lambda tmp: pl.DataFrame(
            {
                "patient_id": pl.Series([1, 2**64 - 1], dtype=pl.UInt64),
                "exam_date": [date(2020, 1, 1)] * 2,
                "effective_dose_msv": [1.0, 1.0],
            }
        ),
        ced(),
        Err(ValueError, r"'patient_id': row 1 .*18446744073709551615"),
    ),
    Case(
        "mixed int/str pandas ids",
        pandas(
            patient_id=[1, "a"],
            exam_date=pd.to_datetime(["2020-01-01"] * 2),
            effective_dose_msv=[1.0, 1.0],
        ),
        ced(),
        Err(ValueError, r"'patient_id': row 1 holds str 'a' but row 0 int"),
    ),
    Case(
        "mixed pandas extra column carried as it is",
        pandas(
            patient_id=["a", "b"],
            exam_date=pd.to_datetime(["2020-01-01"] * 2),
            effective_dose_msv=[1.0, 2.0],
            note=[1, "x"],
        ),
        check(),
        Value(lambda out: None if out["note"].to_list() == [1, "x"] else pytest.fail()),
    ),
    Case(
        "mixed pandas dose column named by row",
        pandas(
            patient_id=["a", "b"],
            exam_date=pd.to_datetime(["2020-01-01"] * 2),
            effective_dose_msv=[1.0, "abc"],
        ),
        check(),
        Err(ValueError, r"'effective_dose_msv': row 1 holds str 'abc'"),
    ),
    Case(
        "pandas NaN id missing",
        pandas(
            patient_id=["a", np.nan],
            exam_date=pd.to_datetime(["2020-01-01"] * 2),
            effective_dose_msv=[1.0, 1.0],
        ),
        check(),
        Err(ExamValidationError, r"row 1, column 'patient_id': missing"),
    ),
    Case(
        "astype(str) NaN id missing",
        pandas(
            patient_id=pd.Series(["a", np.nan], dtype=object).astype(str),
            exam_date=pd.to_datetime(["2020-01-01"] * 2),
            effective_dose_msv=[1.0, 1.0],
        ),
        check(),
        Err(ExamValidationError, r"row 1, column 'patient_id': missing"),
    ),
    Case(
        "categorical ids stripped",
        lambda tmp: pl.DataFrame(
            {
                "patient_id": pl.Series([" A", "A"], dtype=pl.Categorical),
                "exam_date": [date(2020, 1, 1), date(2020, 2, 1)],
                "effective_dose_msv": [1.0, 2.0],
            }
        ),
        ced(),
        Value(lambda out: _strip(out) if out["ced_msv"][0] == 3.0 else None),
    ),
    Case("empty study_uid is no uid", exams(["A", "A"], study_uid=["", ""]), check(), rows(2)),
    Case(
        "N/A study_uid is no uid in dedupe",
        exams(["A", "A"], study_uid=["N/A", "N/A"]),
        lambda x, strict=True: Cohort(x).dedupe(),
        Value(_dedupe_kept),
    ),
    Case(
        "NULL study_uid is no uid in validate",
        exams(["A", "A"], study_uid=["NULL", "null"]),
        check(),
        rows(2),
    ),
    Case(
        "real uid repeated is one exam",
        exams(["A", "A"], study_uid=["1.2.3", "1.2.3 "]),
        check(),
        Drop({"duplicate exam": 1}, 1),
    ),
    Case(
        "duplicate rule per pair: a timed row elsewhere changes nothing",
        frame(
            patient_id=["p", "p", "q"],
            exam_date=[datetime(2020, 3, 1)] * 2 + [datetime(2020, 3, 1, 10, 30)],
            effective_dose_msv=[2.0, 2.0, 1.0],
            accession=["A1", "A2", "B1"],
        ),
        check(),
        Value(_per_pair),
    ),
    # 3. columns carried through unchanged ----------------------------------------------------
    Case(
        "20-digit accessions keep exams apart",
        text_file(
            f"{HEAD},accession\nA,2020-01-01,1.0,12345678901234567890\n"
            "A,2020-01-01,1.0,12345678901234567891\n"
        ),
        read(),
        Value(_no_merge),
    ),
    Case(
        "1E5 stays text",
        text_file(f"{HEAD},code\nA,2020-01-01,1.0,1E5\n"),
        read(),
        col("code", ["1E5"]),
    ),
    Case(
        "N/A in an extra column stays text",
        text_file(f"{HEAD},note\nA,2020-01-01,1.0,N/A\n"),
        read(),
        col("note", ["N/A"]),
    ),
    Case(
        "frame dtype of an extra column kept",
        exams(["A"], ward=pl.Series([7], dtype=pl.Int16)),
        check(),
        Value(lambda out: None if out.schema["ward"] == pl.Int16 else pytest.fail("dtype")),
    ),
    Case(
        "repeated column name",
        text_file(f"{HEAD},note,note\nA,2020-01-01,1.0,x,y\n"),
        read(),
        Err(ValueError, r"'note' appears twice.*columns 3 and 4"),
    ),
    Case(
        "canonical beside its alias",
        text_file("patient_id,Patient ID,exam_date\nA,B,2020-01-01\n"),
        read(),
        Err(ValueError, r"'patient_id' and its vendor alias 'Patient ID'"),
    ),
    Case(
        "alias conflict settled by columns=",
        text_file("patient_id,Patient ID,exam_date\nA,B,2020-01-01\n"),
        read(columns={"patient_id": "patient_id"}),
        col("Patient ID", ["B"]),
    ),
    Case(
        "pandas repeated column",
        lambda tmp: pd.DataFrame([[1, 2]], columns=["a", "a"]),
        check(),
        Err(ValueError, r"'a' appears twice"),
    ),
    # 4. every file a spreadsheet or DMS writes -----------------------------------------------
    Case("CR line ends (CSV Macintosh)", text_file(CSV3, newline="\r"), read(), rows(3)),
    Case("CRLF line ends", text_file(CSV3, newline="\r\n"), read(), rows(3)),
    Case("LF line ends", text_file(CSV3), read(), rows(3)),
    Case(
        "sep=; first line",
        text_file(f"sep=;\n{HEAD.replace(',', ';')}\nA;2020-01-01;1,5\nB;2020-01-02;2\n"),
        read(),
        Value(_sep_line),
    ),
    Case(
        "quoted sep= line, CRLF",
        text_file(
            f'"sep=;"\n{HEAD.replace(",", ";")}\nA;2020-01-01;1,5\nB;2020-01-02;2\n', newline="\r\n"
        ),
        read(),
        Value(_sep_line),
    ),
    Case("UTF-8 BOM", raw_file(codecs.BOM_UTF8 + FAC.encode()), read(), Value(_utf16)),
    Case("UTF-16 LE with BOM", text_file(FAC, encoding="utf-16"), read(), Value(_utf16)),
    Case(
        "UTF-16 BE with BOM",
        raw_file(codecs.BOM_UTF16_BE + FAC.encode("utf-16-be")),
        read(),
        Value(_utf16),
    ),
    Case("UTF-16 LE without BOM", text_file(FAC, encoding="utf-16-le"), read(), Value(_utf16)),
    Case("Windows-1252", text_file(FAC, encoding="cp1252"), read(), Value(_utf16)),
    Case(
        "Windows-1252 after 64 KB",
        text_file(
            f"{HEAD},facility\n" + BIG.replace(",1.0\n", ",1.0,x\n") + "q,2020-01-01,1.0,Hôpital\n",
            encoding="cp1252",
        ),
        read(),
        Value(_cp1252_late),
    ),
    Case(
        "stray byte in a UTF-8 file named by row",
        raw_file(
            (f"{HEAD},facility\n" + BIG.replace(",1.0\n", ",1.0,é\n")).encode()
            + b"q,2020-01-01,1.0,H\xf4pital\n"
        ),
        read(),
        Err(ValueError, r"x\.csv: data row 4000 .*0xf4 is not UTF-8"),
    ),
    Case(
        "byte neither UTF-8 nor cp1252 named by row",
        raw_file(f"{HEAD}\nA,2020-01-01,1.0\n".encode() + b"B\x81,2020-01-01,1.0\n"),
        read(),
        Err(ValueError, r"data row 1 \(line 3 of the file\).*0x81"),
    ),
    Case(".csv.gz", text_file(CSV3, "x.csv.gz", gz=True), read(), rows(3)),
    Case(
        "damaged gzip",
        raw_file(gzip.compress(CSV3.encode())[:30], "x.csv.gz"),
        read(),
        Err(ValueError, r"x\.csv\.gz: a damaged gzip"),
    ),
    Case(
        "Excel workbook named",
        raw_file(b"PK\x03\x04" + b"\x00" * 50, "x.xlsx"),
        read(),
        Err(ValueError, r"x\.xlsx: not a CSV or Parquet table \(a zip archive or Excel workbook"),
    ),
    Case(
        "binary file named",
        raw_file(b"\x01\x00\x02\x00\xff\x00\x13" * 40, "x.bin"),
        read(),
        Err(ValueError, r"x\.bin: not a CSV or Parquet table"),
    ),
    Case("empty file named", raw_file(b"", "e.csv"), read(), Err(ValueError, r"e\.csv: empty")),
    Case("header only: no rows", text_file(f"{HEAD}\n"), read(), rows(0)),
    Case(
        "quoted newline inside a cell",
        text_file(f'{HEAD},note\nA,2020-01-01,1.0,"a\nb"\n'),
        read(),
        col("note", ["a\nb"]),
    ),
    Case(
        "empty rows a spreadsheet adds at the end",
        text_file(f"{HEAD.replace(',', ';')}\nA;2020-01-01;1\n;;\n  ;  ;\n\n"),
        read(),
        rows(1),
    ),
    Case(
        "blank row inside the table reported where it is",
        text_file(f"{HEAD}\nA,2020-01-01,1.0\n,,\nB,2020-01-02,1.0\n"),
        read(),
        Err(
            ExamValidationError,
            r"row 1 \(line 3 of the file\), column 'patient_id': missing patient id",
        ),
    ),
    Case(
        "row with an extra field named",
        text_file(f"{HEAD}\nA,2020-01-01,1.0\nB,2020-01-01,1,5\n"),
        read(),
        Err(
            ValueError,
            r"x\.csv: data row 1 \(line 3 of the file\) has 4 field\(s\) but the header has 3",
        ),
    ),
    Case(
        "row with a missing field named",
        text_file(f"{HEAD}\nA,2020-01-01\n"),
        read(),
        Err(ValueError, r"x\.csv: data row 0 \(line 2 of the file\) has 2 field\(s\)"),
    ),
    Case(
        "BOM then sep= line",
        raw_file(codecs.BOM_UTF8 + f"sep=;\n{HEAD.replace(',', ';')}\nA;2020-01-01;1,5\n".encode()),
        read(),
        col("effective_dose_msv", [1.5]),
    ),
    Case("tab separated", text_file(CSV3.replace(",", "\t")), read(), rows(3)),
    Case("DOS end-of-file mark", raw_file(CSV3.encode() + b"\x1a"), read(), rows(3)),
    Case(
        "trailing separator: an unnamed empty column left out",
        text_file(f"{HEAD},\nA,2020-01-01,1.0,\n"),
        read(),
        Value(lambda out: _no_unnamed_column(out)),
    ),
    Case(
        "folder: .pq, .PARQUET and .parquet",
        folder(
            {
                "a.pq": PARQ,
                "b.PARQUET": PARQ.with_columns(patient_id=pl.lit("b")),
                "sub/c.parquet": PARQ.with_columns(patient_id=pl.lit("c")),
                "notes.txt": b"x",
            }
        ),
        read(),
        Value(
            lambda out: (
                None
                if sorted(first_id(out)) == ["a", "b", "c"]
                else pytest.fail(str(first_id(out)))
            )
        ),
    ),
    Case(
        "hive partitions kept as text columns",
        folder(
            {
                "facility=001/a.parquet": PARQ,
                "facility=St%20Mary/b.pq": PARQ.with_columns(patient_id=pl.lit("b")),
            }
        ),
        read(),
        Value(_hive),
    ),
    Case(
        "folder files with integer and text ids: one text column, nothing lost",
        folder(
            {
                "a.parquet": PARQ.with_columns(patient_id=pl.lit(7)),
                "b.parquet": PARQ.with_columns(patient_id=pl.lit("b"), extra=pl.lit("x")),
            }
        ),
        read(),
        Value(lambda out: None if sorted(first_id(out)) == ["7", "b"] else pytest.fail()),
    ),
    Case(
        "truncated UTF-16 named by row",
        raw_file(codecs.BOM_UTF16_LE + CSV3.encode("utf-16-le") + b"A"),
        read(),
        Err(ValueError, r"x\.csv: data row 3 .*not valid utf-16"),
    ),
    Case(
        "corrupt Parquet in a folder named",
        folder({"a.parquet": PARQ, "bad.parquet": CORRUPT}),
        read(),
        Err(ValueError, r"bad\.parquet: not a readable Parquet"),
    ),
    Case(
        "folder without Parquet named",
        folder({"a.csv": b"x"}),
        read(),
        Err(FileNotFoundError, r"export: folder holds no Parquet files"),
    ),
    Case(
        "CSV passed to cumulative_dose named",
        text_file(CSV3),
        ced(),
        Err(ValueError, r"cumulative_dose: .*x\.csv is not a Parquet file"),
    ),
    Case(
        "ambiguous day-first date named by row",
        text_file(f"{HEAD}\nA,2020-01-01,1.0\nB,03/04/2020,1.0\n"),
        read(),
        Err(ValueError, r"'exam_date'.*'03/04/2020' \(row 1 \(line 3 of the file\)\).*dayfirst"),
    ),
    Case(
        "Parquet path to cumulative_dose: out of core, float32 label",
        folder({"a.parquet": PARQ}),
        lambda x, strict=True: cumulative_dose(x / "a.parquet", thresholds=[np.float32(0.5)]),
        Value(lambda out: None if out["reached_0.5"].to_list() == [True] else pytest.fail()),
    ),
    Case(
        "missing path to cumulative_dose named",
        lambda tmp: tmp / "nowhere.parquet",
        ced(),
        Err(FileNotFoundError, r"nowhere\.parquet: no such file"),
    ),
    # 5. plausible numbers -------------------------------------------------------------------
    Case(
        "dose 1e300 named",
        exams(["A", "B"], [1.0, 1e300]),
        check(),
        Err(ExamValidationError, r"row 1, column 'effective_dose_msv': dose above 1000 mSv"),
    ),
    Case(
        "dose 1e300 dropped and counted",
        exams(["A", "B", "C"], [1.0, 1e300, 2000.0]),
        check(),
        Drop({"dose above 1000 mSv (implausible for one exam)": 2}, 1),
    ),
    Case("bound configurable", exams(["A", "B"], [1.0, 2000.0]), check(max_dose_msv=5000), rows(2)),
    Case(
        "bound NaN rejected",
        exams(["A"]),
        check(max_dose_msv=math.nan),
        Err(ValueError, r"max_dose_msv must be a finite number"),
    ),
    Case(
        "bool dose rejected",
        exams(["A", "B"], [True, False]),
        check(),
        Err(ExamValidationError, r"row 0, column 'effective_dose_msv': not a number"),
    ),
    Case(
        "inf dose text in a file",
        text_file(f"{HEAD}\nA,2020-01-01,inf\n"),
        read(),
        Err(
            ExamValidationError,
            r"row 0 \(line 2 of the file\), column 'effective_dose_msv': infinite dose",
        ),
    ),
    Case(
        "negative DLP",
        text_file(f"{HEAD},DLP\nA,2020-01-01,1.0,-3\n"),
        read(),
        Err(
            ExamValidationError,
            r"row 0 \(line 2 of the file\), column 'dlp_mgycm': negative dose",
        ),
    ),
    Case(
        "NaN DLP in a frame",
        exams(["A"], dlp_mgycm=[math.nan]),
        check(),
        Err(ExamValidationError, r"row 0, column 'dlp_mgycm': NaN dose"),
    ),
    Case(
        "text dose",
        text_file(f"{HEAD}\nA,2020-01-01,abc\n"),
        read(),
        Err(
            ExamValidationError,
            r"row 0 \(line 2 of the file\), column 'effective_dose_msv': not a number",
        ),
    ),
    Case(
        "decimal comma",
        text_file(f"{HEAD.replace(',', ';')}\nA;2020-01-01;1,5\n"),
        read(),
        col("effective_dose_msv", [1.5]),
    ),
    Case(
        "sum of plausible doses exact", exams(["A"] * 3, [10.0, 10.0, 10.0]), ced(), Value(_sum_ok)
    ),
    Case(
        "negative dose in cumulative_dose named",
        exams(["A", "B"], [1.0, -1.0]),
        ced(),
        Err(ValueError, r"'effective_dose_msv'.*row 1"),
    ),
    # 6. errors pointing at the user's row; parameter checks ---------------------------------
    bad_param(
        "thresholds=True", ParameterError, r"thresholds must be a number, got True", thresholds=True
    ),
    bad_param(
        "thresholds=nan", ValueError, r"thresholds must be finite and > 0", thresholds=[math.nan]
    ),
    bad_param(
        "thresholds text", TypeError, r"thresholds must be a number, got '100'", thresholds=["100"]
    ),
    Case(
        "float32 threshold label",
        exams(["A"]),
        ced(thresholds=[np.float32(0.1)]),
        Value(_float32_label),
    ),
    bad_param(
        "window_days=nan", ValueError, r"window_days must be whole numbers", window_days=math.nan
    ),
    bad_param(
        "window_days=inf", ValueError, r"window_days must be whole numbers", window_days=math.inf
    ),
    bad_param(
        "window_days=1e20",
        ValueError,
        r"window_days must be whole numbers of days > 0 and <= 100000",
        window_days=1e20,
    ),
    bad_param(
        "window_days=True",
        ParameterError,
        r"window_days must be a number, got True",
        window_days=True,
    ),
    Case(
        "Cohort.ages(lo=nan)",
        exams(["A"], age_years=[40.0]),
        lambda x, strict=True: Cohort(x).ages(lo=math.nan),
        Err(ValueError, r"Cohort.ages: lo must be a finite number in \[0, 130\] years"),
    ),
    Case(
        "Cohort.ages(hi=inf)",
        exams(["A"], age_years=[40.0]),
        lambda x, strict=True: Cohort(x).ages(hi=math.inf),
        Err(ValueError, r"Cohort.ages: hi must be a finite number"),
    ),
    Case(
        "Cohort.adults(True)",
        exams(["A"], age_years=[40.0]),
        lambda x, strict=True: Cohort(x).adults(True),
        Err(ParameterError, r"Cohort.adults: age must be a number, got True"),
    ),
    Case(
        "Cohort.facilities(None)",
        exams(["A"], facility=["X"]),
        lambda x, strict=True: Cohort(x).facilities(None),
        Err(ValueError, r"Cohort.facilities: facility names must be non-empty text"),
    ),
    Case(
        "Cohort.min_followup(nan)",
        exams(["A"]),
        lambda x, strict=True: Cohort(x).min_followup(math.nan),
        Err(ValueError, r"Cohort.min_followup: days must be a finite number"),
    ),
    Case(
        "Cohort.sex('W') is F",
        exams(["A", "B"], sex=["F", "M"]),
        lambda x, strict=True: Cohort(x).sex("W"),
        Value(_cohort_sex),
    ),
    Case(
        "Cohort.sex unknown code",
        exams(["A"], sex=["F"]),
        lambda x, strict=True: Cohort(x).sex("Z"),
        Err(ValueError, r"unknown sex code 'Z'"),
    ),
    Case(
        "Cohort with a placeholder id names the row",
        exams(["A", "NULL"]),
        lambda x, strict=True: Cohort(x),
        Err(ValueError, r"'patient_id' has 1 null or placeholder value\(s\) \(rows \[1\]"),
    ),
    # 7. one meaning of a value --------------------------------------------------------------
    Case(
        "NaN age unknown in polars",
        exams(["A", "B"], age_years=[math.nan, 40.0]),
        ced(),
        Value(_nan_age_same),
    ),
    Case(
        "NaN age unknown in pandas",
        pandas(
            patient_id=["A", "B"],
            exam_date=pd.to_datetime(["2020-01-01"] * 2),
            effective_dose_msv=[1.0, 1.0],
            age_years=[np.nan, 40.0],
        ),
        lambda x, strict=True: pl.from_pandas(cumulative_dose(x)),
        Value(_nan_age_same),
    ),
    Case(
        "NaN age at first exam: share_age_le_cut the same for polars and pandas",
        frame(
            patient_id=[1, 2, 3],
            n_exams=[1, 1, 1],
            ced_msv=[150.0, 120.0, 10.0],
            age_first_exam=[math.nan, 40.0, 60.0],
            reached_100=[True, True, False],
        ),
        lambda x, strict=True: (magnitude(x), pl.from_pandas(magnitude(x.to_pandas()))),
        Value(_same_share),
    ),
    Case(
        "NaN age not selected by Cohort.ages in polars",
        exams(["A", "B"], age_years=[math.nan, 40.0]),
        lambda x, strict=True: Cohort(x).ages(lo=0, at="each"),
        Value(lambda c: None if c.n_exams == 1 else pytest.fail(str(c.exams))),
    ),
]

# --------------------------------------------------------------------------- review probes
# Cases found by an independent review of issue 17 (each failed before its fix).
CASES += [
    Case(
        "bare CR inside a CRLF file named by row",
        raw_file(f"{HEAD}\r\nA,2020-01-01,1.0\rB,2020-01-02,2.0\r\n".encode()),
        read(),
        Err(ValueError, r"x\.csv: data row 0 \(line 2 of the file\) cannot be split"),
    ),
    not_a_table(
        "Excel 97-2003 workbook",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64),
        "export.xls",
        "an Excel 97-2003 workbook",
    ),
    not_a_table(
        "HTML table saved as .xls",
        b"<html><body><table><tr><td>patient_id</td></tr></table></body></html>",
        "e.xls",
        "an HTML or XML document",
    ),
    not_a_table(
        "bzip2-compressed CSV",
        __import__("bz2").compress(CSV3.encode()),
        "x.csv.bz2",
        "a bzip2 file",
    ),
    not_a_table("PDF", b"%PDF-1.4\n1 0 obj\n", "report.pdf", "a PDF document"),
    Case(
        "doses summing past the largest float: cumulative_dose names the rows",
        exams(["A", "A", "B"], [1e308, 1e308, 1.0]),
        ced(),
        Err(ValueError, r"sums to more than the largest float.*row 0 \(1e\+308\), row 1"),
    ),
    Case(
        "doses summing past the largest float: running_dose",
        exams(["A", "A"], [1e308, 1e308]),
        lambda x, strict=True: running_dose(x),
        Err(ValueError, r"running_dose: column 'effective_dose_msv' sums to more than"),
    ),
    Case(
        "doses summing past the largest float: period_dose",
        exams(["A", "A"], [1e308, 1e308]),
        lambda x, strict=True: period_dose(x, every="5y"),
        Err(ValueError, r"period_dose: column 'effective_dose_msv' sums to more than"),
    ),
    Case(
        "corrupt Parquet in a folder given to cumulative_dose named",
        folder({"a.parquet": PARQ, "sub/bad.parquet": CORRUPT}),
        ced(),
        Err(ValueError, r"cumulative_dose: .*bad\.parquet: not a readable Parquet table"),
    ),
    Case(
        "glob matching nothing given to cumulative_dose named",
        lambda tmp: tmp / "exports" / "*.parquet",
        ced(),
        Err(FileNotFoundError, r"exports/\*\.parquet: no file matches"),
    ),
    Case(
        "CSV passed to running_dose named",
        text_file(CSV3),
        lambda x, strict=True: running_dose(x),
        Err(ValueError, r"running_dose: .*x\.csv is not a Parquet file"),
    ),
    Case(
        "CSV passed to period_dose named",
        text_file(CSV3),
        lambda x, strict=True: period_dose(x, every="1y"),
        Err(ValueError, r"period_dose: .*x\.csv is not a Parquet file"),
    ),
    Case(
        "period_dose keep=True refused",
        exams(["A"], sex=["F"]),
        lambda x, strict=True: period_dose(x, every="1y", keep=True),
        Err(ParameterError, r"period_dose: keep columns must be non-empty text.*got True"),
    ),
    Case(
        "period_dose(periods=): a time-zone-aware exam on its local day, as every=",
        lambda tmp: pl.DataFrame(
            {
                "patient_id": ["A", "A"],
                "exam_date": pl.Series(
                    [datetime(2020, 1, 1, 0, 30), datetime(2020, 6, 1)]
                ).dt.replace_time_zone("Europe/Berlin"),
                "effective_dose_msv": [1.0, 2.0],
            }
        ),
        lambda x, strict=True: (
            period_dose(x, every="1y"),
            period_dose(x, periods=[("2020-01-01", "2020-12-31")]),
        ),
        Value(_same_periods),
    ),
    Case(
        "effective_dose: a DLP giving an impossible dose named",
        frame(body_region=["chest", "chest"], dlp_mgycm=[400.0, 1e6]),
        lambda x, strict=True: effective_dose(x),
        Err(DoseConversionError, r"row 1, column 'dlp_mgycm': effective dose above 1000 mSv"),
    ),
    Case(
        "effective_dose: a DLP near the float limit never makes an infinite dose",
        frame(body_region=["chest"], dlp_mgycm=[1.7e308]),
        lambda x, strict=True: effective_dose(
            x, table=pl.DataFrame({"region": ["chest"], "k": [2.0]}), max_dose_msv=None
        ),
        Err(DoseConversionError, r"row 0, column 'dlp_mgycm': effective dose from this DLP is not"),
    ),
    Case(
        "effective_dose: a kept dose of 1e300 named",
        frame(body_region=["chest"], dlp_mgycm=[400.0], effective_dose_msv=[1e300]),
        lambda x, strict=True: effective_dose(x),
        Err(DoseConversionError, r"row 0, column 'effective_dose_msv': dose above 1000 mSv"),
    ),
    Case(
        "effective_dose strict=False: impossible doses left null and counted",
        frame(body_region=["chest"] * 3, dlp_mgycm=[400.0, 1e6, 500.0]),
        lambda x, strict=True: _null_counted(x),
        Value(lambda out: None if out == [5.6, None, 7.0] else pytest.fail(str(out))),
    ),
    Case(
        "effective_dose: text age named, no raw polars error",
        frame(body_region=["chest"], dlp_mgycm=[400.0], age_years=["abc"]),
        lambda x, strict=True: effective_dose(x, table="shrimpton_age"),
        Err(DoseConversionError, r"row 0, column 'age_years': age not a number \(value: 'abc'\)"),
    ),
    Case(
        "effective_dose adult_from=nan refused",
        frame(body_region=["chest"], dlp_mgycm=[400.0]),
        lambda x, strict=True: effective_dose(x, adult_from=math.nan),
        Err(ParameterError, r"adult_from must be a finite number in \[0, 130\] years"),
    ),
    Case(
        "effective_dose kv=True refused",
        frame(body_region=["chest"], dlp_mgycm=[400.0]),
        lambda x, strict=True: effective_dose(x, kv=True),
        Err(ParameterError, r"kv must be a number, got True"),
    ),
    region("TDM cérébrale", "head"),
    sex("w", "F"),
    Case(
        "pandas float ids (after dropna) are integer ids in cumulative_dose",
        pandas_exams([7.0, 7.0, 12.0]),
        lambda x, strict=True: pl.from_pandas(cumulative_dose(x)),
        Value(_float_ids),
    ),
    Case(
        "float ids above 2^53 (digits lost, two patients merged) named",
        pandas_exams([12345678901234567.0, 12345678901234568.0, 5.0]),
        check(),
        Drop({"float patient id above 2^53 (digits lost: read ids as text)": 2}, 1, ids=[5]),
    ),
    Case(
        "placeholder_ids given as one string is one placeholder",
        exams(["U", "UNK", "A"]),
        check(placeholder_ids="UNK"),
        Drop({"missing patient id": 1}, 2, ids=["U", "A"]),
    ),
    Case(
        "Cohort.ages on a text age column named",
        exams(["A"], age_years=["abc"]),
        lambda x, strict=True: Cohort(x).ages(lo=18),
        Err(TypeError, r"Cohort.ages: column 'age_years' must be numeric \(years\), got String"),
    ),
    Case(
        "threshold 1e20 labelled by its shortest form",
        exams(["A"]),
        ced(thresholds=[1e20]),
        Value(lambda out: None if "reached_1e+20" in out.columns else pytest.fail(out.columns)),
    ),
    Case(
        "pandas extra column mixing 1 and 'x': rows differing there are not copies",
        pandas(
            patient_id=["a", "a", "a"],
            exam_date=pd.to_datetime(["2020-01-01"] * 3),
            effective_dose_msv=[1.0] * 3,
            accession=[1, "x", "x"],
        ),
        check(),
        Drop({"duplicate exam": 1}, 2),
    ),
    Case(
        "data rows ending with a separator the header lacks: nothing lost",
        text_file(f"{HEAD.replace(',', ';')};note\nA;2020-01-01;1,5;x;\nB;2020-01-02;2;;\n"),
        read(),
        rows_are(["effective_dose_msv", "note"], [(1.5, "x"), (2.0, None)]),
    ),
    Case(
        "a value after the last column is still an error naming the row",
        text_file(f"{HEAD}\nA,2020-01-01,1.0\nB,2020-01-02,2.0,oops\n"),
        read(),
        Err(
            ValueError,
            r"x\.csv: data row 1 \(line 3 of the file\) has 4 field\(s\) but the header has 3",
        ),
    ),
    Case(
        "NULL and #N/A in optional canonical columns are missing, the exam kept",
        text_file(
            f"{HEAD},DLP,facility,sex\nA,2020-01-01,1.0,NULL,NULL,M\nB,2020-01-02,2.0,#N/A,X,#NV\n"
        ),
        read(),
        rows_are(["dlp_mgycm", "facility", "sex"], [(None, None, "M"), (None, "X", None)]),
    ),
    Case(
        "magnitude(thresholds=True) refused (True is not 1 mSv)",
        exams(["A"]),
        lambda x, strict=True: magnitude(cumulative_dose(x), thresholds=True),
        Err(ParameterError, r"magnitude: thresholds must be a number, got True"),
    ),
    Case(
        "magnitude(age_cut=nan) refused",
        exams(["A"], age_years=[40.0]),
        lambda x, strict=True: magnitude(cumulative_dose(x), age_cut=math.nan),
        Err(ParameterError, r"magnitude: age_cut must be a finite number in \[0, 130\] years"),
    ),
    Case(
        "trailing_dose(window_days=1e20) refused (was a raw OverflowError)",
        exams(["A"]),
        lambda x, strict=True: trailing_dose(x, window_days=1e20),
        Err(ParameterError, r"trailing_dose: window_days must be whole numbers of days"),
    ),
    Case(
        "trailing_dose(thresholds=True) refused",
        exams(["A"]),
        lambda x, strict=True: trailing_dose(x, thresholds=True),
        Err(ParameterError, r"trailing_dose: thresholds must be a number, got True"),
    ),
    Case(
        "float32 ids at 2^24 (16777217 rounds onto 16777216) named, not merged",
        exams(pl.Series([16777217.0, 16777216.0, 3.0], dtype=pl.Float32)),
        check(),
        Drop({"float patient id above 2^24 (digits lost: read ids as text)": 2}, 1, ids=[3]),
    ),
    Case(
        "boolean patient ids named (True is no patient)",
        exams([True, False]),
        check(),
        Err(ExamValidationError, r"row 0, column 'patient_id': patient id is not text or an"),
    ),
    Case(
        "validate(required='effective_dose_msv'): one column, not its letters",
        exams(["A", "B"], [1.0, None]),
        check(required="effective_dose_msv"),
        Drop({"missing dose": 1}, 1, ids=["A"]),
    ),
    Case(
        "read_exams(columns=[...]) refused with a message (was a raw AttributeError)",
        text_file(CSV3),
        read(columns=["Patient ID"]),
        Err(TypeError, r"columns must be a mapping \{'their name': 'our name'\}, got list"),
    ),
    Case(
        "DLP of 1e300 (no table makes it a plausible dose) on a row whose dose it is "
        "(no effective dose) dropped and counted",
        exams(["A", "B"], [1.0, None], dlp_mgycm=[100.0, 1e300]),
        check(required=["patient_id", "exam_date"]),
        Drop({DLP_BOUND: 1}, 1, ids=["A"]),
    ),
    Case(
        "folder with a .pq file given to cumulative_dose: refused, not silently skipped",
        folder({"a.parquet": PARQ, "b.PQ": PARQ.with_columns(patient_id=pl.lit("b"))}),
        ced(),
        Err(ValueError, r"cumulative_dose: .*export: its files \[.*b\.PQ'\] would be left out"),
    ),
    Case(
        "hive facility= folders given to cumulative_dose: refused, not silently dropped",
        folder({"facility=X/a.parquet": PARQ}),
        ced(),
        Err(ValueError, r"partition folders hold the column\(s\) \['facility'\]"),
    ),
    Case(
        "hive facility= folders through read_exams: kept",
        folder({"facility=X/a.PQ": PARQ, "facility=Y/b.parquet": PARQ.with_columns(patient_id=B)}),
        lambda x, strict=True: cumulative_dose(read_exams(x)),
        rows_are(["patient_id", "facility"], [("a", "X"), ("b", "Y")]),
    ),
    Case(
        "Cohort.facilities given a list",
        exams(["A", "B"], facility=["X", "Y"]),
        lambda x, strict=True: Cohort(x).facilities(["X"]),
        Value(lambda c: None if c.n_patients == 1 else pytest.fail(str(c.exams))),
    ),
    Case(
        "Cohort.min_followup(1e20) refused",
        exams(["A"]),
        lambda x, strict=True: Cohort(x).min_followup(1e20),
        Err(ParameterError, r"min_followup: days must be a finite number in \[0, 100000\]"),
    ),
    Case(
        "stray byte after a quoted multi-line cell: the data row, not the line",
        raw_file(
            f'{HEAD},note\nA,2020-01-01,1.0,"two\nlines"\nB,2020-01-02,1.0,é\n'.encode()
            + b"C,2020-01-03,1.0,H\xf4pital\n"
        ),
        read(),
        Err(ValueError, r"x\.csv: data row 2 \(line 5 of the file\): byte 0xf4"),
    ),
    Case(
        "stray byte after a sep= line: rows counted from the header",
        raw_file(
            f"sep=;\n{HEAD.replace(',', ';')};fac\nA;2020-01-01;1;é\n".encode()
            + b"B;2020-01-02;1;H\xf4pital\n"
        ),
        read(),
        Err(ValueError, r"x\.csv: data row 1 \(line 4 of the file\): byte 0xf4"),
    ),
]


def _run(case: Case, tmp_path: Path) -> None:
    arg = case.make(tmp_path)
    exp = case.expect
    with warnings.catch_warnings():
        # identity and mapping notices are part of the contract, checked in their own tests
        warnings.simplefilter("ignore", IdentifierWarning)
        warnings.simplefilter("ignore", UnmappedValuesWarning)
        if isinstance(exp, Err):
            with pytest.raises(exp.exc) as info:
                case.call(arg)
            assert re.search(exp.pattern, str(info.value), re.S), str(info.value)
            text = str(info.value)
            assert "Traceback" not in text
        elif isinstance(exp, Drop):
            with pytest.warns(DroppedRowsWarning) as record:
                out = case.call(arg, strict=False)
            msg = next(str(w.message) for w in record if w.category is DroppedRowsWarning)
            summary = ", ".join(f"{k} {r}" for r, k in exp.reasons.items())
            assert re.search(r"dropped \d+ of \d+ rows \(", msg), msg
            for reason, k in exp.reasons.items():
                assert f"{k} {reason}" in msg, (summary, msg)
            assert len(out) == exp.n_out
            if exp.ids is not None:
                kept = pl.from_pandas(out) if isinstance(out, pd.DataFrame) else out
                assert first_id(kept) == exp.ids
        else:
            exp.check(case.call(arg))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(case: Case, tmp_path: Path) -> None:
    _run(case, tmp_path)


def test_corpus_size() -> None:
    kinds = {"error": 0, "drop": 0, "value": 0}
    for c in CASES:
        kinds[{Err: "error", Drop: "drop", Value: "value"}[type(c.expect)]] += 1
    assert len(CASES) >= 80 and min(kinds.values()) >= 5, kinds
    assert len({c.id for c in CASES}) == len(CASES)


def test_warnings_are_counted() -> None:
    df = pl.DataFrame(
        {
            "patient_id": [" A", "B ", "C"],
            "exam_date": [date(2020, 1, 1)] * 3,
            "effective_dose_msv": [1.0] * 3,
        }
    )
    with pytest.warns(IdentifierWarning, match=r"from 2 id\(s\) \(rows 0, 1"):
        out = validate(df, today=TODAY)
    assert out["patient_id"].to_list() == ["A", "B", "C"]
    with pytest.warns(UnmappedValuesWarning, match="2 unknown body region"):
        report = read_exams(
            out.with_columns(body_region=pl.Series(["Topogram", "Scout", "CHEST"])),
            today=TODAY,
        ).report
    assert report.set_null_by_reason == {"unknown body region": 2}
    assert "2  unknown body region (set null, exam kept)" in str(report)


# --------------------------------------------------------------------------- property
GOOD = st.fixed_dictionaries(
    {
        "patient": st.sampled_from(["a", "b", "007", "c d"]),
        "day": st.integers(0, 60),
        "dose": st.floats(0, 50, allow_nan=False).map(lambda x: round(x, 3)),
        "region": st.sampled_from(["CHEST", "Schädel", "Topogram", "", "ABDOMEN/PELVIS"]),
    }
)
BAD = st.sampled_from(
    [
        ("NULL", "2020-01-01", "1.0"),  # placeholder id
        ("", "2020-01-01", "1.0"),  # empty id
        ("a", "2020-02-30", "1.0"),  # impossible date
        ("a", "not a date", "1.0"),
        ("a", "2099-01-01", "1.0"),  # after today
        ("a", "2020-01-01", "-1.0"),  # negative dose
        ("a", "2020-01-01", "NaN"),
        ("a", "2020-01-01", "inf"),
        ("a", "2020-01-01", "1e300"),  # implausible
        ("a", "2020-01-01", "abc"),
        ("#N/A", "2020-01-01", "1.0"),
    ]
)


@settings(max_examples=25)
@given(st.lists(st.one_of(GOOD, BAD), min_size=1, max_size=40), st.sampled_from([",", ";"]))
def test_random_bad_rows_leave_exactly_the_good_ones(tmp_path_factory, items, sep) -> None:
    lines, good = [], []
    for i, it in enumerate(items):
        if isinstance(it, dict):
            day = date.fromordinal(date(2020, 1, 1).toordinal() + it["day"]).isoformat()
            dose = repr(it["dose"])
            lines.append((it["patient"], day, dose, it["region"], f"acc{i}"))
            good.append((it["patient"], date.fromisoformat(day), it["dose"], f"acc{i}"))
        else:
            lines.append((*it, "CHEST", f"acc{i}"))
    text = sep.join(["Patient ID", "Study Date", "ED (mSv)", "Body Part", "accession"]) + "\n"
    text += "".join(sep.join(r) + "\n" for r in lines)
    path = tmp_path_factory.mktemp("prop") / "export.csv"
    path.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmappedValuesWarning)
        warnings.simplefilter("ignore", DroppedRowsWarning)
        # doses written with a decimal point: said, as a ';' file whose every dose reads
        # both ways ("1.875": 1.875 or 1875) has its numbers flagged, not guessed
        out = read_exams(path, strict=False, today=TODAY, decimal=".").exams
    # exactly the good rows, in order, values as written ("007" stays text)
    kept = out.select("patient_id", "exam_date", "effective_dose_msv", "accession").rows()
    assert kept == good
    if not good:
        return
    clean = pl.DataFrame(
        good, schema=["patient_id", "exam_date", "effective_dose_msv", "accession"], orient="row"
    )
    want = cumulative_dose(clean, thresholds=(10.0,), window_days=30)
    got = cumulative_dose(out, thresholds=(10.0,), window_days=30)
    assert got.equals(want)

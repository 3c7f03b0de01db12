"""Obviously-correct, slow reference implementations of everything in recurct.cumulative.

Plain Python: rows are grouped per patient in a dict, each patient's exams sorted by
(timestamp, input row), and every output computed by a direct loop. Used only by tests.
Every sum of doses (CED, running CED, window and period sums) is ``math.fsum``, the
correctly rounded sum, independently of the engine's compensated summation.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import polars as pl

from recurct._frames import param_label


def _day(v: dt.date | dt.datetime) -> dt.date:
    return v.date() if isinstance(v, dt.datetime) else v


def _key(v: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None)
    return dt.datetime(v.year, v.month, v.day)


def per_patient(exams: pl.DataFrame) -> dict[object, list[dict]]:
    """Rows of each patient (with their input row number), sorted by (time, row)."""
    groups: dict[object, list[dict]] = {}
    for i, row in enumerate(exams.iter_rows(named=True)):
        groups.setdefault(row["patient_id"], []).append({**row, "_row": i})
    for rows in groups.values():
        rows.sort(key=lambda r: (_key(r["exam_date"]), r["_row"]))
    return dict(sorted(groups.items()))


def naive_patients(
    exams: pl.DataFrame, thresholds=(100.0,), window_days=(), indication="most_frequent"
) -> list[dict[str, object]]:
    """The patients table as a list of dicts, one per patient, sorted by patient_id.

    ``indication="first"``: the first non-null indication in time order (as for sex)."""
    out = []
    for pid, rows in per_patient(exams).items():
        days = [_day(r["exam_date"]) for r in rows]
        doses = [float(r["effective_dose_msv"]) for r in rows]
        rec: dict[str, object] = {
            "patient_id": pid,
            "n_exams": len(rows),
            "first_exam": days[0],
            "last_exam": days[-1],
            "followup_days": (days[-1] - days[0]).days,
        }
        rec["ced_msv"] = math.fsum(doses)
        if "age_years" in exams.columns:
            rec["age_first_exam"] = rows[0]["age_years"]
        if "sex" in exams.columns:
            rec["sex"] = next((r["sex"] for r in rows if r["sex"] is not None), None)
        for col in ("facility", "indication"):
            if col == "indication" and indication == "first" and col in exams.columns:
                rec[col] = next((r[col] for r in rows if r[col] is not None), None)
            elif col in exams.columns:
                vals = [r[col] for r in rows if r[col] is not None]
                counts = Counter(vals)
                best = None
                for v in vals:  # in time order: the first with the top count
                    if best is None or counts[v] > counts[best]:
                        best = v
                rec[col] = best
        for t in thresholds:
            lab = param_label(t)
            hit = None
            for j in range(len(doses)):
                if math.fsum(doses[: j + 1]) >= t:
                    hit = j
                    break
            rec[f"reached_{lab}"] = hit is not None
            rec[f"days_to_{lab}"] = None if hit is None else (days[hit] - days[0]).days
            rec[f"exams_to_{lab}"] = None if hit is None else hit + 1
            rec[f"date_reached_{lab}"] = None if hit is None else days[hit]
            if "age_years" in exams.columns:
                rec[f"age_reached_{lab}"] = None if hit is None else rows[hit]["age_years"]
        for w in window_days:
            wl = param_label(w)
            best, start = -1.0, None
            for i in range(len(rows)):  # every window i..j with day_j - day_i < w
                for j in range(i, len(rows)):
                    if (days[j] - days[i]).days >= w:
                        break
                    s = math.fsum(doses[i : j + 1])
                    if s > best or (s == best and days[i] < start):
                        best, start = s, days[i]
            rec[f"max_ced_{wl}"] = best
            rec[f"window_start_{wl}"] = start
            for t in thresholds:
                rec[f"reached_{param_label(t)}_in_{wl}"] = best >= t
        out.append(rec)
    return out


def naive_running(exams: pl.DataFrame) -> list[dict[str, object]]:
    """Exam rows in patient/time order with exam_index and running_ced_msv."""
    out = []
    for rows in per_patient(exams).values():
        doses = [float(r["effective_dose_msv"]) for r in rows]
        for j, r in enumerate(rows):
            rec = {k: v for k, v in r.items() if k != "_row"}
            rec["exam_index"] = j + 1
            rec["running_ced_msv"] = math.fsum(doses[: j + 1])
            out.append(rec)
    return out


def _month_start(year: int, month0: int) -> dt.date:
    return dt.date(year + month0 // 12, month0 % 12 + 1, 1)


def naive_periods(exams: pl.DataFrame, windows=None, by_period_months=None) -> list[dict]:
    """CED per (patient, period): periods of N months aligned to 1970-01, or explicit."""
    acc: dict[tuple, list] = {}
    for pid, rows in per_patient(exams).items():
        for r in rows:
            d = _day(r["exam_date"])
            periods = []
            if by_period_months:
                mi = (d.year - 1970) * 12 + d.month - 1
                s = mi // by_period_months * by_period_months
                start = _month_start(1970, s)
                end = _month_start(1970, s + by_period_months) - dt.timedelta(days=1)
                periods.append((start, end))
            for lo, hi in windows or ():
                if lo <= d <= hi:
                    periods.append((lo, hi))
            for p in dict.fromkeys(periods):  # a period given twice is one period
                a = acc.setdefault((pid, *p), [0, []])
                a[0] += 1
                a[1].append(float(r["effective_dose_msv"]))
    return [
        {"patient_id": k[0], "period_start": k[1], "period_end": k[2], "n_exams": v[0],
         "ced_msv": math.fsum(v[1])}
        for k, v in sorted(acc.items())
    ]  # fmt: skip

"""A study on many seeds: the spread of every figure, and the validation record of a profile.

One synthetic cohort is one draw of the model. :func:`run_seeds` reproduces a study on several
seeds and :func:`summarise` gives, per published figure, the mean, the standard deviation and
the central 95% range over the seeds, and the share of seeds on which the figure was within
its tolerance. :class:`SeedRuns` holds that summary; it is ``ok`` when every counted
figure's *mean* over the seeds lies within half the published rounding unit plus the
calibration tolerance plus z x the sampling SD of a mean of k seeds (the figure's SD, at its
upper 95% confidence bound, over ``sqrt(k)``) of the published value (the rounding once, and
a calibration target the fit did not meet missed on any seeds: the rules of one run,
:mod:`recurct.studies._figures`). Sample extremes are shown, not counted: per seed, whether
its value lies in the model's central 95% range stored in the profile (``seeds ok``; the
legend says how often a seed falls outside that range: the rate the study measured on seeds
outside the validation record where it has one, else that of a seed exchangeable with the
validation seeds, :func:`recurct.studies._reproduction.extremes_note`), and from
:data:`MIN_SEEDS` seeds on whether the published value lies in the range of these seeds
(:func:`central_range`: their smallest to largest value up to 40 seeds). Seeds the profile
was fitted on are named in the headline ("in-sample"), and so are seeds of its validation
record ("validation seeds": the stored ranges and SDs were taken over them).

``python -m recurct.studies.validate STUDY --seeds 1000-1099 --write`` runs the study at full
scale on validation seeds (disjoint from the calibration's ``fit_seeds``) and stores the
result in the profile's ``[calibration.validation]`` record: the seeds, the cohort size and,
per figure, ``mean``, ``sd``, ``q_lo``, ``q_hi`` at full precision (a range end is then one
seed's value exactly: a seed at the end of the range lies in it) (:func:`recurct.studies.
_figures.validation_record`). That record gives the sampling SD of each figure's tolerance and the
central range of each extreme. ``recurct reproduce STUDY --seeds 20`` runs the same on the
command line.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from recurct.errors import ParameterError
from recurct.studies._figures import (
    CALIBRATION_TARGET,
    INDEPENDENT,
    SAMPLED,
    Published,
    calibration_record,
    calibration_tolerances,
    counted,
    extreme_coverage,
    fit_seeds,
    fitted_targets,
    headline_counts,
    in_sample_text,
    run_z,
    sd_scale,
    sd_upper,
    tolerance_parts,
    uninformative,
    unmet_reason,
    unmet_targets,
    validation_record,
    validation_seeds,
    validation_seeds_text,
)
from recurct.studies._format import (
    fmt,
    grid,
    kind_label,
    markdown_table,
    ok_text,
    published_text,
    readable,
    within_printed,
)
from recurct.studies._run import parse_seeds

__all__ = ["MIN_SEEDS", "SeedRuns", "central_range", "run_seeds", "summarise", "validate"]

MIN_SEEDS = 20
"""Fewest seeds from which a published extreme is placed in their range (:func:`central_range`:
their smallest to largest value up to 40 seeds, a central 95% range from 41 on); also the
fewest validation seeds."""


def central_range(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` range of ``values``: the empirical ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles (inverted CDF: values that occurred; with 40 values or fewer
    the smallest and the largest, with 100 the 3rd smallest and the 3rd largest)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        raise ParameterError("no values")
    n = v.size
    k = _range_rank(n, level)
    return float(v[k - 1]), float(v[n - k])


def _range_rank(n: int, level: float = 0.95) -> int:
    """The k of :func:`central_range` of ``n`` values: its ends are the k-th smallest and the
    k-th largest (1, the smallest and the largest, up to 40 values at level 0.95)."""
    return max(math.ceil(n * (1.0 - level) / 2.0 - 1e-9), 1)


def _range_name(n: int) -> str:
    """What :func:`central_range` of ``n`` seeds' values is: ``"min–max"`` where it is their
    smallest and largest value (40 seeds or fewer), else ``"central 95%"``."""
    return "min–max" if _range_rank(n) == 1 else "central 95%"


def _progress(total: int, study: str, progress: bool | Callable[[str], None]) -> Any:
    """A tqdm bar on stderr (``progress`` True) or a per-seed line to a callable."""
    if callable(progress):

        class _Lines:
            i = 0

            def update(self, n: int = 1) -> None:
                self.i += n
                progress(f"{study}: seed {self.i} of {total}")

            def close(self) -> None:
                pass

        return _Lines()
    from tqdm import tqdm

    return tqdm(total=total, desc=study, unit="seed", file=sys.stderr, disable=not progress)


def run_seeds(
    study: str,
    seeds: Sequence[int] | str,
    *,
    progress: bool | Callable[[str], None] = False,
    n_patients: int | None = None,
) -> pl.DataFrame:
    """Reproduce ``study`` on each seed: one row per seed and published figure.

    Columns: ``seed``, ``figure``, ``reproduced``, ``within_tolerance`` (that seed's verdict).
    """
    from recurct.studies import get

    mod = get(study)
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else [int(s) for s in seeds]
    frames = []
    bar = _progress(len(seeds), study, progress)
    try:
        for s in seeds:
            rep = mod.reproduce(seed=s, n_patients=n_patients)
            frames.append(
                rep.table.select(
                    pl.lit(s, dtype=pl.Int64).alias("seed"),
                    "figure",
                    "reproduced",
                    "within_tolerance",
                )
            )
            bar.update(1)
    finally:
        bar.close()
    return pl.concat(frames)


SUMMARY_SCHEMA: dict[str, Any] = {
    "figure": pl.Utf8,
    "description": pl.Utf8,
    "kind": pl.Utf8,
    "unit": pl.Utf8,
    "published": pl.Float64,
    "n_seeds": pl.Int64,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "q_lo": pl.Float64,
    "q_hi": pl.Float64,
    "share_within": pl.Float64,
    "mean_tolerance": pl.Float64,
    "mean_within": pl.Boolean,
    "comparison": pl.Utf8,
    "range_lo": pl.Float64,
    "range_hi": pl.Float64,
    "status": pl.Utf8,
    "counted": pl.Boolean,
    "evidence": pl.Utf8,
    "note": pl.Utf8,
}


def summarise(study: str, runs: pl.DataFrame, *, n_patients: int | None = None) -> pl.DataFrame:
    """Per published figure: ``mean``, ``sd``, the range ``q_lo`` .. ``q_hi`` of these seeds
    (:func:`central_range`: their central 95% range; with 40 seeds or fewer their smallest
    and largest value), ``share_within`` (share of seeds within that seed's tolerance) and the
    verdict on the mean, ``mean_within``.

    For a sample extreme: ``range_lo`` .. ``range_hi``, the model's central 95% range stored in
    the profile (``share_within`` is the share of seeds whose value lies in it), and
    ``mean_within`` whether the published value lies in the range ``q_lo`` .. ``q_hi`` of these
    seeds, from :data:`MIN_SEEDS` seeds on (null with fewer). Neither is counted
    (:func:`~recurct.studies._figures.counted`).

    The mean of k seeds is judged as one seed is, with the sampling SD of a mean:
    ``|mean - published| <= half the rounding unit + the calibration tolerance +
    z x SD / sqrt(k)`` (``mean_tolerance``; the rounding once where the calibration tolerance
    is the rounding allowance), where z is the family-wise
    :func:`~recurct.studies._figures.family_z` of one run and SD the figure's sampling SD of
    one cohort at its upper 95% confidence bound (:func:`~recurct.studies._figures.sd_upper`):
    from the profile's validation record (times ``sqrt(N / n_patients)`` on a reduced
    cohort), else from these seeds (from two seeds on). A model whose expectations equal the
    published values then passes every mean with probability >= 95% on any set of seeds; the
    sampling part shrinks as seeds are added, so the mean of many seeds tests the calibration
    itself. A calibration target the fit did not meet is missed (``mean_within`` false,
    ``status`` ``"target not met"``) on any seeds; a tolerance interval that reaches past a
    bound of the values the figure can take is ``"uninformative"`` (no verdict;
    :func:`~recurct.studies._figures.uninformative_reason`). ``counted``: as in one run
    (generated rows but the extremes; a derived row whose source has no verdict).
    """
    from recurct.studies import get

    mod = get(study)
    cal = calibration_tolerances(study)
    record = validation_record(study)
    fit = calibration_record(study)
    fitted = fitted_targets(fit)
    unmet = unmet_targets(fit)
    stored = record.get("figures", {})
    n_val = record.get("n_seeds")
    z = run_z(mod.PUBLISHED)
    scale = sd_scale(record, n_patients)
    rows: dict[str, dict[str, Any]] = {}
    for key, fig in mod.PUBLISHED.items():
        sub = runs.filter(pl.col("figure") == key)
        vals = sub["reproduced"].drop_nulls().to_numpy()
        verdicts = sub["within_tolerance"].drop_nulls()
        row: dict[str, Any] = dict.fromkeys(SUMMARY_SCHEMA)
        row.update(
            figure=key, description=fig.description, kind=fig.kind, unit=fig.unit,
            published=float(fig.value), n_seeds=int(vals.size), comparison=fig.compare,
            note=fig.note or None,
        )  # fmt: skip
        if fig.kind in ("generated", "derived"):
            row["evidence"] = CALIBRATION_TARGET if fig.target in fitted else INDEPENDENT
        if vals.size:
            row["mean"] = float(vals.mean())
            row["sd"] = float(vals.std(ddof=1)) if vals.size > 1 else None
            row["q_lo"], row["q_hi"] = central_range(vals)
        if verdicts.len():
            row["share_within"] = float(verdicts.cast(pl.Float64).mean())  # type: ignore[arg-type]
        half = 0.5 * fig.rounding if fig.rounding else 0.0
        if fig.compare == "extreme":
            if "q_lo" in stored.get(key, {}):
                row["range_lo"], row["range_hi"] = stored[key]["q_lo"], stored[key]["q_hi"]
            if vals.size >= MIN_SEEDS:
                row["mean_within"] = row["q_lo"] - half <= fig.value <= row["q_hi"] + half
        elif vals.size and fig.compare not in ("not_reproduced", "restated") and verdicts.len():
            sd = stored.get(key, {}).get("sd")
            if sd is not None:
                sd = sd_upper(float(sd), n_val) * scale
            elif row["sd"] is not None:
                sd = sd_upper(row["sd"], int(vals.size))
            row.update(_mean_verdict(fig, row["mean"], int(vals.size), _cal_of(cal, fig), sd, z))
        if fig.target in unmet and fig.compare in SAMPLED and vals.size:
            row.update(mean_within=False, status="target not met")
            reason = unmet_reason(fig, unmet[fig.target], _cal_of(cal, fig), stored.get(key, {}))
            row["note"] = reason
        row["counted"] = bool(
            row["mean_within"] is not None and fig.kind == "generated" and fig.compare != "extreme"
        )
        rows[key] = row
    for key, fig in mod.PUBLISHED.items():
        src = rows.get(fig.derived_from) if fig.kind == "derived" else None
        if src is not None and src["mean_within"] is None:
            rows[key]["counted"] = rows[key]["mean_within"] is not None
    return pl.DataFrame(list(rows.values()), schema=SUMMARY_SCHEMA, orient="row")


def _cal_of(cal: dict[str, float], fig: Published) -> float | None:
    """The calibration tolerance of ``fig`` in its unit (None without one, or for a figure
    not compared with a sampling tolerance)."""
    c = cal.get(fig.target) if fig.target and fig.compare in SAMPLED else None
    return None if c is None else c * fig.target_scale


def _mean_verdict(
    fig: Published, mean: float, k: int, cal: float | None, sd: float | None, z: float
) -> dict[str, Any]:
    """``mean_tolerance``, ``mean_within`` and ``status`` of the mean of ``k`` seeds (the
    sampling part ``z x sd / sqrt(k)`` for generated and derived figures compared by a
    sampling tolerance)."""
    if not (fig.compare in SAMPLED and fig.kind in ("generated", "derived")):
        sd = None
    parts = tolerance_parts(fig, cal, None if sd is None else sd / math.sqrt(k), z)
    tol = 0.0 if parts is None else parts.total
    slack = 1e-9 * max(abs(fig.value), abs(mean), 1.0)
    if fig.compare == "at_most":
        within: bool | None = mean <= fig.value + tol + slack
    else:
        within = abs(mean - fig.value) <= tol + slack
    # no n_patients here: a mean over k seeds rests on k cohorts' events, so the rule of at
    # least 10 expected patients with the event (one cohort's verdict) does not apply to it;
    # the feasible-range rule does
    if uninformative(fig, tol):
        return {"mean_tolerance": tol, "mean_within": None, "status": "uninformative"}
    return {"mean_tolerance": tol, "mean_within": within, "status": "compared"}


@dataclass
class SeedRuns:
    """A study reproduced on several seeds (``recurct reproduce STUDY --seeds N``).

    Attributes
    ----------
    study : str
    seeds : list of int
    table : polars.DataFrame
        :func:`summarise`'s table, one row per published figure.
    runs : polars.DataFrame
        :func:`run_seeds`'s long table (seed, figure, reproduced, within_tolerance).
    """

    study: str
    seeds: list[int]
    table: pl.DataFrame
    runs: pl.DataFrame

    @property
    def ok(self) -> bool:
        """Every counted figure's mean within tolerance (``generated`` rows but the sample
        extremes, and derived rows whose source has no verdict); design, aggregate, other
        derived rows and extremes do not count."""
        gen = self.table.filter(counted() & pl.col("mean_within").is_not_null())
        return bool(gen["mean_within"].all())

    def n_ok_seeds(self) -> int:
        """On how many seeds every counted figure was within its tolerance (a calibration
        target the fit did not meet is missed on every seed)."""
        keys = self.table.filter(counted())["figure"].to_list()
        per_seed = (
            self.runs.filter(
                pl.col("figure").is_in(keys) & pl.col("within_tolerance").is_not_null()
            )
            .group_by("seed")
            .agg(pl.col("within_tolerance").all())
        )
        return int(per_seed["within_tolerance"].sum())

    @property
    def fit_seeds(self) -> tuple[int, ...]:
        """The seeds the study's profile was fitted on."""
        return fit_seeds(calibration_record(self.study))

    @property
    def validation_seeds(self) -> tuple[int, ...]:
        """The seeds of the profile's validation record (its stored ranges and SDs)."""
        return validation_seeds(validation_record(self.study))

    def headline(self) -> str:
        """E.g. ``rehani2020 over 20 seeds (1000-1019): 5 of 5 calibration targets' means
        within tolerance (...); ...; all counted figures within tolerance on 19 of 20
        seeds``, and which seeds were seeds the profile was fitted on (``in-sample: ...``)
        or seeds of its validation record (``validation seeds: ...``)."""
        n = len(self.seeds)
        head = headline_counts(
            self.table,
            "mean_within",
            f"with the published value in the seeds' {_range_name(n)}",
            means=True,
        )
        said = [
            in_sample_text(self.seeds, self.fit_seeds),
            validation_seeds_text(self.seeds, self.validation_seeds),
        ]
        return (
            f"{self.study} over {_n_seeds(n)} ({_seed_text(self.seeds)}): {head}; "
            + "".join(f"{text}; " for text in said if text)
            + f"all counted figures within tolerance on {self.n_ok_seeds()} of {_n_seeds(n)}"
        )

    def summary(self) -> str:
        """The headline and the legend of the table (what its range columns are)."""
        lines = [self.headline()]
        n = len(self.seeds)
        if _range_name(n) == "min–max":
            new_seed = (
                f"a new seed of a correct model lies in it with probability {n - 1}/{n + 1}, "
                f"about {100 * extreme_coverage(n):.0f}%; "
                if n > 1
                else ""
            )
            lines.append(
                f"min–max: the smallest and largest value over these seeds ({new_seed}a "
                "central 95% range from 41 seeds on)."
            )
        if self.table.filter(pl.col("comparison") == "extreme").height:
            rate = _extremes_rate(self.study) or "."
            lines.append(
                "Sample extremes are not counted. val. 95%: as stored in the profile, the "
                f"model's central 95% range\nover the validation seeds{rate}\nseeds ok: the "
                "share of these seeds whose value lies in it; ok: the published value in the\n"
                f"seeds' {_range_name(n)} range (from {MIN_SEEDS} seeds on)."
            )
        for r in self.table.filter(pl.col("status") == "target not met").iter_rows(named=True):
            lines.append(f"{r['figure']}: {r['note']}")
        return "\n".join(lines)

    def _rows(self) -> tuple[list[str], list[list[str]]]:
        spread = _range_name(len(self.seeds))
        header = ["figure", "kind", "unit", "published", "mean", "SD", spread,
                  "seeds ok", "mean tol.", "ok"]  # fmt: skip
        rows = []
        for r in self.table.iter_rows(named=True):
            extreme = r["comparison"] == "extreme"
            rng = "" if r["q_lo"] is None else f"{fmt(r['q_lo'])}–{fmt(r['q_hi'])}"
            share = "" if r["share_within"] is None else f"{100 * r['share_within']:.0f}%"
            published = published_text(r["published"])
            mean, tol = fmt(r["mean"]), ""
            if r["mean_tolerance"] is not None and r["mean"] is not None:
                verdict = r["mean_within"] if r["status"] == "compared" else None
                mean, tol = readable(
                    [r["mean"], r["mean_tolerance"]],
                    verdict,
                    within_printed(r["comparison"], published),
                    [4, 3],
                )
                tol = "±" + tol
            if r["status"] == "uninformative":
                tol = f"uninformative ({tol})"
            elif r["status"] == "target not met":
                tol = "target not met"
            if extreme and r["range_lo"] is not None:
                tol = f"val. 95%: {fmt(r['range_lo'])}–{fmt(r['range_hi'])}"
            ok = ok_text(r["mean_within"], extreme)
            rows.append([r["description"], kind_label(r), r["unit"], published,
                         mean, fmt(r["sd"], 3), rng, share, tol, ok])  # fmt: skip
        return header, rows

    def to_text(self) -> str:
        """The per-figure summary as fixed-width text."""
        header, rows = self._rows()
        return grid(header, rows, {3, 4, 5, 6, 7, 8})

    def to_markdown(self) -> str:
        """The per-figure summary as Markdown."""
        return markdown_table(*self._rows())


def _extremes_rate(study: str) -> str:
    """What the legend of one run says of the stored range of the extremes after naming it
    (:func:`~recurct.studies._reproduction.extremes_note`: which values it runs between and
    how often a seed falls outside it, from the study's own record on other seeds where it is
    still valid, else for a seed exchangeable with the validation seeds), from a newline; ""
    without a validation record."""
    from recurct.studies import get
    from recurct.studies._reproduction import extremes_note
    from recurct.studies._run import _still_valid

    record = validation_record(study)
    checked = _still_valid(getattr(get(study), "EXTREMES_ON_NEW_SEEDS", None), record)
    # the note's first sentence names the columns of one run's table; the rest is kept
    first = extremes_note(None)[: -len(".")]
    note = extremes_note(record.get("n_seeds"), checked)
    return note.removeprefix(first) if note != first + "." else ""


def _n_seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _seed_text(seeds: Sequence[int]) -> str:
    s = list(seeds)
    if s == list(range(s[0], s[0] + len(s))):
        return f"{s[0]}-{s[-1]}" if len(s) > 1 else str(s[0])
    return ",".join(map(str, s))


def reproduce_seeds(
    study: str,
    seeds: Sequence[int] | str,
    *,
    progress: bool | Callable[[str], None] = False,
    n_patients: int | None = None,
) -> SeedRuns:
    """Reproduce ``study`` on ``seeds`` (a list, or ``"20"``, ``"100-119"``) and summarise."""
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else [int(s) for s in seeds]
    runs = run_seeds(study, seeds, progress=progress, n_patients=n_patients)
    table = summarise(study, runs, n_patients=n_patients)
    return SeedRuns(study=study, seeds=seeds, table=table, runs=runs)


def validate(
    study: str,
    seeds: Sequence[int] | str = "1000-1099",
    *,
    write: bool = False,
    progress: bool | Callable[[str], None] = False,
) -> dict[str, Any]:
    """Run ``study`` at full scale on validation ``seeds`` and return (or ``write`` into the
    profile) the ``[calibration.validation]`` record.

    The seeds must be disjoint from the calibration's ``fit_seeds`` (the seeds of its
    objective) and number at least :data:`MIN_SEEDS`.
    """
    from recurct.studies import get
    from recurct.synthetic.calibration import write_profile
    from recurct.synthetic.model import PROFILE_DIR, load_profile

    mod = get(study)
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else [int(s) for s in seeds]
    if len(seeds) < MIN_SEEDS:
        raise ParameterError(f"validation needs at least {MIN_SEEDS} seeds, got {len(seeds)}")
    prof = load_profile(mod.PROFILE)
    cal = dict(prof.calibration or {})
    fit_seeds = [int(s) for s in cal.get("fit_seeds", [cal.get("seed", 0)])]
    if set(fit_seeds) & set(seeds):
        raise ParameterError(f"validation seeds overlap the fit seeds {fit_seeds}")
    runs = run_seeds(study, seeds, progress=progress)
    table = summarise(study, runs)
    figures: dict[str, dict[str, float]] = {}
    for r in table.iter_rows(named=True):
        if r["mean"] is None or r["kind"] in ("aggregate", "not_reproduced"):
            continue
        # full precision: a range end is one seed's value, which then lies in the range
        figures[r["figure"]] = {
            "mean": float(r["mean"]),
            "sd": float(r["sd"] or 0.0),
            "q_lo": float(r["q_lo"]),
            "q_hi": float(r["q_hi"]),
        }
    record: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "seeds": _seed_text(seeds),
        "n_seeds": len(seeds),
        "n_patients": prof.n_patients,
        "method": (
            "recurct.studies.validate: the study reproduced at full scale on each seed; per "
            "figure the mean, the SD (ddof 1) and the central 95% range (inverted-CDF 2.5% "
            "and 97.5% quantiles) over the seeds, at full precision"
        ),
        "figures": figures,
    }
    if write:
        cal.setdefault("fit_seeds", fit_seeds)
        cal["validation"] = record
        prof.calibration = cal
        write_profile(prof, PROFILE_DIR / f"{mod.PROFILE}.toml")
    return record


if __name__ == "__main__":  # pragma: no cover - the command is recurct.cli._maintenance
    from recurct.cli._maintenance import validate_main

    sys.exit(validate_main())

"""A synthetic cohort as a table (:func:`generate`) or Parquet files (:func:`write_cohort`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from recurct._compat import renamed
from recurct._outdir import output_folder
from recurct.schema import OPTIONAL_COLUMNS
from recurct.synthetic._simulate import iter_chunks, site_sizes
from recurct.synthetic.model import Profile, load_profile

__all__ = ["generate", "write_cohort"]

_WRITE = "use recurct.synthetic.write_cohort(profile, out, ...), which returns the folder"


@renamed(out=_WRITE, overwrite=_WRITE)
def generate(
    profile: str | Path | Profile,
    n_patients: int | Mapping[str, int] | None = None,
    seed: int = 0,
    *,
    progress: bool | None = None,
    chunk_patients: int = 1 << 20,
    threads: int = 1,
) -> pl.DataFrame:
    """Generate a synthetic exam cohort (canonical exam table) from a profile.

    Parameters
    ----------
    profile
        A shipped profile name (``"small"``, ``"rehani2020"``, ``"eurosafe2021"``,
        ``"sodickson2009"``), the path of a profile TOML file, or a :class:`Profile`.
    n_patients
        Total patients; default the profile's. Sites keep their proportions, and the first
        patients of each site are the same as in the full cohort. ``{facility: n}`` sets
        some sites' sizes (the others keep the profile's). With a profile ``[selection]``
        (``sodickson2009``: an exam in 2007 at age >= 18), these are *selected* patients:
        entrants are simulated until that many are selected, and patient ids number the
        selected patients 1, 2, ...
    seed
        Seed of the cohort: equal seeds give equal cohorts (whatever ``chunk_patients``).
    progress
        Show a tqdm bar; default: for 5 million patients or more on a terminal.
    chunk_patients
        Patients per chunk (memory: about 100 bytes per exam of a chunk).
    threads
        Chunks simulated at once (numpy releases the GIL in most of the work).

    Returns
    -------
    polars.DataFrame
        Columns ``patient_id`` (Int64), ``exam_date`` (Datetime us), ``effective_dose_msv``,
        ``dlp_mgycm``, ``body_region``, ``age_years`` (age at the exam), ``sex``,
        ``facility``, ``indication`` (the clinical group), sorted by patient and time.
        :func:`write_cohort` writes the same cohort to a folder, chunk by chunk.

    Examples
    --------
    >>> exams = generate("small", seed=1)
    >>> exams.columns[:3]
    ['patient_id', 'exam_date', 'effective_dose_msv']
    """
    prof = load_profile(profile)
    frames = list(_counted(prof, n_patients, seed, progress, chunk_patients, threads))
    if not frames:
        return _frame_empty()
    return pl.concat(frames, rechunk=False)


def write_cohort(
    profile: str | Path | Profile,
    out: str | Path | None = None,
    *,
    n_patients: int | Mapping[str, int] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool | None = None,
    chunk_patients: int = 1 << 20,
    threads: int = 1,
) -> Path:
    """Write a synthetic cohort as Parquet files, chunk by chunk (bounded memory).

    The cohort is the one :func:`generate` returns for the same profile, ``n_patients`` and
    ``seed``.

    Parameters
    ----------
    profile
        A shipped profile name, the path of a profile TOML file, or a :class:`Profile`.
    out
        The folder; None: ``data/synthetic/<profile>/``. It holds
        ``<facility>/part-NNNNN.parquet`` and is complete or absent: the files are written
        into a temporary sibling that is renamed on success, with a manifest
        (``recurct-manifest.json``: rows, parameters, version) written last; an interrupted
        run (error, Ctrl-C, SIGTERM) leaves nothing (:func:`recurct._outdir.output_folder`).
    n_patients, seed, progress, chunk_patients, threads
        As in :func:`generate`.
    overwrite
        Replace an existing non-empty folder whole. Without it such a folder raises
        :class:`recurct.errors.OutputExistsError` before any work (an old cohort is never
        mixed with a new one).

    Returns
    -------
    pathlib.Path
        The folder written.
    """
    prof = load_profile(profile)
    folder = Path("data/synthetic") / prof.name if out is None else Path(out)
    params = {
        "profile": prof.name,
        "n_patients": n_patients if not isinstance(n_patients, Mapping) else dict(n_patients),
        "seed": seed,
        "chunk_patients": chunk_patients,
    }
    given = [Path(profile)] if isinstance(profile, str | Path) and Path(profile).exists() else []
    with output_folder(
        folder, overwrite=overwrite, kind="synthetic", parameters=params, inputs=given
    ) as tmp:
        counters: dict[str, int] = {}
        for df in _counted(prof, n_patients, seed, progress, chunk_patients, threads):
            fac = df["facility"][0]
            k = counters.get(fac, 0)
            counters[fac] = k + 1
            name = f"{_safe(fac)}/part-{k:05d}.parquet"
            (tmp.path / _safe(fac)).mkdir(exist_ok=True)
            df.write_parquet(tmp.path / name)
            tmp.record(name, df.height)
            n_written = int(df["patient_id"].n_unique())  # a chunk holds whole patients
            tmp.parameters["patients"] = tmp.parameters.get("patients", 0) + n_written
    return folder


def _counted(
    prof: Profile,
    n_patients: int | Mapping[str, int] | None,
    seed: int,
    progress: bool | None,
    chunk_patients: int,
    threads: int,
) -> Iterator[pl.DataFrame]:
    """The cohort's chunks, the progress bar (if any) advanced by each chunk's patients."""
    total = sum(site_sizes(prof, n_patients))
    update = _progress_bar(progress, total, prof.name)
    for df in iter_chunks(prof, n_patients, seed, chunk_patients=chunk_patients, threads=threads):
        if update:
            update(int(df["patient_id"].n_unique()))
        yield df


def _progress_bar(progress: Any, total: int, name: str) -> Callable[[int], None] | None:
    if progress is None:
        progress = total >= 5_000_000 and sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="patients", unit_scale=True, desc=f"synth {name}")

    def update(k: int) -> None:
        bar.update(k)
        if bar.n >= total:
            bar.close()

    return update


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _frame_empty() -> pl.DataFrame:
    """The generator's exam table with no rows: the canonical dtypes of recurct.schema."""
    optional = ("dlp_mgycm", "body_region", "age_years", "sex", "facility", "indication")
    return pl.DataFrame(
        schema={
            "patient_id": pl.Int64,
            "exam_date": pl.Datetime("us"),
            "effective_dose_msv": pl.Float64,
            **{c: OPTIONAL_COLUMNS[c] for c in optional},
        }
    )

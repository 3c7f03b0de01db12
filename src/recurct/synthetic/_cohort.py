"""A synthetic cohort as a table (:func:`generate`) or Parquet files (:func:`write_cohort`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import polars as pl

from recurct import _checks
from recurct._compat import renamed
from recurct._outdir import OutputFolder, output_folder, writing
from recurct.errors import IncompleteOutputError, ParameterError
from recurct.schema import OPTIONAL_COLUMNS
from recurct.synthetic._simulate import iter_chunks, run_arguments, site_sizes
from recurct.synthetic.model import Profile, _check, load_profile

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
    progress = _checks.optional_flag(progress, "generate", "progress")
    prof = load_profile(profile)
    run_arguments(prof, n_patients, seed, chunk_patients, threads, "generate")  # before any work
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
        ``<facility>/part-NNNNN.parquet``, one folder per facility, and is complete or absent:
        the files are written into a temporary sibling that is renamed on success, with a
        manifest (``recurct-manifest.json``: rows, parameters, version) written last; an
        interrupted run (error, Ctrl-C, SIGTERM) leaves nothing
        (:func:`recurct._outdir.output_folder`). A facility's folder is its name with every
        character but letters, digits, ``-``, ``_`` and ``.`` (and a leading or trailing dot)
        replaced by ``_``, and ``-2``, ``-3`` ... added where two facilities would share one
        (``"A/B"`` and ``"A_B"``: ``A_B`` and ``A_B-2``); the manifest's ``parameters``
        give the mapping (``folders``) and the number of exams (``exams``), which the files
        hold to the row, and identify the cohort: ``profile`` (its name), ``n_patients``,
        ``seed``, the resolved profile (``profile_definition``: ``params``, ``sites`` and
        ``selection`` as JSON, dates as ``YYYY-MM-DD``;
        ``recurct.synthetic.model.profile_from_dict(profile, profile_definition)`` rebuilds
        it, and :func:`generate` with it, ``n_patients`` and ``seed`` gives the same rows),
        its SHA-256 (``profile_sha256``) and the profile file read (``profile_file``; null
        for a shipped name or a :class:`Profile`). A cohort of no patients
        (``n_patients=0``) is one Parquet file of no rows, with the canonical columns, in the
        first facility's folder, so that it reads back as 0 rows.
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

    Raises
    ------
    ParameterError
        A bad profile or argument, before any work.
    OutputExistsError
        ``out`` holds files (without ``overwrite``), or cannot be replaced.
    IncompleteOutputError
        A file could not be written (a full disk, a file size limit): the message names the
        file and the reason; nothing is left (neither the folder nor the parent folders
        this call created).
    """
    progress = _checks.optional_flag(progress, "write_cohort", "progress")
    overwrite = _checks.flag(overwrite, "write_cohort", "overwrite")
    prof = load_profile(profile)
    _check(prof)  # before the folder is opened: a bad profile leaves nothing behind
    run_arguments(prof, n_patients, seed, chunk_patients, threads, "write_cohort")
    if out is not None and not isinstance(out, str | PathLike):
        raise ParameterError(f"write_cohort: out must be None or the path of a folder, got {out!r}")
    folder = Path("data/synthetic") / prof.name if out is None else Path(out)
    folders = _folder_names([s["facility"] for s in prof.sites])
    # a profile file is an input (a shipped profile's name, or a folder named so, is not)
    named = isinstance(profile, str | PathLike) and Path(profile).suffix != ""
    given = [Path(profile)] if named and Path(profile).exists() else []
    definition = _definition(prof)
    params = {
        "profile": prof.name,
        "n_patients": n_patients if not isinstance(n_patients, Mapping) else dict(n_patients),
        "seed": seed,
        "chunk_patients": chunk_patients,
        "folders": folders,
        "profile_file": str(given[0].resolve()) if given else None,
        "profile_sha256": _sha256(definition),
        "profile_definition": definition,
    }
    with output_folder(
        folder,
        overwrite=overwrite,
        kind="synthetic",
        parameters=params,
        inputs=given,
        fn="write_cohort",
    ) as tmp:
        _write_chunks(tmp, prof, folders, n_patients, seed, progress, chunk_patients, threads)
    return folder


def _write_chunks(
    tmp: OutputFolder,
    prof: Profile,
    folders: dict[str, str],
    n_patients: int | Mapping[str, int] | None,
    seed: int,
    progress: bool | None,
    chunk_patients: int,
    threads: int,
) -> None:
    """Write the cohort's chunks under ``tmp.path`` and count them in its parameters."""
    counters: dict[str, int] = {}
    exams = 0
    for df in _counted(prof, n_patients, seed, progress, chunk_patients, threads):
        fac = df["facility"][0]
        k = counters.get(fac, 0)
        counters[fac] = k + 1
        _write_part(tmp, f"{folders[fac]}/part-{k:05d}.parquet", df)
        exams += df.height
        n_written = int(df["patient_id"].n_unique())  # a chunk holds whole patients
        tmp.parameters["patients"] = tmp.parameters.get("patients", 0) + n_written
    if not counters:  # no patient: one file of no rows, so that the folder reads back
        _write_part(tmp, f"{next(iter(folders.values()))}/part-00000.parquet", _frame_empty())
        tmp.parameters["patients"] = 0
    # every exam generated is in exactly one listed file, and nothing else is there
    on_disk = {f.relative_to(tmp.path).as_posix() for f in tmp.path.rglob("*") if f.is_file()}
    if on_disk != set(tmp.rows) or sum(tmp.rows.values()) != exams:
        raise IncompleteOutputError(  # pragma: no cover - a defence in depth
            f"write_cohort: the files hold {sum(tmp.rows.values()):,} of the {exams:,} "
            "exams generated; nothing was written"
        )
    tmp.parameters["exams"] = exams


def _write_part(tmp: OutputFolder, name: str, df: pl.DataFrame) -> None:
    """Write ``df`` to ``name`` (``<facility folder>/part-NNNNN.parquet``) under the temporary
    folder; a failed write raises IncompleteOutputError naming the file and the reason."""
    path = tmp.path / name
    if name in tmp.rows or path.exists() or path.parent.parent != tmp.path:
        raise IncompleteOutputError(  # pragma: no cover - folder names are injective
            f"write_cohort: {name} would replace or leave the cohort's folder"
        )
    with writing(tmp, name) as part:
        part.parent.mkdir(exist_ok=True)
        df.write_parquet(part)
    tmp.record(name, df.height)


def _definition(profile: Profile) -> dict[str, Any]:
    """The resolved profile as JSON values: ``params``, ``sites`` and ``selection`` (dates as
    ``YYYY-MM-DD`` text, numpy numbers as Python numbers), as the manifest of
    :func:`write_cohort` stores it; ``profile_from_dict(name, definition)`` rebuilds it."""
    return {
        "params": _jsonable(profile.params),
        "sites": _jsonable(profile.sites),
        "selection": _jsonable(profile.selection),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):  # a datetime too: ISO text with its time
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # a numpy scalar
        return value.item()
    return value


def _sha256(definition: dict[str, Any]) -> str:
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


_NAME_BYTES = 120  # a folder name well below the 255 bytes of common file systems
# names Windows reserves for devices, with or without an extension ("CON", "nul.txt")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))}


def _folder_names(facilities: list[str]) -> dict[str, str]:
    """A folder name for each facility: injective (two facilities never share a folder, also
    on a case-insensitive file system) and safe (never empty, never starting with a dot, no
    path separator: the folder always lies inside the cohort's folder). The name is the
    facility's with every character but letters, digits, ``-``, ``_`` and ``.`` replaced by
    ``_`` (``"USA-1"`` stays ``USA-1``), and a leading or trailing dot too; a name Windows
    reserves for a device (``CON``, ``NUL``, ``COM1``, ...) gets a leading ``_``; a name taken
    by an earlier facility gets ``-2``, ``-3`` ... The mapping is in the manifest's
    ``parameters.folders``."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for fac in facilities:
        base = _safe(fac)
        while len(base.encode("utf-8")) > _NAME_BYTES:
            base = base[:-1]
        if base.startswith("."):  # hidden, or "." / ".."
            base = "_" + base[1:]
        if base.endswith("."):  # a trailing dot is dropped on Windows
            base = base[:-1] + "_"
        base = base or "_"
        if base.split(".")[0].upper() in _RESERVED:  # a device on Windows, not a folder
            base = "_" + base
        name, k = base, 1
        while name.casefold() in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name.casefold())
        out[fac] = name
    return out


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

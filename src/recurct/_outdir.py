"""Output folders that are complete or absent.

Every command or function that writes a folder of results (``synthetic.write_cohort``,
``recurct synth``, ``outofcore.write_patients``, ``Reproduction.save``, ``recurct reproduce
--out``) writes through
:func:`output_folder`:

1. an existing target that holds anything is refused before any work starts (callers whose
   work comes before the folder is opened call :func:`check_target` first), unless
   ``overwrite=True``, which replaces it *whole* (nothing old is left beside the new); a
   target that holds the run's input, the working folder or the home folder is refused even
   then (replacing it would delete the input or the user's files);
2. the files are written into a temporary sibling folder (``.<name>.recurct-tmp-...`` next to
   the target), so the target never holds a half-written result;
3. on success a manifest, ``recurct-manifest.json`` (the version of recurct, what wrote the
   folder and with which parameters, and each file with its size and, for Parquet, its row
   count), is written last, and the temporary folder is renamed to the target;
4. on any exception, Ctrl-C (KeyboardInterrupt) or SIGTERM the temporary folder is removed
   and the target is left as it was.

Readers of such folders call :func:`check_output`, or :func:`check_tree` for everything below a
folder (``recurct.outofcore.scan_exams`` does): a folder with a manifest must hold exactly the
files it lists, with their sizes, and a temporary folder of an unfinished run is refused. A
folder without a manifest is someone else's data and is read as it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recurct.errors import IncompleteOutputError, OutputExistsError

__all__ = [
    "MANIFEST",
    "IncompleteOutputError",
    "OutputExistsError",
    "OutputFolder",
    "atomic_file",
    "check_files",
    "check_output",
    "check_target",
    "check_tree",
    "foreign_files",
    "note_input",
    "output_folder",
    "terminate_as_exit",
]

MANIFEST = "recurct-manifest.json"
"""Name of the manifest file, written last into every output folder."""

_TMP_MARK = ".recurct-tmp-"


@dataclass
class OutputFolder:
    """The folder being written: write files under :attr:`path` (a temporary folder)."""

    path: Path
    target: Path
    kind: str
    parameters: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def record(self, relative: str | os.PathLike[str], rows: int) -> None:
        """Note the row count of a file that is not Parquet (Parquet files are counted)."""
        self.rows[Path(relative).as_posix()] = int(rows)


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Within the block, SIGTERM raises ``SystemExit(143)`` so that ``finally`` clauses and
    context managers clean up (the default action kills the process on the spot). Only in the
    main thread; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_empty(path: Path) -> bool:
    return not any(path.iterdir())


_INPUTS: set[Path] = set()


def note_input(path: str | os.PathLike[str]) -> None:
    """Note a file or folder this process reads (e.g. the CLI's ``--exams``): no output folder
    that holds it is replaced, even with ``overwrite=True``, for the rest of the process."""
    _INPUTS.add(Path(path).absolute())


def _guard(target: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse to replace a folder that holds an input of the run (given, or noted with
    :func:`note_input`), the working folder or the home folder (``overwrite=True`` would
    delete them)."""
    where = target.resolve()
    kept = [(Path(p), "the input") for p in [*inputs, *sorted(_INPUTS)]]
    kept += [(Path.cwd(), "the working folder"), (Path.home(), "the home folder")]
    for path, what in kept:
        try:
            inside = path.resolve()
        except (OSError, RuntimeError):  # pragma: no cover - unresolvable: cannot be inside
            continue
        if inside == where or where in inside.parents:
            raise OutputExistsError(
                f"{target} holds {what} ({path}): overwrite=True would delete it; write the "
                "result to another folder"
            )


def _parquet_rows(path: Path) -> int:
    import polars as pl

    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _write_manifest(folder: OutputFolder) -> None:
    from recurct._version import __version__

    files = {}
    total = 0
    for f in sorted(p for p in folder.path.rglob("*") if p.is_file()):
        rel = f.relative_to(folder.path).as_posix()
        entry: dict[str, Any] = {"bytes": f.stat().st_size}
        rows = folder.rows.get(rel)
        if rows is None and f.suffix == ".parquet":
            rows = _parquet_rows(f)
        if rows is not None:
            entry["rows"] = rows
            total += rows
        files[rel] = entry
    manifest = {
        "recurct_version": __version__,
        "kind": folder.kind,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": folder.parameters,
        "rows": total,
        "files": files,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
    tmp = folder.path / (MANIFEST + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.rename(folder.path / MANIFEST)


@contextlib.contextmanager
def output_folder(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    kind: str,
    parameters: Mapping[str, Any] | None = None,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[OutputFolder]:
    """Write a folder that is complete or absent (see the module docstring).

    Parameters
    ----------
    target : path
        The folder to create. Its parent is created if needed.
    overwrite : bool
        Replace an existing non-empty ``target`` whole; otherwise it raises
        :class:`OutputExistsError` before the block runs.
    kind : str
        What writes the folder (``"synthetic"``, ``"patients"``, ``"reproduce"``), in the
        manifest.
    parameters : mapping, optional
        Parameters of the run, in the manifest (JSON; other values as text).
    inputs : iterable of paths, optional
        Files or folders the run reads: a ``target`` that holds one of them (or the working
        or home folder) is refused even with ``overwrite=True``.

    Yields
    ------
    OutputFolder
        Write files under ``.path``; optionally ``.record(name, rows)`` for non-Parquet files.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> root = Path(tempfile.mkdtemp())
    >>> with output_folder(root / "res", kind="example") as out:
    ...     pl.DataFrame({"a": [1, 2]}).write_parquet(out.path / "a.parquet")
    >>> sorted(p.name for p in (root / "res").iterdir())
    ['a.parquet', 'recurct-manifest.json']
    >>> check_output(root / "res")["rows"]
    2
    """
    target = Path(target)
    check_target(target, overwrite=overwrite, inputs=inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    folder = OutputFolder(path=tmp, target=target, kind=kind, parameters=dict(parameters or {}))
    try:
        with terminate_as_exit():
            yield folder
            _write_manifest(folder)
            _replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Write one file that is, at every moment, the old file (or absent) or the complete new
    one: the block writes the path it is given (a temporary file ``.<name>.recurct-tmp-...``
    beside ``target``, with the same extension), which is flushed to disk and renamed onto
    ``target`` when the block ends without error. On any exception, Ctrl-C or SIGTERM the
    temporary file is removed and ``target`` is left as it was. The folder of ``target`` is
    created if needed; a ``target`` that is a symbolic link has the file it points to
    replaced (the link is kept).

    Raises
    ------
    OutputExistsError
        ``target`` is a folder, or (with ``overwrite=False``) an existing file.
    """
    target = Path(target)
    if target.is_symlink():
        target = target.resolve()
    if target.is_dir():
        raise OutputExistsError(f"{target} is a folder: give the path of a file")
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{target} exists: choose another file name, or pass overwrite=True to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / (
        f".{target.stem}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{target.suffix}"
    )
    try:
        with terminate_as_exit():
            yield tmp
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if not overwrite and target.exists():
                raise OutputExistsError(f"{target} was created meanwhile: it is kept")
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def check_target(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Refuse a ``target`` that :func:`output_folder` would refuse, without writing anything:
    call it before the work whose result goes there, so that an unusable folder is refused
    before any work starts.

    Raises
    ------
    OutputExistsError
        ``target`` is a file (or anything but a folder), or a non-empty folder without
        ``overwrite``, or (with ``overwrite``) a folder that holds an input, the working
        folder or the home folder.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputExistsError(
            f"{target} exists and is not a folder: give the path of a new or empty folder "
            "(overwrite replaces a folder, never a file)"
        )
    if target.is_dir() and not _is_empty(target):
        if not overwrite:
            raise OutputExistsError(
                f"{target} already holds files: choose a new folder, or pass overwrite=True "
                "(--overwrite) to replace it whole"
            )
        _guard(target, inputs)


def foreign_files(folder: str | os.PathLike[str]) -> list[str] | None:
    """What in a recurct output folder its manifest does not account for: files it does not
    list, listed files whose size changed (``"name (changed)"``), and folders that hold no
    listed file (``"name/"``); ``[]`` when the folder holds nothing but what recurct wrote
    (a listed file that is missing is not foreign: replacing the folder loses nothing of the
    user's). None for a folder without a (readable) manifest.

    Replacing a folder whole deletes everything in it: a caller that refreshes its own
    earlier result replaces it only when this is ``[]``.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files: dict[str, Any] = manifest["files"]
        sizes = {str(name): int(entry["bytes"]) for name, entry in files.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    parents = {p.as_posix() for name in sizes for p in Path(name).parents}
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            out.append(rel)
        elif p.is_dir():
            if rel not in parents and not any(q.is_file() for q in p.rglob("*")):
                out.append(rel + "/")  # an empty folder someone added
        elif rel == MANIFEST:
            continue
        elif rel not in sizes:
            out.append(rel)
        elif p.stat().st_size != sizes[rel]:
            out.append(f"{rel} (changed)")
    return out


def _replace(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing target is moved aside first and removed
    after, so that the target is at every moment either the old or the new folder."""
    if target.is_dir() and _is_empty(target):
        target.rmdir()
    if not target.exists():
        tmp.rename(target)
        return
    trash = target.parent / f".{target.name}{_TMP_MARK}old-{uuid.uuid4().hex[:8]}"
    target.rename(trash)
    try:
        tmp.rename(target)
    except BaseException:
        trash.rename(target)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def check_tree(folder: str | os.PathLike[str]) -> None:
    """Check every recurct output folder below ``folder`` (each manifest found) and refuse a
    temporary folder of an unfinished or killed run (``.<name>.recurct-tmp-...``), whose files
    would otherwise be read as data.

    Raises
    ------
    IncompleteOutputError
    """
    folder = Path(folder)
    for tmp in folder.rglob(f"*{_TMP_MARK}*"):
        if tmp.is_dir():
            raise IncompleteOutputError(
                f"{tmp} is the temporary folder of an unfinished (or killed) recurct run: wait "
                "for the run to end, or remove the folder"
            )
    for manifest in folder.rglob(MANIFEST):
        check_output(manifest.parent)


def check_files(files: Iterable[str | os.PathLike[str]]) -> None:
    """Check the recurct output folder each file lies in (the nearest folder above it with a
    manifest), and refuse a file inside the temporary folder of an unfinished run, so that a
    file or glob read is checked as a folder read is (:func:`check_tree`).

    Raises
    ------
    IncompleteOutputError
    """
    seen: set[Path] = set()  # folders looked at (checked, or without a manifest)
    for f in files:
        path = Path(f).absolute()
        for parent in path.parents:
            if _TMP_MARK in parent.name:
                raise IncompleteOutputError(
                    f"{f} lies in {parent}, the temporary folder of an unfinished (or killed) "
                    "recurct run: wait for the run to end, or remove the folder"
                )
            if parent in seen:
                break  # this folder and those above it were looked at for an earlier file
            seen.add(parent)
            if (parent / MANIFEST).is_file():
                check_output(parent)
                break


def check_output(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Check a folder against its manifest; the manifest, or None if it has none.

    Raises
    ------
    IncompleteOutputError
        A listed file is missing or has another size, or a file is not listed (e.g. stale
        parts from an older run, or a part cut short).
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files: dict[str, Any] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IncompleteOutputError(f"{path}: unreadable manifest ({exc})") from exc
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    missing = sorted(set(files) - present)
    extra = sorted(present - set(files))
    resized = sorted(
        f for f in set(files) & present if (folder / f).stat().st_size != files[f]["bytes"]
    )
    if missing or extra or resized:
        parts = []
        for what, names in (("missing", missing), ("not listed", extra), ("resized", resized)):
            if names:
                parts.append(f"{what}: {', '.join(names[:5])}" + (" ..." if len(names) > 5 else ""))
        raise IncompleteOutputError(
            f"{folder} does not match its manifest ({'; '.join(parts)}): the folder was changed "
            "after recurct wrote it; write it again"
        )
    return manifest

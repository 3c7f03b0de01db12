"""Output folders that are complete or absent.

Every command or function that writes a folder of results (``synthetic.write_cohort``,
``recurct synth``, ``outofcore.write_patients``, ``Reproduction.save``, ``recurct reproduce
--out``) writes through
:func:`output_folder`:

1. an existing target that holds anything is refused before any work starts (callers whose
   work comes before the folder is opened call :func:`check_target` first), unless
   ``overwrite=True``, which replaces it *whole* (nothing old is left beside the new); a
   target that holds the working folder or the home folder is refused even then (replacing it
   would delete the user's files), and so is the working folder itself (``.``), even empty
   (replacing it would leave the shell in a deleted folder); a target that is a symbolic link
   is refused (write to the folder it points to, by its own path); a target that is, holds
   or lies inside an input of the run (:func:`check_inputs`) is always refused, whatever
   ``overwrite`` says (replacing it would delete the input; writing inside an input folder
   would change what is read: a recurct folder would no longer match its manifest); a
   target that cannot be created (a file in its path, a folder that is not writable) is
   refused with a message naming it;
2. the files are written into a temporary sibling folder (``.<name>.recurct-tmp-...`` next to
   the target), so the target never holds a half-written result;
3. on success a manifest, ``recurct-manifest.json`` (the version of recurct, what wrote the
   folder and with which parameters, and each file with its size, for Parquet its row
   count, and, for folders a command refreshes (``hashes=True``), its SHA-256), is written
   last, and the temporary folder is renamed to the
   target; without ``overwrite``, a target that someone else created meanwhile and that
   holds anything (or is not a folder) is kept as it is and :class:`OutputExistsError` is
   raised (an empty folder created meanwhile is replaced, as one that was there at the start
   would be);
4. on any exception, Ctrl-C (KeyboardInterrupt) or SIGTERM the temporary folder is removed
   and the target is left as it was, and so are the folders above it that the run created
   (those still empty). SIGTERM is caught only where it has its default action
   (:func:`terminate_as_exit`): an application that ignores it or handles it itself keeps
   its choice. Replacing a target that holds files (``overwrite=True``) moves the old folder
   aside (``.<name>.recurct-tmp-old-...``), renames the new one to the target, then removes
   the old one: a Ctrl-C or SIGTERM that arrives during the two renames takes effect once
   they are done (:func:`_signals_deferred`), so the target is then the complete new folder;
   one that arrives during the removal of the old folder (or before it starts) stops it, and
   the old folder is left beside the complete new one, with a
   :class:`~recurct.errors.RecurctWarning` naming it and saying that it is safe to remove
   (so is one that cannot be removed). An output folder is thus, at every moment, complete
   (the old one or the new one) or absent.

Readers of such folders call :func:`check_output`, or :func:`check_tree` for everything below a
folder (``recurct.outofcore.scan_exams`` does): a folder with a manifest must hold exactly the
files it lists, with their sizes, and a temporary folder of an unfinished run is refused. A
folder without a manifest is someone else's data and is read as it is. The old folder that a
replacement moved aside and an interrupted run left behind (``.<name>.recurct-tmp-old-...``)
is refused too, never read and never removed by a reader: the message says that it holds
the old output that ``overwrite=True`` replaced, and that once ``<name>`` has been checked
it is safe to remove (where ``<name>`` is absent, a run killed between the two renames: that
it holds the old output, to rename back to ``<name>``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import threading
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recurct._stacklevel import user_stacklevel
from recurct.errors import (
    IncompleteOutputError,
    OutputExistsError,
    ParameterError,
    RecurctError,
    RecurctWarning,
)

__all__ = [
    "MANIFEST",
    "IncompleteOutputError",
    "OutputExistsError",
    "OutputFolder",
    "atomic_file",
    "check_file_target",
    "check_files",
    "check_inputs",
    "check_output",
    "check_target",
    "check_tree",
    "foreign_files",
    "forget_inputs",
    "note_input",
    "output_folder",
    "terminate_as_exit",
    "write_failed",
    "writing",
]

MANIFEST = "recurct-manifest.json"
"""Name of the manifest file, written last into every output folder."""

_TMP_MARK = ".recurct-tmp-"
#: The mark of the old folder a replacement moved aside (:func:`_replace`), and its name.
_OLD_MARK = _TMP_MARK + "old-"
_OLD_NAME = re.compile(r"\.(?P<target>.+)" + re.escape(_OLD_MARK) + r"[0-9a-f]{8}")


@dataclass
class OutputFolder:
    """The folder being written: write files under :attr:`path` (a temporary folder)."""

    path: Path
    target: Path
    kind: str
    parameters: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    hashes: bool = False
    fn: str | None = None

    def record(self, relative: str | os.PathLike[str], rows: int) -> None:
        """Note the row count of a file that is not Parquet (Parquet files are counted)."""
        self.rows[Path(relative).as_posix()] = int(rows)


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Within the block, SIGTERM raises ``SystemExit(143)`` so that ``finally`` clauses and
    context managers clean up (the default action kills the process on the spot, leaving a
    half-written output behind).

    The handler is installed only where SIGTERM still has its default action (``SIG_DFL``,
    as in a plain script or the ``recurct`` command) and only in the main thread (Python
    runs signal handlers there); the previous one is restored when the block ends. An
    application that chose what SIGTERM does (``SIG_IGN``, or a handler of its own, e.g. a
    server's graceful shutdown) keeps its choice while recurct writes: the signal is
    ignored, or its handler runs, as the application asked, and an output folder is then
    complete or absent as far as that handler lets the write finish or raises. An enclosing
    block (``recurct.cli.main`` around an output it writes) has installed the handler
    already, and it is kept. Elsewhere (another thread, another action) a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield  # the application's own choice (or an enclosing block's handler): kept
        return

    def _raise(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: The signals that :func:`_signals_deferred` holds back (those present on this platform).
_DEFERRED = tuple(
    s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None
)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) and SIGTERM are noted, not acted on; when the block
    ends (however it ends), the previous handlers are restored and each signal noted is raised
    again, so that it takes effect then, as it would have: ``KeyboardInterrupt``, the
    ``SystemExit(143)`` of :func:`terminate_as_exit`, an application's own handler, or the
    default action. Both are raised again when both arrived, SIGTERM last, each even where
    the other's handler raises (a ``KeyboardInterrupt`` does not swallow a SIGTERM): the
    process ends as SIGTERM says (exit 143). For the steps that must not stop half-way
    (:func:`_replace`: the two renames; the removal of a failed run's temporary folder).

    Python runs signal handlers in the main thread whichever thread the signal reaches (a
    polars worker, say), so the handlers are swapped, not the signal mask. Only in the main
    thread (the only one where a handler can be set, and where a signal interrupts);
    elsewhere a no-op. A signal that is ignored (``SIG_IGN``), or whose handler was not set
    from Python, is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def _note(signum: int, frame: Any) -> None:
        if signum not in noted:
            noted.append(signum)

    previous: dict[int, Any] = {}
    try:
        for sig in _DEFERRED:
            handler = signal.getsignal(sig)
            if handler is None or handler is signal.SIG_IGN:
                continue
            previous[sig] = signal.signal(sig, _note)
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # acted on now, as its handler says; SIGTERM last, so that it ends the process
        _raise_each(sorted(noted, key=lambda s: s == getattr(signal, "SIGTERM", None)))


def _raise_each(signals: list[int]) -> None:
    """Raise each of ``signals`` in turn, the next one even where a handler raises (each in
    the ``finally`` of the one before): the last exception raised is the one that
    propagates."""
    if not signals:
        return
    try:
        signal.raise_signal(signals[0])
    finally:
        _raise_each(signals[1:])


def _is_empty(path: Path) -> bool:
    return not any(path.iterdir())


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and the folders above it that do not exist (``mkdir(parents=True)`` would
    create them), the deepest first."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_created(folders: list[Path]) -> None:
    """Remove the folders a failed run created (``_missing_folders``, the deepest first) as
    long as they are empty: a folder someone else wrote into meanwhile is kept."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            return


_INPUTS: set[Path] = set()


def forget_inputs() -> None:
    """Forget the inputs noted with :func:`note_input` (the end of a command: the next one
    in the same process, e.g. ``recurct.cli.main`` called from a notebook, has its own)."""
    _INPUTS.clear()


def note_input(path: str | os.PathLike[str]) -> None:
    """Note a file or folder this command reads (e.g. the CLI's ``--exams``): until
    :func:`forget_inputs` (the end of the command) no output is written at it, inside it or
    over a folder that holds it, even with ``overwrite=True`` (see :func:`check_inputs`)."""
    _INPUTS.add(Path(path).absolute())


def _resolved(path: Path) -> Path:
    """``path`` absolute, with symbolic links and ``..`` resolved (as far as it exists)."""
    return Path(os.path.realpath(path))


def _input_path(given: str | os.PathLike[str]) -> Path:
    """The file or folder an input names: for a glob that names nothing itself
    (``data/*.parquet``), the folder above its first wildcard."""
    path = Path(given)
    if os.path.lexists(path) or not any(c in str(given) for c in "*?["):
        return path
    fixed = list(itertools.takewhile(lambda p: not any(c in p for c in "*?["), path.parts))
    return Path(*fixed) if fixed else Path(".")


def check_inputs(
    target: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]] = (),
    *,
    name: str | None = None,
) -> None:
    """Refuse an output ``target`` (a folder or a file) that is an input of the same run, lies
    inside an input folder, or holds an input, whatever ``overwrite`` says.

    Writing the input itself, or replacing a folder that holds it, would destroy it; writing
    inside an input folder would change what is read (a recurct folder would no longer match
    its manifest, and a folder read whole would read the result as data). Paths are compared
    after resolving symbolic links, ``..`` and relative paths (against the working folder), a
    file also by identity (a hard link); a glob input (``data/*.parquet``) stands for the
    folder above its first wildcard. The inputs noted with :func:`note_input` count too. A
    target inside an input *file* (``exams.csv/x``) is left to :func:`check_target`, which
    says that the file is in the way.

    Parameters
    ----------
    target : path
        The output folder or file.
    inputs : iterable of paths
        The files, folders and globs the run reads.
    name : str, optional
        How to name ``target`` in the message (e.g. ``"--out res"``); default its path.

    Raises
    ------
    OutputExistsError
        Naming the output and the input.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> check_inputs(root / "results", [root / "exams"])  # beside the input: fine
    >>> check_inputs(root / "exams" / "results", [root / "exams"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recurct.errors.OutputExistsError: ... lies inside the input folder ...
    """
    target = Path(target)
    label = str(target) if name is None else name
    where = _resolved(target)
    for given in [*inputs, *sorted(_INPUTS)]:
        path = _input_path(given)
        try:
            source = _resolved(path)
        except (OSError, RuntimeError):  # pragma: no cover - unresolvable: cannot be compared
            continue
        same = source == where
        if not same and target.is_file() and path.is_file():
            with contextlib.suppress(OSError):
                same = os.path.samefile(target, path)
        if same and not path.is_dir():
            raise OutputExistsError(
                f"{label} is an input of this run ({given}): writing the result there would "
                "replace it; write the result to another path"
            )
        if same:
            raise OutputExistsError(
                f"{label} holds the input ({given}: it is that folder): writing the result "
                "there would change or replace the input; write the result to another folder"
            )
        if where in source.parents:
            raise OutputExistsError(
                f"{label} holds the input ({given}): writing the result there would replace "
                "it whole and delete the input; write the result to another folder"
            )
        if source in where.parents and not path.is_file():
            raise OutputExistsError(
                f"{label} lies inside the input folder {given}: writing the result there "
                "would change the input (a recurct folder would no longer match its "
                "manifest, and the result would be read as input next time); write it "
                "outside that folder"
            )


def _guard(target: Path, label: str | None = None, *, replacing: bool = False) -> None:
    """Refuse an output folder that is the working folder (``.``) or a folder above it
    (``..``), even empty: the result replaces the target whole, which would leave the shell
    in a deleted folder (or delete the user's files); and, when ``replacing`` a folder that
    holds files (``overwrite=True``), one that holds the home folder. The inputs are
    :func:`check_inputs`'s."""
    label = str(target) if label is None else label
    where = _resolved(target)
    try:
        cwd = _resolved(Path.cwd())
    except (OSError, RuntimeError):  # pragma: no cover - unresolvable: cannot be compared
        cwd = None
    if cwd is not None and (where == cwd or where in cwd.parents):
        what = "the working folder" if where == cwd else "a folder above the working folder"
        raise OutputExistsError(
            f"{label} is {what} ({where}): an output folder is replaced whole; give the "
            "path of a new folder (e.g. results)"
        )
    if not replacing:
        return
    try:
        home = _resolved(Path.home())
    except (OSError, RuntimeError):  # pragma: no cover - unresolvable: cannot be inside
        return
    if home == where or where in home.parents:
        raise OutputExistsError(
            f"{label} holds the home folder ({Path.home()}): overwrite=True would delete it; "
            "write the result to another folder"
        )


def _creatable(target: Path, what: str) -> None:
    """Refuse a ``target`` (``what``: "folder" or "file") whose path cannot be created: the
    nearest existing path above it is a file, or a folder this process may not write."""
    above = target.parent
    while not os.path.lexists(above) and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise OutputExistsError(
            f"cannot create the output {what} {target}: {above} is a file, not a folder"
        )
    if not os.access(above, os.W_OK | os.X_OK):
        where = "its parent " if above == target.parent else ""
        raise ParameterError(
            f"cannot create the output {what} {target}: {where}{above} is not writable"
        )


def _cannot_create(target: Path, what: str, exc: OSError) -> Exception:
    """The error that names ``target`` for an ``OSError`` raised while creating it (its
    parent, or the temporary folder or file beside it)."""
    try:
        _creatable(target, what)
    except (OutputExistsError, ParameterError) as named:
        return named
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ParameterError(
            f"cannot create the output {what} {target}: its parent {target.parent} is not "
            f"writable ({exc.strerror})"
        )
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return OutputExistsError(
            f"cannot create the output {what} {target}: a file is in its path ({exc.strerror})"
        )
    return ParameterError(f"cannot create the output {what} {target} ({exc.strerror or exc})")


def _parquet_rows(path: Path) -> int:
    import polars as pl

    return int(pl.scan_parquet(path, glob=False).select(pl.len()).collect().item())


def _sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


_WRITE_ERRNOS = frozenset(
    e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None
)


def write_failed(
    target: Path,
    exc: BaseException,
    *,
    fn: str | None = None,
    what: str = "folder",
    file: str | os.PathLike[str] | None = None,
) -> IncompleteOutputError:
    """The error that names ``target`` (the output ``what``: "folder" or "file") for an
    ``OSError`` or a polars error (polars reports a failed Parquet write as a
    ``ComputeError``, not an ``OSError``) raised while its files were written (a full disk, a
    file size limit, ...); ``file``: the file of ``target`` being written, if known; ``fn``:
    the function or command that writes, which the message starts with."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    where = f" ({file})" if file else ""
    prefix = f"{fn}: " if fn else ""
    return IncompleteOutputError(
        f"{prefix}cannot write the output {what} {target}{where}: {reason}; nothing was "
        f"written ({target} is left as it was)"
    )


def _is_write_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed write: an ``OSError`` recurct did not raise, or an error
    of polars (a Parquet write failing on a full disk is a ``ComputeError``)."""
    if isinstance(exc, RecurctError):
        return False
    if isinstance(exc, OSError):
        return True
    import polars as pl

    return isinstance(exc, pl.exceptions.PolarsError)


def _under(filename: Any, folder: Path) -> Path | None:
    """``filename`` (of an ``OSError``) relative to ``folder`` when it lies there, else None."""
    if filename is None:
        return None
    try:
        path = Path(os.fsdecode(filename)).absolute()
        return path.relative_to(folder.absolute())
    except (TypeError, ValueError):
        return None


def _written_file(exc: BaseException, tmp: Path) -> tuple[bool, Path | None]:
    """Whether an ``OSError`` raised while an output was written (at the temporary path
    ``tmp``) is about writing it: a file at or under ``tmp`` (and which: its path below
    ``tmp``), or a full disk or a file size limit, whatever the file. Anything else (an
    input file missing, ...) is the caller's, and passes through unchanged."""
    if not isinstance(exc, OSError) or isinstance(exc, RecurctError):
        return False, None
    for name in (exc.filename, exc.filename2):
        rel = _under(name, tmp)
        if rel is not None:
            return True, rel
    return exc.errno in _WRITE_ERRNOS, None


@contextlib.contextmanager
def writing(folder: OutputFolder, name: str | os.PathLike[str]) -> Iterator[Path]:
    """Write the file ``name`` of ``folder`` (the block writes the path it is given, under
    the temporary folder): a failed write (an ``OSError``, or a polars error such as the
    ``ComputeError`` of a Parquet write on a full disk) raises
    :class:`IncompleteOutputError` naming the output folder, the file and the reason, its
    message starting with ``folder.fn``."""
    path = folder.path / name
    try:
        yield path
    except Exception as exc:
        if not _is_write_error(exc):
            raise
        raise write_failed(folder.target, exc, fn=folder.fn, file=folder.target / name) from exc


def _write_manifest(folder: OutputFolder) -> None:
    from recurct._version import __version__

    files = {}
    total = 0
    for f in sorted(p for p in folder.path.rglob("*") if p.is_file()):
        rel = f.relative_to(folder.path).as_posix()
        entry: dict[str, Any] = {"bytes": f.stat().st_size}
        if folder.hashes:
            entry["sha256"] = _sha256_file(f)
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
    hashes: bool = False,
    fn: str | None = None,
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
        Files, folders or globs the run reads: a ``target`` that is one of them, holds one or
        lies inside one is always refused (:func:`check_inputs`); one that holds the working
        or home folder is refused even with ``overwrite=True``.
    hashes : bool, default False
        Record each file's SHA-256 in the manifest (beside its size), so that
        :func:`foreign_files` finds a file changed at the same size: for folders a command
        refreshes (the reproductions' results). Off for large outputs (a patients table of
        10^8 exams), where hashing would add a pass over every byte written.
    fn : str, optional
        The function or command that writes (``"write_patients"``): the messages of a failed
        write start with it.

    Raises
    ------
    IncompleteOutputError
        Writing the files failed (an ``OSError`` in the block about a file under the
        temporary folder, a full disk or a file size limit; a polars write error inside
        :func:`writing`): the message names ``target`` and the reason; ``target`` is left as
        it was. Other errors of the block (an input that cannot be read) pass through
        unchanged.
    OutputExistsError
        ``target`` is refused (see :func:`check_target`), or, without ``overwrite``, someone
        else created it while the block ran and it holds anything (it is kept as it is).
    ParameterError
        ``target`` cannot be created: a folder above it is not writable.

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
    inputs = list(inputs)
    check_target(target, overwrite=overwrite, inputs=inputs)
    tmp = target.parent / f".{target.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    created = _missing_folders(target.parent)  # removed again if the run fails
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        _remove_created(created)
        raise _cannot_create(target, "folder", exc) from exc
    folder = OutputFolder(
        path=tmp,
        target=target,
        kind=kind,
        parameters=dict(parameters or {}),
        hashes=hashes,
        fn=fn,
    )
    try:
        with terminate_as_exit():
            try:
                yield folder
                _write_manifest(folder)
            except OSError as exc:  # a full disk, a file size limit: name the folder
                about, rel = _written_file(exc, tmp)
                if not about:
                    raise
                file = None if rel is None else target / rel
                raise write_failed(target, exc, fn=fn, file=file) from exc
            _replace(tmp, target, overwrite=overwrite)
    finally:
        with _signals_deferred():  # a second Ctrl-C does not leave it half-removed
            shutil.rmtree(tmp, ignore_errors=True)
            if not os.path.lexists(target):
                _remove_created(created)


@contextlib.contextmanager
def atomic_file(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    inputs: Iterable[str | os.PathLike[str]] = (),
    fn: str | None = None,
) -> Iterator[Path]:
    """Write one file that is, at every moment, the old file (or absent) or the complete new
    one: the block writes the path it is given (a temporary file ``.<name>.recurct-tmp-...``
    beside ``target``, with the same extension, created empty before the block), which is
    flushed to disk and renamed onto ``target`` when the block ends without error. On any
    exception, Ctrl-C or SIGTERM the temporary file is removed and ``target`` is left as it
    was. The folder of ``target`` is created if needed; a ``target`` that is a symbolic link
    has the file it points to replaced (the link is kept). ``fn``: the function or command
    that writes (``"export_table"``), which the message of a failed write starts with.

    Raises
    ------
    IncompleteOutputError
        Writing the file failed (an ``OSError`` in the block about the temporary file, a
        full disk or a file size limit): the message names ``target`` and
        the reason; ``target`` is left as it was. Other errors of the block (an input that
        cannot be read) pass through unchanged.
    OutputExistsError
        ``target`` is refused by :func:`check_file_target` (a folder, an input of the run,
        an existing file with ``overwrite=False``, a file in its path), or was created while
        the block ran (with ``overwrite=False``; it is kept).
    ParameterError
        ``target`` cannot be created: its folder is not writable.
    """
    target = Path(target)
    if target.is_symlink():
        target = target.resolve()
    check_file_target(target, overwrite=overwrite, inputs=inputs)
    tmp = target.parent / (
        f".{target.stem}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{target.suffix}"
    )
    created = _missing_folders(target.parent)  # removed again if the run fails
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        _remove_created(created)
        raise _cannot_create(target, "file", exc) from exc
    try:
        with terminate_as_exit():
            try:
                yield tmp
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:  # a full disk, a file size limit: name the file
                if not _written_file(exc, tmp)[0]:
                    raise
                raise write_failed(target, exc, fn=fn, what="file") from exc
            if not overwrite and target.exists():
                raise OutputExistsError(f"{target} was created meanwhile: it is kept")
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if not os.path.lexists(target):
            _remove_created(created)


def check_file_target(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    inputs: Iterable[str | os.PathLike[str]] = (),
    name: str | None = None,
) -> None:
    """Refuse an output *file* that :func:`atomic_file` would refuse, without writing
    anything: call it before the work whose result goes there.

    Parameters
    ----------
    target : path
        The file to write.
    overwrite : bool
        Replace an existing file (default); otherwise it is refused.
    inputs : iterable of paths, optional
        What the run reads (:func:`check_inputs`).
    name : str, optional
        How to name ``target`` in the messages (e.g. ``"--out t.csv"``).

    Raises
    ------
    OutputExistsError
        ``target`` is a folder, is or lies inside an input, exists and ``overwrite`` is false,
        or a file lies in its path (``afile/t.csv``).
    ParameterError
        Its folder (or the nearest existing folder above it) is not writable.
    """
    target = Path(target)
    label = str(target) if name is None else name
    check_inputs(target, inputs, name=label)
    if target.is_dir():
        raise OutputExistsError(f"{label} is a folder: give the path of a file")
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{label} exists: choose another file name, or pass overwrite=True (--overwrite) "
            "to replace it"
        )
    _creatable(target, "file")


def check_target(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
    name: str | None = None,
) -> None:
    """Refuse a ``target`` that :func:`output_folder` would refuse, without writing anything:
    call it before the work whose result goes there, so that an unusable folder is refused
    before any work starts.

    Parameters
    ----------
    target : path
        The output folder.
    overwrite : bool
        Whether an existing non-empty folder may be replaced whole.
    inputs : iterable of paths, optional
        The files, folders or globs the run reads (:func:`check_inputs`).
    name : str, optional
        How to name ``target`` in the messages (e.g. ``"--out res"``); default its path.

    Raises
    ------
    OutputExistsError
        ``target`` is, holds or lies inside an input (whatever ``overwrite`` says); is a file
        (or anything but a folder), a symbolic link, the working folder (``.``) or a folder
        above it; a file lies in its path (``afile/x``); a non-empty folder
        without ``overwrite``; or (with ``overwrite``) a folder that holds the working folder
        or the home folder.
    ParameterError
        The folder that would hold ``target`` (or the nearest existing folder above it) is
        not writable.
    """
    target = Path(target)
    label = str(target) if name is None else name
    check_inputs(target, inputs, name=label)
    if target.is_symlink():
        raise OutputExistsError(
            f"{label} is a symbolic link: recurct does not write an output folder through a "
            f"link; give the path of the folder it points to ({os.path.realpath(target)}), "
            "or of a new folder"
        )
    _guard(target, label)
    if os.path.lexists(target) and not target.is_dir():
        raise OutputExistsError(
            f"{label} exists and is not a folder: give the path of a new or empty folder "
            "(overwrite replaces a folder, never a file)"
        )
    _creatable(target, "folder")
    if target.is_dir() and not _is_empty(target):
        if not overwrite:
            raise OutputExistsError(
                f"{label} already holds files: choose a new folder, or pass overwrite=True "
                "(--overwrite) to replace it whole"
            )
        _guard(target, label, replacing=True)


def foreign_files(folder: str | os.PathLike[str]) -> list[str] | None:
    """What in a recurct output folder its manifest does not account for: files it does not
    list, listed files whose content changed (``"name (changed)"``: another SHA-256, or, in
    a manifest without hashes, another size), and folders that hold no
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
        hashes = {str(name): str(e["sha256"]) for name, e in files.items() if "sha256" in e}
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
        elif p.stat().st_size != sizes[rel] or (rel in hashes and _sha256_file(p) != hashes[rel]):
            out.append(f"{rel} (changed)")
    return out


def _replace(tmp: Path, target: Path, *, overwrite: bool) -> None:
    """Rename ``tmp`` to ``target``. An absent target or an empty folder is replaced by one
    atomic rename. A target that holds anything is, with ``overwrite``, moved aside first and
    removed after, so that the target is at every moment either the old or the new folder;
    without ``overwrite`` it was created meanwhile (:func:`check_target` refused it at the
    start) and is kept: :class:`OutputExistsError`.

    The two renames run with Ctrl-C and SIGTERM deferred (:func:`_signals_deferred`): one
    that arrives meanwhile takes effect once the new folder is in place. The old folder is
    removed after (:func:`_remove_old`), where a signal stops the removal as it would any
    other step; an old folder left (a signal during the renames or the removal, or a removal
    that fails) is named in a :class:`~recurct.errors.RecurctWarning`."""
    try:
        tmp.rename(target)  # POSIX: replaces an empty folder; fails on anything else
        return
    except OSError as exc:
        if not os.path.lexists(target):
            raise
        failed = exc
    if target.is_symlink() or not target.is_dir():
        raise OutputExistsError(
            f"{target} was created while recurct wrote the result, and is not a folder: it is "
            "kept as it is, and the result was not written"
        ) from failed
    if _is_empty(target):  # a rename that does not replace an empty folder (Windows)
        target.rmdir()
        tmp.rename(target)
        return
    if not overwrite:
        raise OutputExistsError(
            f"{target} was created while recurct wrote the result, and holds files: it is kept "
            "as it is, and the result was not written; write it to another folder, or pass "
            "overwrite=True (--overwrite) to replace it whole"
        ) from failed
    _guard(target, replacing=True)
    trash = target.parent / f".{target.name}{_OLD_MARK}{uuid.uuid4().hex[:8]}"
    replaced = False
    try:
        with _signals_deferred():
            target.rename(trash)
            try:
                tmp.rename(target)
            except BaseException:
                trash.rename(target)
                raise
            replaced = True
    except BaseException:  # a signal noted during the renames, raised now
        if replaced:
            _warn_old_left(trash, target, "the run was interrupted")
        raise
    _remove_old(trash, target)


def _remove_old(trash: Path, target: Path) -> None:
    """Remove ``trash``, the old folder that replacing ``target`` moved aside; where that
    fails (no permission) or is interrupted (Ctrl-C, SIGTERM: raised again), warn that it is
    left and safe to remove (:func:`_warn_old_left`)."""
    try:
        shutil.rmtree(trash, ignore_errors=True)
    except BaseException:
        if os.path.lexists(trash):
            _warn_old_left(trash, target, "its removal was interrupted")
        raise
    if os.path.lexists(trash):
        _warn_old_left(trash, target, "it could not be removed")


def _warn_old_left(trash: Path, target: Path, why: str) -> None:
    """The :class:`~recurct.errors.RecurctWarning` of an old folder left beside the complete
    new ``target``."""
    warnings.warn(
        f"{trash} is the old folder that replacing {target} (overwrite=True, --overwrite) "
        f"moved aside, and it is left: {why}. The new {target} is complete, so the old one is "
        f"safe to remove: remove the folder {trash}",
        RecurctWarning,
        stacklevel=user_stacklevel(),
    )


def _old_output(folder: Path) -> str | None:
    """What a reader says of ``folder`` where it is the old folder a replacement moved aside
    (``.<name>.recurct-tmp-old-<8 hex digits>``, as :func:`_replace` names it; a folder, not
    a link) and an interrupted run left behind: that it holds the old output, and what to do
    (remove it once ``<name>`` is checked; rename it back where ``<name>`` is absent). None
    for any other folder."""
    match = _OLD_NAME.fullmatch(folder.name)
    if match is None or folder.is_symlink() or not folder.is_dir():
        return None
    name = folder.parent / match.group("target")
    if not os.path.lexists(name):
        return (
            f"{folder} holds the old output of {name}, which a replacement (overwrite=True, "
            f"--overwrite) moved aside and was interrupted before the new {name} was in "
            f"place: it is not read as data; rename it back to {name} to keep it, or remove "
            "it"
        )
    return (
        f"{folder} holds the old output that an interrupted replacement of {name} "
        "(overwrite=True, --overwrite) moved aside: it is not read as data; once you have "
        f"checked {name}, it is safe to remove: remove the folder {folder}"
    )


def check_tree(folder: str | os.PathLike[str]) -> None:
    """Check every recurct output folder below ``folder`` (each manifest found) and refuse a
    temporary folder of an unfinished or killed run (``.<name>.recurct-tmp-...``), whose files
    would otherwise be read as data. Nothing is removed or changed.

    The old folder that replacing ``<name>`` (``overwrite=True``) moved aside and an
    interrupted run left, ``.<name>.recurct-tmp-old-...``, is refused with a message saying
    so: it holds what the replacement replaced (read, its files would count the old exams
    beside the new), safe to remove once ``<name>`` has been checked.

    Raises
    ------
    IncompleteOutputError
    """
    folder = Path(folder)
    for tmp in sorted(folder.rglob(f"*{_TMP_MARK}*")):
        if not tmp.is_dir():
            continue  # (a file)
        old = _old_output(tmp)
        if old is not None:
            raise IncompleteOutputError(old)
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
            old = _old_output(parent) if _TMP_MARK in parent.name else None
            if old is not None:
                raise IncompleteOutputError(f"{f} lies in {parent}: {old}")
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

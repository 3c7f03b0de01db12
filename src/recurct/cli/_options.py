"""The options shared by ``recurct analyze``, ``reproduce --exams`` and ``validate``.

:func:`add_input_options` adds the reading and dose options to a subcommand's parser
(``--map``, ``--dayfirst``, ``--sep``, ``--today``, ``--region-rules``, ``--table``,
``--fallback``, ``--age-rule``, ``--adult-from``, ``--kv``, ``--drop-bad``),
:func:`add_analysis_options` the analysis options of ``analyze`` (``--threshold``/``--thresholds``,
``--window``, ``--by``, ``--age-bands``); :func:`analysis_options` and :func:`dose_options`
turn the parsed arguments into keyword arguments of the library.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from recurct.errors import InputError

__all__ = [
    "add_analysis_options",
    "add_input_options",
    "analysis_options",
    "check_input_options",
    "dose_options",
    "given_input_options",
    "input_paths",
    "iso_date",
    "nonnegative_int",
    "parse_map",
]


# ----------------------------------------------------------------- option values (argparse)
# Each parses an option's value when the command line is read, so that a bad value is one
# line "recurct: COMMAND: argument --NAME: ..." (exit 2) before anything is read or computed.
def nonnegative_int(text: str) -> int:
    """A whole number >= 0 (``--seed``, ``--n-patients``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def iso_date(text: str) -> Any:
    """A date written YYYY-MM-DD (``--today``), as a ``datetime.date``."""
    import datetime as dt

    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def _number(text: str, lo: float, hi: float, lo_open: bool, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number{what}, got {text!r}") from None
    low_ok = value > lo if lo_open else value >= lo
    if not (math.isfinite(value) and low_ok and value <= hi):
        bounds = f"> {lo:g}" if lo_open and math.isinf(hi) else f"{lo:g} to {hi:g}"
        raise argparse.ArgumentTypeError(f"must be a finite number {bounds}{what}, got {text!r}")
    return value


def _kv(text: str) -> float:
    return _number(text, 0.0, math.inf, True, " (kV)")


def _years(text: str) -> float:
    from recurct._checks import MAX_AGE_YEARS

    return _number(text, 0.0, float(MAX_AGE_YEARS), False, " (years)")


def add_input_options(p: argparse.ArgumentParser) -> None:
    """Add the reading and dose options shared by ``analyze``, ``reproduce`` and ``validate``."""
    g = p.add_argument_group("reading the file")
    g.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="THEIRS=OURS",
        help="column mapping, e.g. --map 'Patient ID=patient_id' (repeatable)",
    )
    g.add_argument("--dayfirst", action="store_true", help="dates are day-first (31/12/2019)")
    g.add_argument("--sep", default=None, help="CSV separator (default: detected)")
    g.add_argument(
        "--decimal",
        default=None,
        choices=(".", ","),
        help="decimal mark of numbers in text (default: decided per column; see 'Numbers "
        "in text' in docs/data-preparation.md)",
    )
    g.add_argument(
        "--today", default=None, type=iso_date, help="latest plausible exam date (YYYY-MM-DD)"
    )
    g.add_argument(
        "--region-rules",
        default=None,
        metavar="CSV",
        help="your body-region rules, tried before recurct's: a CSV with columns pattern "
        "(a regular expression on the lower-case text, e.g. ' lws ') and region (canonical; "
        "empty for none), for free-text regions and protocol names of CSV and Parquet files",
    )
    g.add_argument(
        "--drop-bad",
        action="store_true",
        help="leave out rows that fail validation or dose conversion, and print what was "
        "dropped (default: stop and list them)",
    )
    g = p.add_argument_group("effective dose (where the file has DLP but no dose)")
    g.add_argument(
        "--table",
        default="aapm96",
        metavar="NAME|CSV",
        help="conversion-factor table: a shipped one (aapm96, icrp103_adult, shrimpton_age, "
        "nci_icrp103_120kv) or your CSV (region,k[,age,sex,kv,source]); default aapm96",
    )
    g.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="REGION=OTHER|TABLE",
        help="for regions the table lacks: use OTHER's factor (e.g. abdomen_pelvis=abdomen), "
        "or another table (a name or CSV); repeatable",
    )
    g.add_argument(
        "--age-rule",
        default="nearest-lower",
        choices=("nearest-lower", "nearest", "interpolate"),
        help="age rule of age-dependent tables (default nearest-lower)",
    )
    g.add_argument(
        "--adult-from",
        type=_years,
        default=None,
        metavar="YEARS",
        help="age from which the adult column applies (default: the table's)",
    )
    g.add_argument(
        "--kv", type=_kv, default=None, help="tube voltage of kV-specific tables (> 0 kV)"
    )


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """Add ``--threshold(s)``, ``--window``, ``--by`` and ``--age-bands``."""
    g = p.add_argument_group("analysis")
    g.add_argument(
        "--threshold",
        "--thresholds",
        dest="thresholds",
        action="append",
        default=None,
        metavar="T[,T...]",
        help="CED threshold(s) in mSv, comma-separated or repeated (default 100)",
    )
    g.add_argument(
        "--window",
        action="append",
        default=None,
        metavar="DAYS[,DAYS...]",
        help="also count patients reaching T within any window of this many days "
        "(e.g. 1826 for 5 years); repeatable",
    )
    g.add_argument(
        "--by",
        action="append",
        default=None,
        help="stratify by a patient column: sex, facility, indication, or age_band "
        "(age at first exam, see --age-bands); repeatable",
    )
    g.add_argument(
        "--age-bands",
        default=None,
        metavar="EDGES",
        help="age-band edges in years for --by age_band, e.g. 0,18,50,65 (the last band is "
        "open); default 0,18,30,50,65",
    )


def _numbers(items: list[str] | None, what: str) -> list[float]:
    """The numbers of an option given once or more (``items``: each value as given), each
    value one or several comma-separated numbers (blank parts between commas skipped), each
    finite and > 0; else :class:`InputError` naming the option ``what`` and the value. A
    value of no number at all (``''``, ``','``) is an error, not the option's default."""
    out: list[float] = []
    for item in items or []:
        parts = [part.strip() for part in str(item).split(",")]
        if not any(parts):
            raise InputError(
                f"{what} expects a number or comma-separated numbers, got {item!r} (no number)"
            )
        for part in filter(None, parts):
            try:
                v = float(part)
            except ValueError:
                raise InputError(f"{what} expects numbers, got {part!r}") from None
            if not math.isfinite(v):
                raise InputError(f"{what} must be a finite number, got {part!r}")
            if v <= 0:
                raise InputError(f"{what} must be > 0, got {part!r}")
            out.append(v)
    return out


def analysis_options(args: argparse.Namespace) -> dict[str, Any]:
    """``thresholds``, ``window_days`` (int days), ``by`` and ``age_edges`` from the arguments."""
    thresholds = _numbers(getattr(args, "thresholds", None), "--threshold") or [100.0]
    windows = _numbers(getattr(args, "window", None), "--window")
    if any(not w.is_integer() for w in windows):
        raise InputError(f"--window takes whole days, got {', '.join(f'{w:g}' for w in windows)}")
    windows = [int(w) for w in windows]
    edges = None
    if getattr(args, "age_bands", None) is not None:  # given, even empty: checked
        try:
            edges = [float(x) for x in str(args.age_bands).split(",") if x.strip()]
        except ValueError:
            raise InputError(
                f"--age-bands expects comma-separated ages in years, e.g. 0,18,50,65; "
                f"got {args.age_bands!r}"
            ) from None
        if (
            len(edges) < 2
            or sorted(edges) != edges
            or len(set(edges)) != len(edges)
            or not all(math.isfinite(e) and e >= 0 for e in edges[:-1])
        ):
            raise InputError(f"--age-bands expects increasing edges, got {args.age_bands!r}")
        if math.isfinite(edges[-1]):
            edges.append(math.inf)
    return {
        "thresholds": sorted(set(thresholds)),
        "window_days": sorted(set(windows)),
        "by": list(getattr(args, "by", None) or []),
        "age_edges": edges,
    }


def parse_map(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        theirs, eq, ours = item.rpartition("=")
        if not eq or not theirs.strip() or not ours.strip():
            raise InputError(f"--map expects THEIRS=OURS, got {item!r}")
        mapping[theirs.strip()] = ours.strip()
    return mapping


def dose_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`recurct.dose.effective_dose` from the arguments."""
    regions: dict[str, str] = {}
    tables: list[str] = []
    for item in getattr(args, "fallback", None) or []:
        src, eq, dst = item.partition("=")
        if eq:
            regions[src.strip()] = dst.strip()
        else:
            tables.append(item.strip())
    if len(tables) > 1:
        raise InputError(f"--fallback takes one fallback table, got {tables}")
    return {
        "table": getattr(args, "table", "aapm96") or "aapm96",
        "fallback": regions or None,
        "fallback_table": tables[0] if tables else None,
        "age_rule": getattr(args, "age_rule", "nearest-lower"),
        "adult_from": getattr(args, "adult_from", None),
        "kv": getattr(args, "kv", None),
    }


def given_input_options(args: argparse.Namespace) -> list[str]:
    """The reading and dose options (:func:`add_input_options`) given with a value other than
    their default, by name (``["--table", "--today"]``)."""
    probe = argparse.ArgumentParser(add_help=False)
    add_input_options(probe)
    return [
        a.option_strings[0]
        for a in probe._actions
        if a.option_strings and getattr(args, a.dest, a.default) not in (a.default, None)
    ]


def input_paths(args: argparse.Namespace, source: str | None) -> list[str]:
    """The files and folders a command reads, for :func:`recurct._outdir.check_inputs`: the
    exam file, folder or glob ``source``, and ``--region-rules``, ``--table`` and ``--fallback``
    tables given as paths (a shipped table's name is no path)."""
    paths = [getattr(args, "region_rules", None), getattr(args, "table", None)]
    paths += [f for f in getattr(args, "fallback", None) or [] if "=" not in f]
    found = [str(p) for p in paths if p and os.path.lexists(p)]
    return ([str(source)] if source else []) + found


_DOSE_OPTION_TEXT = (
    ("effective dose: kv ", "--kv "),
    ("effective dose: adult_from ", "--adult-from "),
    ("do not pass kv= with it", "do not pass --kv with it"),
    ("or pass your own table (a CSV path or a data frame)", "or give your own CSV"),
    ("; pass a shipped name, a CSV path or a data frame", "; give a shipped name or a CSV"),
)


def _dose_text(message: str) -> str:
    for old, new in _DOSE_OPTION_TEXT:
        message = message.replace(old, new)
    return message


def check_input_options(args: argparse.Namespace) -> None:
    """Check the values of the reading and dose options before any file is read: ``--map``,
    ``--fallback`` and the conversion-factor tables (``--table``, a ``--fallback`` table,
    ``--kv``, ``--adult-from``, ``--age-rule``), whether or not the file will need them.

    Raises
    ------
    InputError
        Naming the option and what is wrong with it.
    """
    from recurct.dose._lookup import check_fallback, resolve_tables
    from recurct.dose._tables import as_ktable

    parse_map(list(getattr(args, "map", None) or []))
    kw = dose_options(args)
    try:
        t, _ = resolve_tables(kw["table"], None, kw["kv"], kw["age_rule"], kw["adult_from"])
    except (ValueError, TypeError, OSError) as exc:
        text = _dose_text(str(exc))
        if not text.startswith("--"):
            text = f"--kv: {text}" if "--kv" in text else f"--table {kw['table']}: {text}"
        raise InputError(text) from None
    ft = kw["fallback_table"]
    if ft is not None:
        try:
            fallback = as_ktable(ft)
        except (ValueError, TypeError, OSError) as exc:
            raise InputError(f"--fallback {ft}: {_dose_text(str(exc))}") from None
        if fallback.shipped and t.shipped and fallback.name == t.name:
            raise InputError(f"--fallback {ft}: the fallback table must differ from --table")
    try:
        check_fallback(t, kw["fallback"])
    except (ValueError, TypeError) as exc:
        raise InputError(f"--fallback {str(exc).removeprefix('fallback ')}") from None

"""Edges of the synthetic generator and of export_table: profile values out of range or of the
wrong type (refused with a ParameterError naming the key, before any simulation: some of them
made the kernel loop for ever), facility names that made write_cohort lose rows or write
outside its folder, and a table export that could leave a truncated file.

Tests of values that used to hang the generator never call it in this process: they check the
validation (profile loading, :func:`site_sizes`), and the kernel's own guard runs in a
subprocess with a timeout.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from recurct import stats
from recurct._outdir import check_output
from recurct.errors import IncompleteOutputError, OutputExistsError, ParameterError
from recurct.synthetic import generate, load_profile, site_sizes, write_cohort
from recurct.synthetic.model import profile_from_dict

_SITE = {
    "facility": "A",
    "country": "X",
    "period_start": dt.date(2015, 1, 1),
    "period_end": dt.date(2016, 12, 31),
    "n_patients": 10,
}


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {"params": params, "sites": [dict(_SITE)]}


def _group(**values: Any) -> dict[str, Any]:
    return _params({"groups": {"oncology": values}})


def _site(**values: Any) -> dict[str, Any]:
    return {"sites": [{**_SITE, **values}]}


# (profile data, the key the message must name)
BAD: dict[str, tuple[dict[str, Any], str]] = {
    # finding 1: values that made the kernel loop for ever
    "neg_interval": (_group(interval_mean_days=-60.0), "groups.oncology.interval_mean_days"),
    "zero_interval": (_group(interval_mean_days=0.0), "groups.oncology.interval_mean_days"),
    "neg_frailty_max": (_params({"frailty_max": -1.0}), "params.frailty_max"),
    # finding 3: values out of range
    "neg_dlp_median": (_params({"dlp_median": {"head": -100.0}}), "params.dlp_median.head"),
    "neg_paed": (_params({"paed_dlp_at_birth": -1.0}), "params.paed_dlp_at_birth"),
    "neg_share": (_group(share=-0.5), "groups.oncology.share"),
    "neg_followup": (_group(followup_mean_days=-10.0), "groups.oncology.followup_mean_days"),
    "neg_frailty_cv": (_params({"frailty_cv": -0.3}), "params.frailty_cv"),
    "neg_p_intensive": (_params({"p_intensive": -0.3}), "params.p_intensive"),
    "p_intensive_gt1": (_params({"p_intensive": 1.5}), "params.p_intensive"),
    "neg_intensive_rate": (_params({"intensive_rate": -2.0}), "params.intensive_rate"),
    "neg_dlp_sigma": (_params({"dlp_sigma": {"head": -0.3}}), "params.dlp_sigma.head"),
    "nan_interval": (_group(interval_mean_days=math.nan), "groups.oncology.interval_mean_days"),
    "inf_frailty_max": (_params({"frailty_max": math.inf}), "params.frailty_max"),
    "age_edges_desc": (
        _params({"age_edges": [95.0, 80.0, 70.0, 60.0, 50.0, 40.0, 18.0, 0.0]}),
        "params.age_edges",
    ),
    "bool_p_same_day": (_group(p_same_day=True), "groups.oncology.p_same_day"),
    "neg_dose_scale": (_site(dose_scale=-1.0), "sites[0].dose_scale"),
    "neg_site_share": (_site(group_share={"oncology": -1.0}), "sites[0].group_share.oncology"),
    "zero_site_shares": (
        _site(group_share={"oncology": 0.0, "chronic": 0.0, "acute": 0.0, "other": 0.0}),
        "sites[0].group_share",
    ),
    "facility_int": (_site(facility=5), "sites[0].facility"),
    "facility_empty": (_site(facility=""), "sites[0].facility"),
    "facility_blank": (_site(facility="  "), "sites[0].facility"),
    "float_n": (_site(n_patients=10.7), "sites[0].n_patients"),
    "bool_n": (_site(n_patients=True), "sites[0].n_patients"),
    # finding 4: wrong types
    "str_p_female": (_group(p_female="0.5"), "groups.oncology.p_female"),
    "str_interval": (_group(interval_mean_days="sixty"), "groups.oncology.interval_mean_days"),
    "str_dose_scale": (_site(dose_scale="x"), "sites[0].dose_scale"),
    "str_age_shift": (_site(age_shift="old"), "sites[0].age_shift"),
    "str_n": (_site(n_patients="many"), "sites[0].n_patients"),
    "str_ct_growth": (_site(ct_growth="fast"), "ct_growth"),
    "str_group_share": (_site(group_share=5), "sites[0].group_share"),
    "str_age_mix": (_group(age_mix="abcdefg"), "groups.oncology.age_mix"),
    "params_not_table": ({"params": 5, "sites": [dict(_SITE)]}, "params"),
    "groups_not_table": (_params({"groups": 5}), "params.groups"),
    "group_not_table": (_params({"groups": {"oncology": 5}}), "params.groups.oncology"),
    "sites_not_array": ({"sites": 5}, "sites"),
    "str_min_age": (
        {
            "sites": [dict(_SITE)],
            "selection": {
                "exam_from": dt.date(2015, 6, 1),
                "exam_to": dt.date(2015, 12, 31),
                "min_age_at_exam": "adult",
            },
        },
        "selection.min_age_at_exam",
    ),
    "str_site_scale": ({"base": "small", "site_scale": "half"}, "site_scale"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_profile_values_are_refused_naming_the_key(case: str) -> None:
    data, key = BAD[case]
    with pytest.raises(ParameterError) as info:
        profile_from_dict("t", data)
    assert key in str(info.value)


def test_message_states_the_accepted_range() -> None:
    with pytest.raises(ParameterError, match=r"interval_mean_days must be a number >= 1 "):
        profile_from_dict("t", _group(interval_mean_days=-60.0))
    with pytest.raises(ParameterError, match=r"p_female must be a probability .*\[0, 1\]"):
        profile_from_dict("t", _group(p_female="0.5"))
    with pytest.raises(ParameterError, match=r"frailty_max must be a number > 0, got -1.0"):
        profile_from_dict("t", _params({"frailty_max": -1.0}))


def test_profile_file_errors_name_the_key(tmp_path: Path) -> None:
    """The auditor's profile files, as TOML: a base profile with one bad value."""
    head = 'name = "t"\nbase = "rehani2020"\nsite_scale = 0.001\n'
    cases = {
        "[params.groups.oncology]\ninterval_mean_days = -60.0\n": "interval_mean_days",
        "[params]\nfrailty_max = -1.0\n": "params.frailty_max",
        "params = 5\n": "params",
        "[params]\ngroups = 5\n": "params.groups",
    }
    for i, (text, key) in enumerate(cases.items()):
        path = tmp_path / f"p{i}.toml"
        path.write_text(head + text, encoding="utf-8")
        with pytest.raises(ParameterError, match=key.replace(".", r"\.")):
            load_profile(path)
    bad = tmp_path / "syntax.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ParameterError, match="not valid TOML"):
        load_profile(bad)


def test_valid_edge_values_are_accepted() -> None:
    prof = profile_from_dict(
        "t",
        {
            "params": {
                "frailty_cv": 0,
                "p_intensive": 0,
                "dlp_sigma": {"head": 0.0},
                "groups": {"acute": {"share": 0.0, "p_recurrent": 1}},
            },
            "sites": [{**_SITE, "n_patients": 10.0, "group_share": {"other": 0.0}}],
        },
    )
    assert prof.sites[0]["n_patients"] == 10 and isinstance(prof.sites[0]["n_patients"], int)


def test_a_profile_object_is_checked_before_the_kernel() -> None:
    """A Profile given as is (not loaded from a file) is checked too: before, a negative
    dose_scale generated negative doses, and a negative interval hung the kernel."""
    prof = load_profile("small").copy()
    prof.sites[0]["dose_scale"] = -1.0
    with pytest.raises(ParameterError, match="dose_scale"):
        generate(prof, n_patients=20)
    prof = load_profile("small").copy()
    prof.params["groups"]["oncology"]["interval_mean_days"] = -60.0
    with pytest.raises(ParameterError, match="interval_mean_days"):
        site_sizes(prof)  # what generate and write_cohort call before any kernel


@pytest.mark.parametrize("n", [10.7, True, "many", -1])
def test_generate_n_patients_must_be_whole(n: Any) -> None:
    with pytest.raises(ParameterError, match="n_patients"):
        site_sizes(load_profile("small"), n)
    with pytest.raises(ParameterError, match="n_patients"):
        site_sizes(load_profile("small"), {"USA-1": n})


def test_kernel_cannot_loop_without_progress() -> None:
    """Defence in depth: with the profile check bypassed, a negative interval (time never
    moves forward) ends in a ParameterError instead of a loop that Ctrl-C cannot stop. Run in
    a subprocess with a timeout, so that a regression fails instead of hanging the suite."""
    code = textwrap.dedent(
        """
        import recurct.synthetic._simulate as sim
        from recurct.errors import ParameterError
        from recurct.synthetic import load_profile

        prof = load_profile("small")
        c = sim._Compiled(prof)
        for name, value in (("interval", -60.0), ("interval", 0.0)):
            arr = getattr(c, name)
            arr[:] = value
            try:
                sim._simulate_block(c, prof, 0, 0, 50, 0, 0)
            except ParameterError as exc:
                print("refused:", exc)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("refused:") == 2 and "visits" in run.stdout


# ------------------------------------------------------------------ write_cohort folders


def _named(names: list[str]) -> Any:
    prof = load_profile("small").copy()
    prof.sites = [dict(prof.sites[0], facility=n, n_patients=40) for n in names]
    prof.name = "x"
    return prof


def test_folder_names_are_injective_and_safe() -> None:
    from recurct.synthetic._cohort import _folder_names

    names = ["A/B", "A_B", "..", ".", " ..", "a", "A", "x" * 400, "é/ü", "A_B-2", "a.", "\\x"]
    folders = _folder_names(names)
    assert len({f.casefold() for f in folders.values()}) == len(names)
    for f in folders.values():
        assert f and not f.startswith(".") and not f.endswith(".")
        assert "/" not in f and "\\" not in f and len(f.encode()) <= 120
    # plain names are kept as they were
    assert _folder_names(["USA-1", "Site 2"]) == {"USA-1": "USA-1", "Site 2": "Site_2"}
    # names Windows reserves for devices are not folders there
    reserved = _folder_names(["CON", "nul", "Com1.x", "LPT9", "CONSOLE", "_CON"])
    assert reserved == {
        "CON": "_CON",
        "nul": "_nul",
        "Com1.x": "_Com1.x",
        "LPT9": "_LPT9",
        "CONSOLE": "CONSOLE",
        "_CON": "_CON-2",
    }


@pytest.mark.parametrize("names", [["A/B", "A_B"], ["..", "B"], [" ..", "B"], ["a", "A"]])
def test_write_cohort_keeps_every_row_inside_its_folder(tmp_path: Path, names: list[str]) -> None:
    prof = _named(names)
    out = tmp_path / "root" / "cohort"
    folder = write_cohort(prof, out, seed=0)
    exams = generate(prof, seed=0)
    back = pl.read_parquet(f"{folder}/**/*.parquet")
    assert back.height == exams.height
    assert sorted(back["facility"].unique()) == sorted(names)
    manifest = check_output(folder)
    assert manifest is not None
    assert manifest["rows"] == manifest["parameters"]["exams"] == exams.height
    assert set(manifest["parameters"]["folders"]) == set(names)
    # nothing beside the cohort's folder
    assert [p.name for p in (tmp_path / "root").iterdir()] == ["cohort"]
    assert [p.name for p in tmp_path.iterdir()] == ["root"]


def test_write_cohort_refuses_an_empty_facility_name(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"sites\[0\]\.facility"):
        write_cohort(_named(["", "B"]), tmp_path / "c", seed=0)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ export_table


@pytest.fixture
def table() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    patients = pl.DataFrame(
        {
            "patient_id": np.arange(n),
            "n_exams": rng.integers(1, 6, n),
            "ced_msv": rng.lognormal(3.0, 1.2, n),
            "reached_100": rng.random(n) < 0.1,
        }
    )
    return stats.magnitude(patients, 100)


def test_export_table_failure_keeps_the_old_file(
    table: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("precious\n", encoding="utf-8")

    def full_disk(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        Path(file).write_text("Patients,", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_csv", full_disk)
    with pytest.raises(IncompleteOutputError, match=r"t\.csv.*No space"):
        stats.export_table(table, path, overwrite=True)
    assert path.read_text(encoding="utf-8") == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temporary file left


@pytest.mark.parametrize("ext", [".md", ".csv"])
def test_export_table_overwrite(table: pl.DataFrame, tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"t{ext}"
    path.write_text("precious\n", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        stats.export_table(table, path, overwrite=False)
    assert path.read_text(encoding="utf-8") == "precious\n"
    assert stats.export_table(table, path, overwrite=True) == path  # replaced whole
    assert "precious" not in path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    new = stats.export_table(table, tmp_path / f"new{ext}", overwrite=False)
    assert new.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_export_table_refuses_a_folder(table: pl.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "t.csv").mkdir()
    with pytest.raises(OutputExistsError, match="is a folder"):
        stats.export_table(table, tmp_path / "t.csv")


def test_manifest_json_round_trip(tmp_path: Path) -> None:
    """The folder mapping is plain JSON in the manifest."""
    folder = write_cohort(_named(["A/B", "A_B"]), tmp_path / "c", seed=1)
    manifest = json.loads((folder / "recurct-manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["folders"] == {"A/B": "A_B", "A_B": "A_B-2"}


@pytest.mark.parametrize("base", ["../profiles/small", "small.toml", "nope", 3])
def test_a_profiles_base_is_the_name_of_a_shipped_profile(base: Any) -> None:
    # "../profiles/small" was read (a path from the shipped folder); "../../x" any TOML file
    with pytest.raises(ParameterError, match=r"base names a shipped profile: .*small"):
        profile_from_dict("t", {"base": base})
    ok = profile_from_dict("t", {"base": "rehani2020"})
    assert ok.params == load_profile("rehani2020").params

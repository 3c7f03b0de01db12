"""Audit 17: profile files (top-level keys, base, errors naming the file and key) and the
outputs of write_cohort (write errors, manifest identity, empty cohorts, parent folders)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurct import read_exams
from recurct.cli import main
from recurct.errors import IncompleteOutputError, ParameterError, RecurctError
from recurct.synthetic import generate, load_profile, write_cohort
from recurct.synthetic.model import profile_from_dict

SITE = (
    '[[sites]]\nfacility = "H1"\nperiod_start = 2015-01-01\nperiod_end = 2016-12-31\n'
    "n_patients = 200\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "recurct-manifest.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- 1. top-level keys
TOP_LEVEL = {
    "parms": ("[parms]\nfrailty_cv = 0.9\n" + SITE, "'parms'"),
    "selecton": (SITE + "[selecton]\nexam_from = 2016-01-01\nexam_to = 2016-12-31\n", "'selecton'"),
    "seed": ("seed = 5\n" + SITE, "'seed'"),
    "site_array": (SITE.replace("[[sites]]", "[[site]]"), "'site'"),
}


@pytest.mark.parametrize("case", sorted(TOP_LEVEL))
def test_unknown_top_level_keys_are_refused(tmp_path: Path, case: str) -> None:
    text, key = TOP_LEVEL[case]
    path = _write(tmp_path, case, text)
    with pytest.raises(ParameterError, match="unknown top-level key") as info:
        load_profile(path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_a_misspelt_section_is_named_with_the_right_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "p", "[parms]\nfrailty_cv = 0.9\n" + SITE)
    with pytest.raises(ParameterError, match=r"did you mean 'params'\?"):
        load_profile(path)


def test_site_scale_needs_a_base_and_no_sites_of_its_own(tmp_path: Path) -> None:
    alone = _write(tmp_path, "alone", "site_scale = 0.5\n" + SITE)
    with pytest.raises(ParameterError, match=r"site_scale .*no base") as info:
        load_profile(alone)
    assert str(alone) in str(info.value)
    both = _write(tmp_path, "both", 'base = "small"\nsite_scale = 0.5\n' + SITE)
    with pytest.raises(ParameterError, match=r"site_scale .*its own"):
        load_profile(both)


@settings(max_examples=25, deadline=None)
@given(key=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_every_key_outside_the_known_set_is_refused(key: str) -> None:
    from recurct.synthetic.model import TOP_LEVEL_KEYS

    data = {"base": "small", key: 1}
    if key in TOP_LEVEL_KEYS:
        return
    with pytest.raises(ParameterError, match="unknown top-level key") as info:
        profile_from_dict("t", data)
    assert repr(key) in str(info.value)


# --------------------------------------------------------------------------- 2. base, in full
def test_base_small_takes_smalls_parameters_and_sites(tmp_path: Path) -> None:
    small = load_profile("small")
    mine = load_profile(_write(tmp_path, "mine", 'base = "small"\n'))
    assert mine.params == small.params  # small's base (rehani2020) is followed
    assert mine.sites == small.sites
    half = load_profile(_write(tmp_path, "half", 'base = "small"\nsite_scale = 0.5\n'))
    assert [s["n_patients"] for s in half.sites] == [
        round(s["n_patients"] * 0.5) for s in small.sites
    ]
    own = load_profile(_write(tmp_path, "own", 'base = "small"\n' + SITE))
    assert own.params == small.params and [s["facility"] for s in own.sites] == ["H1"]


def test_a_base_chain_that_loops_is_refused(tmp_path: Path, monkeypatch) -> None:
    from recurct.synthetic import model

    (tmp_path / "a.toml").write_text('base = "b"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('base = "a"\n', encoding="utf-8")
    monkeypatch.setattr(model, "PROFILE_DIR", tmp_path)
    with pytest.raises(ParameterError, match="leads back"):
        profile_from_dict("t", {"base": "a"})


def test_shipped_profiles_are_unchanged_by_base_resolution() -> None:
    small, rehani = load_profile("small"), load_profile("rehani2020")
    assert small.params == rehani.params
    assert [s["n_patients"] for s in small.sites] == [
        round(s["n_patients"] * 0.0020833333333333333) for s in rehani.sites
    ]


# --------------------------------------------------------------------------- 3. write errors
@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
        (
            pl.exceptions.ComputeError(
                "parquet: underlying IO error: File too large (os error 27)"
            ),
            "File too large",
        ),
    ],
    ids=["enospc", "polars"],
)
def test_a_failed_write_is_a_recurct_error_naming_the_file(
    tmp_path: Path, monkeypatch, capsys, exc: Exception, reason: str
) -> None:
    def fail(self: pl.DataFrame, path: object, *args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(pl.DataFrame, "write_parquet", fail)
    out = tmp_path / "new" / "cohort"
    with pytest.raises(IncompleteOutputError) as info:
        write_cohort("small", out, n_patients=50)
    text = str(info.value)
    assert "part-00000.parquet" in text and str(out) in text and reason in text
    assert not (tmp_path / "new").exists()  # neither the folder nor the parent it created
    rc = main(["synth", "small", "--n-patients", "50", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("recurct: ")
    assert "internal error" not in err[0] and reason in err[0]
    assert not (tmp_path / "new").exists()


def test_a_failed_manifest_write_is_a_recurct_error(tmp_path: Path, monkeypatch) -> None:
    from recurct import _outdir

    def fail(folder: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "recurct-manifest.json.part")

    monkeypatch.setattr(_outdir, "_write_manifest", fail)
    with pytest.raises(RecurctError, match="No space left on device"):
        write_cohort("small", tmp_path / "c", n_patients=50)
    assert not (tmp_path / "c").exists()


# --------------------------------------------------------------------------- 4. manifest
def test_the_manifest_identifies_the_cohort(tmp_path: Path) -> None:
    prof = load_profile("small").copy()
    a = _manifest(write_cohort(prof, tmp_path / "a", n_patients=200, seed=1))["parameters"]
    prof.params["groups"]["oncology"]["interval_mean_days"] = 80.0
    b = _manifest(write_cohort(prof, tmp_path / "b", n_patients=200, seed=1))["parameters"]
    assert a["profile"] == b["profile"] == "small" and a["seed"] == b["seed"]
    assert a["profile_sha256"] != b["profile_sha256"]
    assert b["profile_definition"]["params"]["groups"]["oncology"]["interval_mean_days"] == 80.0
    assert a["profile_file"] is None


@pytest.mark.parametrize("name", ["small", "sodickson2009"])
def test_the_manifest_regenerates_the_same_rows(tmp_path: Path, name: str) -> None:
    folder = write_cohort(name, tmp_path / "c", n_patients=300, seed=4)
    p = _manifest(folder)["parameters"]
    again = generate(
        profile_from_dict(p["profile"], p["profile_definition"]),
        n_patients=p["n_patients"],
        seed=p["seed"],
    )
    back = pl.read_parquet(f"{folder}/**/*.parquet")
    assert again.height == back.height > 0
    assert again.sort(pl.all()).equals(back.sort(pl.all()))


def test_the_manifest_names_the_profile_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "mine", 'name = "mine"\nbase = "small"\nsite_scale = 0.05\n')
    p = _manifest(write_cohort(path, tmp_path / "c"))["parameters"]
    assert p["profile"] == "mine" and p["profile_file"] == str(path.resolve())
    assert main(["synth", str(path), "--out", str(tmp_path / "d")]) == 0
    assert _manifest(tmp_path / "d")["parameters"]["profile_file"] == str(path.resolve())


# --------------------------------------------------------------------------- 5. error messages
BAD_FILES = {
    "typo_param": ("[params]\nfrailty_cvv = 0.3\n" + SITE, "params.frailty_cvv"),
    "bad_date": (SITE.replace("2016-12-31", '"2016-13-31"'), "sites[0].period_end"),
    "k_table": ('[params]\nk_table = "nope"\n' + SITE, "params.k_table"),
    "age_rule": ('[params]\nage_rule = "linear"\n' + SITE, "params.age_rule"),
    "group_share": (SITE + "group_share = {oncolgy = 1.0}\n", "sites[0].group_share"),
    "end_before_start": (SITE.replace("2016-12-31", "2014-12-31"), "sites[0].period_end"),
    "ct_growth": (SITE + "ct_growth = 2.0\n", "sites[0].ct_growth"),
    "duplicate": (SITE + SITE, "sites[].facility"),
    "no_sites": ('name = "other"\n', "sites"),
    "selection_date": (SITE + '[selection]\nexam_from = "x"\nexam_to = 2016-01-01\n', "exam_from"),
    "description": ("description = 3\n" + SITE, "description"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_profile_file_errors_name_the_file_and_the_key(tmp_path: Path, case: str) -> None:
    text, key = BAD_FILES[case]
    path = _write(tmp_path, case, text)
    with pytest.raises(ParameterError) as info:
        load_profile(path)
    message = str(info.value)
    assert message.startswith(f"profile file {path}: ") and key in message
    assert "profile 'other'" not in message  # the file, not its name key


def test_an_unreadable_profile_file_is_a_parameter_error(tmp_path: Path) -> None:
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    with pytest.raises(ParameterError, match="cannot be read"):
        load_profile(folder)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"name = '\xff\xfe'\n")
    with pytest.raises(ParameterError, match="not valid TOML"):
        load_profile(binary)


# --------------------------------------------------------------------------- 6. no patients
@pytest.mark.parametrize("name", ["small", "sodickson2009"])
def test_a_cohort_of_no_patients_reads_back_as_no_rows(tmp_path: Path, name: str) -> None:
    folder = write_cohort(name, tmp_path / "c", n_patients=0)
    manifest = _manifest(folder)
    assert manifest["rows"] == manifest["parameters"]["exams"] == 0
    assert manifest["parameters"]["patients"] == 0
    back = read_exams(folder).exams
    assert back.height == 0
    assert pl.read_parquet(f"{folder}/**/*.parquet").schema == generate(name, n_patients=0).schema


# --------------------------------------------------------------------------- 7. parent folders
def test_a_late_error_leaves_no_parent_folders(tmp_path: Path) -> None:
    prof = load_profile("sodickson2009").copy()
    prof.selection["min_age_at_exam"] = 130.0
    with pytest.raises(ParameterError, match="no patient selected"):
        write_cohort(prof, tmp_path / "deep" / "a" / "b" / "c", n_patients=10)
    assert not (tmp_path / "deep").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(ParameterError, match="no patient selected"):
        write_cohort(prof, tmp_path / "kept" / "a" / "c", n_patients=10)
    assert (tmp_path / "kept").is_dir() and not (tmp_path / "kept" / "a").exists()


def test_output_folder_and_atomic_file_remove_only_the_empty_parents_they_made(
    tmp_path: Path,
) -> None:
    from recurct._outdir import atomic_file, output_folder

    with pytest.raises(RuntimeError), output_folder(tmp_path / "p" / "q" / "r", kind="t"):
        (tmp_path / "p" / "other.txt").write_text("someone else's", encoding="utf-8")
        raise RuntimeError
    assert (tmp_path / "p" / "other.txt").exists() and not (tmp_path / "p" / "q").exists()
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "f" / "g" / "x.csv"):
        raise RuntimeError
    assert not (tmp_path / "f").exists()
    with output_folder(tmp_path / "s" / "t", kind="t") as out:
        (out.path / "a.txt").write_text("a", encoding="utf-8")
    assert (tmp_path / "s" / "t" / "a.txt").exists()

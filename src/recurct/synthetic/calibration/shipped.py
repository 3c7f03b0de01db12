"""The shipped calibrations: targets (each read from its study's ``PUBLISHED`` figure, with its
source), free parameters and options of each fitted profile.

What each fit found and how it got there (its history) is the ``[calibration] notes`` of the
profile file (``profiles/<name>.toml``), kept by a re-run, and is told in docs/synthetic.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CALIBRATIONS"]

_FRIJA = "Frija et al. 2021, Eur Radiol 31:5514-5523, doi 10.1007/s00330-021-07696-1 (EuroSafe Q5)"
_REHANI = "Rehani et al. 2020, Eur Radiol 30:1828-1836, doi 10.1007/s00330-019-06523-y"
_SODICKSON = "Sodickson et al. 2009, Radiology 251:175-184"


def _pub(study: str, key: str, per: float = 1.0) -> float | int:
    """The published value of figure ``key`` of ``study`` (``recurct.studies.<study>.
    PUBLISHED``, cited in docs/sources.md) divided by ``per`` (100 for a % as a fraction):
    the calibration targets and the studies' tables read each figure from one place."""
    import importlib

    value = float(importlib.import_module(f"recurct.studies.{study}").PUBLISHED[key].value)
    out = float(f"{value / per:.12g}")
    return int(out) if per == 1.0 and out.is_integer() else out


def _days_elapsed(study: str, key: str) -> float:
    """The published figure ``key`` of ``study``, a time in calendar days spanned (the first
    exam's day counts: "a single day" is 1), as days elapsed since the first exam, the unit of
    the statistic ``site_days_to_min_max`` (0: the same day). One rule with the study's table:
    ``recurct.studies.rehani2020._days_spanned``."""
    from recurct.studies.rehani2020 import _days_spanned

    return float(_pub(study, key)) - _days_spanned(0.0)


CALIBRATIONS: dict[str, dict[str, Any]] = {
    "rehani2020": {
        "targets": {
            "n_patients": {
                "value": _pub("rehani2020", "n_patients"),
                "atol": 0.5,
                "source": _REHANI,
                "fit": False,
            },
            "n_exams": {"value": _pub("rehani2020", "n_exams"), "rtol": 0.005, "source": _REHANI},
            "share_reached": {
                "value": _pub("rehani2020", "share_reached_100", 100),
                "atol": 0.0003,
                "source": _REHANI,
            },
            "ced_median_reached": {
                "value": _pub("rehani2020", "ced_median_100"),
                "atol": 2.6,
                "source": _REHANI + " (tolerance 2.6 mSv: 2%, as for the share)",
            },
            "ced_max_reached_expected": {
                "value": _pub("rehani2020", "ced_max"),
                "rtol": 0.15,
                "check": "ced_max_reached_mean_over_seeds",
                "source": _REHANI + " (an extreme value: matched in expectation over seeds)",
            },
            "site_share_age_le50_min": {
                "value": _pub("rehani2020", "share_age_le50_site_min", 100),
                "atol": 0.01,
                "source": _REHANI,
            },
            "site_share_age_le50_max": {
                "value": _pub("rehani2020", "share_age_le50_site_max", 100),
                "atol": 0.01,
                "source": _REHANI,
            },
            "site_days_to_min_max": {
                "max": _days_elapsed("rehani2020", "days_to_100_min_site_max"),
                "source": _REHANI + " (minimum time to 100 mSv: a single day at every site, "
                "read as reached on the day of the first exam: 0 days elapsed)",
                "fit": False,
            },
        },
        "free_params": {
            "groups.oncology.share": (0.05, 0.4),
            "groups.oncology.followup_mean_days": (150.0, 1500.0),
            "groups.oncology.followup_shape": (1.0, 6.0),
            "intensive_rate": (1.5, 8.0),
            "groups.chronic.p_recurrent": (0.1, 0.6),
            "frailty_cv": (0.1, 1.0),
            "sites.USA-2.age_shift": (-10.0, 10.0),
            "sites.Slovakia-1.age_shift": (-10.0, 10.0),
        },
        "options": {
            "fraction": {"default": 0.4, "Slovakia-1": 1.0},
            "over_seeds": {"ced_max_reached": 5},
        },
    },
    "eurosafe2021": {
        "targets": {
            "n_patients": {
                "value": _pub("eurosafe2021", "q5_n_patients"),
                "atol": 0.5,
                "source": _FRIJA,
                "fit": False,
            },
            "n_reached": {
                "value": _pub("eurosafe2021", "q5_n_high"),
                "rtol": 0.02,
                "source": _FRIJA,
            },
            "site_share_reached_max": {
                "value": _pub("eurosafe2021", "q5_share_site_max", 100),
                "atol": 0.001,
                "source": _FRIJA,
            },
            "site_share_reached_mean": {
                "value": _pub("eurosafe2021", "q5_share_mean", 100),
                "atol": 0.0003,
                "source": _FRIJA,
            },
            "site_share_reached_min": {
                "min": 0.0,
                "max": 0.0005,
                "atol": 0.0005,
                "source": _FRIJA + " (0%: read as below 0.05%)",
            },
        },
        "free_params": {
            "groups.oncology.share": (0.02, 0.3),
            "groups.oncology.interval_mean_days": (60.0, 360.0),
            "groups.oncology.followup_mean_days": (150.0, 1500.0),
            "sites.Italy-1.group_share.oncology": (0.05, 2.0),
            "sites.Turkey-3.group_share.oncology": (0.0, 0.2),
            "sites.Turkey-3.dose_scale": (0.3, 1.0),
            "sites.France-1.group_share.oncology": (0.005, 1.0),
            "sites.Germany-1.group_share.oncology": (0.005, 1.0),
        },
        "options": {"fraction": {"default": 0.5, "Italy-1": 1.0, "Turkey-3": 1.0}},
    },
    "sodickson2009": {
        "targets": {
            "n_patients": {
                "value": _pub("sodickson2009", "n_patients"),
                "atol": 0.5,
                "source": _SODICKSON + " (31,462 adults scanned in 2007: exact by selection)",
                "fit": False,
            },
            "n_exams": {
                "value": _pub("sodickson2009", "n_exams"),
                "rtol": 0.01,
                "source": _SODICKSON + " (190,712 CT exams over the prior 22 years)",
            },
            "share_exams_ge5": {
                "value": _pub("sodickson2009", "share_exams_ge5", 100),
                "atol": 0.005,
                "source": _SODICKSON + " (33% had >= 5 CTs; whole percent: +-0.5 points)",
            },
            "share_exams_22_132": {
                "value": _pub("sodickson2009", "share_exams_22_132", 100),
                "atol": 0.005,
                "source": _SODICKSON + " (5% had 22 to 132 CTs; whole percent: +-0.5 points)",
            },
            "share_ced_gt100": {
                "value": _pub("sodickson2009", "share_ced_gt100", 100),
                "atol": 0.005,
                "source": _SODICKSON + " (15% > 100 mSv; whole percent: +-0.5 points)",
            },
            "share_ced_250_1375": {
                "value": _pub("sodickson2009", "share_ced_250_1375", 100),
                "atol": 0.005,
                "source": _SODICKSON + " (4% 250 to 1375 mSv; whole percent: +-0.5 points)",
            },
            "n_exams_max": {
                "value": _pub("sodickson2009", "max_exams"),
                "rtol": 0.1,
                "source": _SODICKSON
                + " (at most 132 CTs: a sample maximum; its mean over the fit seeds within 10%,"
                " so that 132 lies inside the model's central 95% range of the maximum)",
            },
            "ced_max": {
                "value": _pub("sodickson2009", "ced_max"),
                "rtol": 0.1,
                "source": _SODICKSON
                + " (at most 1375 mSv: a sample maximum; its mean over the fit seeds within"
                " 10%, so that 1375 lies inside the model's central 95% range of the maximum)",
            },
        },
        "free_params": {
            "groups.oncology.share": (0.05, 0.4),
            "groups.oncology.followup_mean_days": (150.0, 5000.0),
            "groups.chronic.p_recurrent": (0.1, 0.8),
            "groups.chronic.followup_mean_days": (365.0, 4000.0),
            "groups.chronic.interval_mean_days": (60.0, 365.0),
            "sites.Institution-1.dose_scale": (0.8, 2.0),
            "groups.oncology.interval_mean_days": (40.0, 180.0),
            "frailty_cv": (0.1, 1.0),
            "groups.other.p_recurrent": (0.02, 0.5),
            "groups.oncology.followup_shape": (1.0, 10.0),
            "groups.chronic.followup_shape": (1.0, 6.0),
            "frailty_max": (2.0, 10.0),
            "groups.oncology.late_interval_days": (300.0, 6000.0),
            "groups.chronic.late_interval_days": (300.0, 8000.0),
            "groups.other.late_interval_days": (500.0, 10000.0),
            "groups.acute.late_interval_days": (500.0, 10000.0),
            "groups.acute.p_recurrent": (0.02, 0.6),
            "groups.oncology.phase_mix.1": (0.05, 0.6),
            "sites.Institution-1.ct_growth": (0.0, 0.15),
            # the shape of the count distribution's tail (freed 2026-11-29, docs/synthetic.md)
            "p_intensive": (0.0, 0.15),
            "intensive_rate": (1.5, 8.0),
            "groups.chronic.share": (0.1, 0.5),
            "groups.acute.share": (0.2, 0.6),
            "groups.oncology.p_recurrent": (0.5, 0.95),
            "groups.oncology.interval_shape": (1.0, 5.0),
            "groups.chronic.interval_shape": (1.0, 4.0),
            "groups.oncology.p_same_day": (0.0, 0.15),
            "groups.acute.p_same_day": (0.0, 0.25),
            "groups.other.p_same_day": (0.0, 0.1),
        },
        "options": {
            "fraction": 1.0,
            "seeds": [0, 1, 2, 3, 4],
            "power": 3.0,
            "diff_step": 0.03,
        },
    },
}
"""The shipped calibrations: targets (with their source), free parameters and options."""

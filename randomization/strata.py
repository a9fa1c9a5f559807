"""Strata of the randomisation: the site, and disease duration early (≤ 18 months) or late (protocol)."""

from __future__ import annotations

from datetime import date

from clinical.dates import months_between
from trial_site.protocol import PROTOCOL


def stratum_code(site_code: str, level: str) -> str:
    """``DHK/early``: the site's code and the disease-duration level."""
    return f"{site_code}/{level}"


def stratum_for(*, site_code: str, first_non_raynaud_date: date, screening_date: date) -> str:
    months = months_between(first_non_raynaud_date, screening_date)
    return stratum_code(site_code, PROTOCOL.stratification.level(months))


def strata_for_sites(site_codes: list[str]) -> list[str]:
    return [stratum_code(code, level) for code in site_codes for level in PROTOCOL.stratification.levels]

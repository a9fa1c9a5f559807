"""The protocol definition holds the thresholds of TRIAL.md, exactly as the eligibility tests state them."""

from __future__ import annotations

from datetime import date

from tests.clinical.builders import RULES
from trial_site.protocol import PROTOCOL


def test_the_protocol_eligibility_thresholds_are_those_the_boundary_tests_check() -> None:
    assert PROTOCOL.eligibility == RULES


def test_the_consent_form_in_use_today_is_known() -> None:
    assert PROTOCOL.consent_form("1.0") is not None
    assert PROTOCOL.consent_form("1.0").in_effect_on(date(2026, 1, 1))
    assert not PROTOCOL.consent_form("1.0").in_effect_on(date(2025, 4, 30))
    assert PROTOCOL.max_screening_episodes == 2

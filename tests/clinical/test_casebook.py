"""When a casebook may be signed "accurate and complete": no form due is missing, no query is left unclosed."""

from __future__ import annotations

from datetime import date, timedelta

from clinical.casebook import FormOfVisit, QueryOnForm, casebook_check

TODAY = date(2026, 6, 15)


def form(**changes: object) -> FormOfVisit:
    values: dict[str, object] = {"visit": "W12", "form": "Modified Rodnan skin score", "entered": False}
    return FormOfVisit(**{**values, **changes})  # type: ignore[arg-type]


def test_a_form_of_a_visit_that_took_place_is_missing_until_entered() -> None:
    missing = form(visit_done_on=TODAY - timedelta(days=2), window_closes=TODAY + timedelta(days=5))
    check = casebook_check([missing, form(form="Vital signs", entered=True, visit_done_on=TODAY)], [], today=TODAY)
    assert check.missing == (missing,) and not check.may_sign


def test_a_form_of_a_visit_whose_window_closed_is_missing_but_not_one_still_in_its_window() -> None:
    overdue = form(visit="W4", window_closes=TODAY - timedelta(days=1))
    in_window = form(visit="W8", window_closes=TODAY)
    assert casebook_check([overdue, in_window], [], today=TODAY).missing == (overdue,)


def test_missed_visits_and_forms_not_required_ask_for_nothing() -> None:
    forms = [
        form(window_closes=TODAY - timedelta(days=9), visit_not_due=True),
        form(form="Pregnancy test", visit_done_on=TODAY, not_required=True),
    ]
    assert casebook_check(forms, [], today=TODAY).may_sign


def test_open_and_answered_queries_stand_in_the_way_closed_ones_do_not() -> None:
    queries = [
        QueryOnForm("Vital signs, W4", "Temperature", "open"),
        QueryOnForm("Laboratory panel, W4", "ALT", "answered"),
        QueryOnForm("HAQ-DI, W4", "whole form", "closed"),
    ]
    check = casebook_check([], queries, today=TODAY)
    assert [query.status for query in check.unresolved] == ["open", "answered"] and not check.may_sign


def test_everything_entered_and_closed_may_be_signed() -> None:
    forms = [form(entered=True, visit_done_on=TODAY - timedelta(days=1))]
    queries = [QueryOnForm("Vital signs, W4", "Temperature", "closed")]
    assert casebook_check(forms, queries, today=TODAY).may_sign

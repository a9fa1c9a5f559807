"""Dates in a real browser, in English and in Bangla: every date field of every data-entry form a participant's
pages lead to takes the date typed into the browser's date input exactly, and refuses an ambiguous typed date
(06/12/2026) with a message next to the field, storing nothing.

The forms are found from the pages (the participant's screening, visit and safety pages and the links on them),
not from a list, so a new form with a date is covered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.apps import apps
from django.db import models
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services
from visits.crfs import PregnancyTest, StudyDrug

pytestmark = pytest.mark.e2e

DATE_INPUTS = "input[type=date], input[type=datetime-local]"
# Open a form folded away on its page, as a person would before typing into it.
UNFOLD = """form => { for (let e = form; e; e = e.parentElement) {
    if (e.tagName === 'DETAILS') e.open = true;
    if (getComputedStyle(e).display === 'none') e.style.display = 'block';
} }"""
# The answer each dependent field applies on (its data-shown-when / data-shown-values: the interruption's dates when
# the study drug was interrupted, a test's date once its result is given, …), so that the page shows it; then no to
# the other unanswered yes/no questions, so that the form saves and its dates can be read back.
OPEN_BRANCHES = """form => {
    for (const field of form.querySelectorAll('[data-shown-when]')) {
        const gate = form.querySelector(`[name="${field.dataset.shownWhen}"]`);
        const wanted = JSON.parse(field.dataset.shownValues)[0];
        if (!gate || gate.disabled) continue;
        if (gate.type === 'checkbox') { gate.checked = wanted === 'true'; continue; }
        const option = [...gate.options].find(o => o.value.toLowerCase() === wanted);
        if (option) gate.value = option.value;
    }
    form.dispatchEvent(new Event('change'));
}"""
ANSWER_GATES = """form => { for (const e of form.querySelectorAll('select, input[type=checkbox]')) {
    if (e.type === 'checkbox' || e.value) continue;
    const option = [...e.options].find(o => ['False', 'false', 'no', '0'].includes(o.value));
    if (option) e.value = option.value;
} }"""
FORMAT_HINT = "2026-12-06"  # every refusal message shows how to write the date


def _history_rows() -> int:
    return sum(
        model.objects.count()
        for model in apps.get_models()
        if model.__name__.startswith("Historical") and hasattr(model, "history_date")
    )


def _history_since(moment: dt.datetime) -> list[tuple[type, Any]]:
    rows = []
    for model in apps.get_models():
        if model.__name__.startswith("Historical") and "history_date" in {f.name for f in model._meta.fields}:
            rows.extend((model, row) for row in model.objects.filter(history_date__gte=moment))
    return rows


def _switch_to_bangla(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    switcher = page.get_by_test_id("language-switcher")
    switcher.get_by_label("Language").select_option("bn")
    switcher.get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "bn")


def _pages(page: Page, base: str, participant: Any, visits: list[Any]) -> list[str]:
    """The participant's pages and every form page their links lead to."""
    start = [
        f"/screening/{participant.screening_number}/",
        f"/screening/{participant.screening_number}/details/",
        *(f"/visits/{visit.pk}/" for visit in visits),
        f"/visits/participants/{participant.screening_number}/",
        f"/visits/participants/{participant.screening_number}/medications/",
        f"/safety/participants/{participant.screening_number}/",
    ]
    found: list[str] = []
    for path in start:
        page.goto(base + path)
        if path not in found:
            found.append(path)
        for href in page.eval_on_selector_all("a[href*='/forms/']", "links => links.map(a => a.getAttribute('href'))"):
            path_only = href.split("?")[0].split("#")[0]
            # the screening forms and the forms of the visits done
            wanted = path_only.startswith(("/screening/", *(f"/visits/{visit.pk}/" for visit in visits)))
            if wanted and path_only not in found:
                found.append(path_only)
    return found


def _forms_with_dates(page: Page) -> list[int]:
    return page.eval_on_selector_all(
        "form",
        f"forms => forms.map((f, i) => f.querySelector('{DATE_INPUTS}') && f.method.toLowerCase() === 'post' ? i : -1)"
        ".filter(i => i >= 0)",
    )


def _submit(page: Page, index: int) -> None:
    """Submit the ``index``-th form of the page with its first button (a case report form's "Save as draft": the
    dates are the question here, not whether the form is complete), the browser's own checks off (a person
    without them, or another browser, could send anything); a form folded away on the page is sent as well."""
    form = page.locator("form").nth(index)
    with page.expect_navigation():
        form.evaluate(
            "f => { f.noValidate = true; f.requestSubmit(f.querySelector('button[name=complete][value=\"0\"]')"
            " || f.querySelector('button[type=submit], input[type=submit], button:not([type])')); }"
        )


def _refuses_typed_text(page: Page, base: str, path: str) -> int:
    """Each date of each form on the page, sent as ambiguous text: refused at the field, nothing stored."""
    page.goto(base + path)
    checked = 0
    for index in _forms_with_dates(page):
        page.goto(base + path)
        form = page.locator("form").nth(index)
        form.evaluate(OPEN_BRANCHES)
        names = form.locator(DATE_INPUTS).evaluate_all(
            "inputs => inputs.map(el => { const moment = el.type === 'datetime-local';"
            " el.type = 'text'; el.value = moment ? '06/12/2026 10:30' : '06/12/2026'; return el.name; })",
        )
        before = _history_rows()
        _submit(page, index)
        assert _history_rows() == before, f"{path}: something was stored"
        for name in names:
            field = page.locator(f"[name='{name}']").first
            holder = field.locator("xpath=ancestor::*[.//*[contains(@class,'invalid-feedback')]][1]")
            expect(holder.locator(".invalid-feedback").first).to_contain_text(FORMAT_HINT)
            checked += 1
    return checked


def _fill_and_store(page: Page, base: str, path: str, day: dt.date) -> set[str]:
    """Every date of each form on the page entered through the date input as ``day``; the names of the fields
    the page then shows no error for (those must be stored as ``day`` exactly)."""
    page.goto(base + path)
    stored: set[str] = set()
    for index in _forms_with_dates(page):
        page.goto(base + path)
        form = page.locator("form").nth(index)
        form.evaluate(UNFOLD)
        form.evaluate(OPEN_BRANCHES)
        form.evaluate(ANSWER_GATES)
        names = []
        for field in form.locator(DATE_INPUTS).all():
            moment = field.get_attribute("type") == "datetime-local"
            field.fill(f"{day.isoformat()}T09:15" if moment else day.isoformat())
            names.append(field.get_attribute("name"))
        for text in form.locator("input[type=text][data-shown-when], textarea[data-shown-when]").all():
            text.fill("held for a week")  # a reason the opened branch needs (the interruption's, the dose change's)
        for text in form.locator("[name$=reason_for_change]").all():
            text.fill("date entered through the date input")
        _submit(page, index)
        expect(page.get_by_text("YYYY-MM-DD")).to_have_count(0)
        errors = page.locator(".invalid-feedback, .errorlist").count()
        if errors == 0:
            stored.update(name.split("-")[-1] for name in names)
    return stored


@pytest.mark.parametrize("language", ["en", "bn"])
def test_every_date_field_stores_the_date_meant_and_refuses_ambiguous_text(
    page: Page, live_server: Any, log_in: Any, site: Any, user_with_role: Any, language: str
) -> None:
    coordinator = user_with_role(Role.COORDINATOR, username="rahima")
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    today = timezone.localdate()
    participant = randomised_on(today - dt.timedelta(days=35), site, coordinator, investigator)
    d1, w4 = participant.visits.get(code="D1"), participant.visits.get(code="W4")
    for visit in (d1, w4):
        services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)
    base = live_server.url

    log_in(page, "rahima")
    if language == "bn":
        _switch_to_bangla(page, base)
    paths = _pages(page, base, participant, [d1, w4])
    assert f"/visits/{d1.pk}/forms/pregnancy/" in paths and f"/visits/{w4.pk}/forms/drug/" in paths

    refused = sum(_refuses_typed_text(page, base, path) for path in paths)
    assert refused >= 10

    since = timezone.now()
    stored: set[str] = set()
    meant = {d1: d1.done_on - dt.timedelta(days=3), w4: w4.done_on - dt.timedelta(days=3)}
    for visit, day in meant.items():
        for path in paths:
            if path.startswith(f"/visits/{visit.pk}/forms/"):
                stored |= _fill_and_store(page, base, path, day)
    assert {"tested_on", "period_start", "interruption_from", "interruption_to"} <= stored
    assert PregnancyTest.objects.get(visit=d1).tested_on == meant[d1]
    drug = StudyDrug.objects.get(visit=w4)
    assert (drug.period_start, drug.interruption_from, drug.interruption_to) == (meant[w4],) * 3
    for path in paths:
        if "/forms/" not in path or path.startswith("/screening/"):
            stored |= _fill_and_store(page, base, path, participant.screening_date)
    allowed = {*meant.values(), participant.screening_date}
    assert _every_stored_date_is_one_of(allowed, since, stored) >= 3


def _every_stored_date_is_one_of(days: set[dt.date], since: dt.datetime, names: set[str]) -> int:
    """Every date (or moment's day) saved since ``since`` in a field the test filled is one of the ``days``
    entered; how many there were."""
    seen = 0
    for model, row in _history_since(since):
        for field in model._meta.fields:
            if field.name not in names or not isinstance(field, models.DateField):
                continue
            value = getattr(row, field.name)
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                local = timezone.localtime(value)
                assert (local.hour, local.minute) == (9, 15), (model.__name__, field.name, value)
                value = local.date()
            assert value in days, (model.__name__, field.name, value)
            seen += 1
    return seen

"""Blinding by design (issue 18, finding 5), over real HTTP against gunicorn as the blinded assessor.

A trial whose randomised participant has laboratory panels with values and grades (a lymphocyte count that holds
baricitinib), concomitant medications with folic acid, study drug records, a laboratory alert, and several mRSS
scores. The blinded assessor:

- crawls from their home page, following every link and every download, and finds none of: arm, drug names,
  doses, hold-rule texts, laboratory values, concomitant medications, earlier mRSS scores;
- opens every URL of the URL configuration with sample values (every visit × every form), so pages no link
  reaches are covered too, and finds none of them either;
- and, one test each for the outside testers' three examples: the participant page shows no laboratory trends or
  grades, the concomitant medications page (folic acid) is refused, and while scoring the mRSS no earlier score
  is on screen or on a page reachable from it.

The distinctive values (ALC 0.437, mRSS totals 34, 37, 44, 46, …) appear nowhere else; an unblinded investigator
sees each of them, so the absence means the blinded view hides them, not that the data were never there.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.utils import timezone

from clinical.mrss import MRSS_AREAS
from randomization import services as randomization_services
from safety import services as safety_services
from safety.models import LabAlert
from screening import services as screening_services
from screening.models import Day1Baseline, Participant
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, StaffSession
from tests.randomization.factories import list_in_use
from tests.randomization.test_blinding import concrete_paths
from tests.screening.factories import register, save_form, screen_eligible
from tests.visits.test_schedule import DHAKA
from trial_site import registry
from trial_site.protocol import PROTOCOL
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel, StudyDrug, VisitMrss
from visits.models import ConcomitantMedication, Visit

CHART = re.compile(r'<svg[^>]*role="img"')

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]

AREAS = [code for code, _label in MRSS_AREAS]
# Laboratory values that appear nowhere else: ALC 0.437 is grade 3 and breaks baricitinib's hold rule.
LAB_VALUES = {"hb_g_dl": 9.87, "wbc": 2.468, "anc": 1.357, "alc": 0.437, "platelets": 123.4, "alt": 87.6}
MEDICATIONS = ("Folic acid", "Nifedipine retard")
EARLIER_TOTALS = {"screening": 34, "day1_baseline": 37, "D1": 44, "W4": 46}
CURRENT_TOTAL = 29  # the W12 mRSS being scored now: the assessor sees their own entry


def scores(total: int) -> dict[str, int]:
    """Area scores (0–3) adding up to ``total``."""
    values, left = {}, total
    for code in AREAS:
        values[code] = min(3, left)
        left -= values[code]
    assert sum(values.values()) == total and left == 0, values
    return values


def forbidden_texts(arm_code: str) -> list[re.Pattern[str]]:
    """What a blinded page or download must not contain."""
    literal = [arm.drug for arm in PROTOCOL.arms] + [arm.dose for arm in PROTOCOL.arms] + list(MEDICATIONS)
    literal += ["folic acid", "4 mg once daily", "25 mg once weekly"]
    literal += [rule.text for rules in PROTOCOL.lab_rules.values() for rule in rules]
    literal += [f"{value:g}" for value in LAB_VALUES.values()]
    patterns = [re.compile(re.escape(text), re.IGNORECASE) for text in literal]
    patterns += [re.compile(rf"\barm {arm.code}\b", re.IGNORECASE) for arm in PROTOCOL.arms]
    patterns.append(re.compile(r'data-grade="'))
    return patterns


TIMES = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}(:\d{2})?")
TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.DOTALL | re.IGNORECASE)
EARLIER = re.compile(r"(?<![\d.,])(" + "|".join(str(t) for t in EARLIER_TOTALS.values()) + r")(?![\d.,])")


def visible_text(body: str) -> str:
    """The words a reader sees: no tags, attributes or scripts, no dates or clock times."""
    return TIMES.sub(" ", TAGS.sub(" ", body))


def leaks(body: str, arm_code: str) -> list[str]:
    found = [pattern.pattern for pattern in forbidden_texts(arm_code) if pattern.search(body)]
    found += [f"earlier mRSS {match.group(1)}" for match in EARLIER.finditer(visible_text(body))]
    return found


def done(participant: Participant, code: str, by: Any) -> Visit:
    visit = participant.visits.get(code=code)
    return visit_services.visit_record_done(visit=visit, by=by, done_on=visit.target_date)


def loaded_participant(site: Any, coordinator: Any, investigator: Any, assessor: Any, day1: date) -> Participant:
    """A participant randomised on ``day1`` with everything the arm determines or predicts, and earlier mRSS."""
    participant = register(site, coordinator, screening_date=day1 - timedelta(days=7))
    participant = screen_eligible(participant, coordinator, mrss_per_area=2)  # screening mRSS 34
    screening_services.eligibility_confirm(participant=participant, by=investigator)
    save_form(Day1Baseline, participant, investigator, {
        "day1": day1, "assessor": assessor, **scores(EARLIER_TOTALS["day1_baseline"]), "mycophenolate_g_day": 0.0,
        "renal_crisis_since_screening": False})  # fmt: skip
    at = datetime.combine(day1, time(10), tzinfo=DHAKA)
    allocation = randomization_services.participant_randomize(participant=participant, by=investigator, at=at)
    participant = Participant.objects.get(pk=participant.pk)
    visits = {code: done(participant, code, coordinator) for code in ("D1", "W2", "W4", "W8", "W12")}
    for code in ("D1", "W4"):
        mrss = VisitMrss(visit=visits[code], assessor=assessor, **scores(EARLIER_TOTALS[code]))
        visit_form_save(record=mrss, by=assessor, complete=True)
    visit_form_save(record=VisitMrss(visit=visits["W12"], assessor=assessor, **scores(CURRENT_TOTAL)), by=assessor,
                    complete=False)  # fmt: skip
    for code in ("W2", "W4"):
        panel = LabPanel(visit=visits[code], **LAB_VALUES, alt_uln=40.0, creatinine=0.8, creatinine_unit="mg/dL",
                         unusual_values_confirmed=True)  # fmt: skip
        visit_form_save(record=panel, by=coordinator, complete=True)
        safety_services.lab_alerts_check(panel_id=panel.pk)
    dose = "4 mg once daily" if allocation.arm == "A" else "25 mg once weekly"
    drug = StudyDrug(visit=visits["W4"], dispensed=30, returned=4, period_start=day1, tablets_per_week=7.0,
                     current_dose=dose)  # fmt: skip
    visit_form_save(record=drug, by=coordinator, complete=True)
    for name, dose_text in zip(MEDICATIONS, ("5 mg", "20 mg"), strict=True):
        visit_services.medication_add(
            medication=ConcomitantMedication(
                participant=participant, site=site, drug=name, dose=dose_text, frequency="once weekly",
                indication="as prescribed", start_date=day1 + timedelta(days=1)),
            by=coordinator,
        )  # fmt: skip
    return participant


@pytest.fixture
def trial(site: Any, coordinator: Any, investigator: Any, assessor: Any, statistician: Any) -> Participant:
    """Participants randomised 90 days ago, loaded, until both arms have one (the first is returned): the
    baricitinib participant's ALC 0.437 raises the lymphocyte hold alert, the methotrexate one's counts theirs."""
    list_in_use(statistician)
    day1 = timezone.localdate() - timedelta(days=90)
    participants = [loaded_participant(site, coordinator, investigator, assessor, day1)]
    while len({p.allocation.arm for p in participants}) < 2:
        participants.append(loaded_participant(site, coordinator, investigator, assessor, day1))
    baricitinib = next(p for p in participants if p.allocation.arm == "A")
    assert LabAlert.objects.filter(participant=baricitinib, rule="BARI_ALC").exists()
    return participants[0]


def crawl(session: StaffSession, start: str = "/", limit: int = 600) -> dict[str, tuple[int, str, str]]:
    """Every same-site page and download reachable from ``start`` by links (href, src) and redirects: path →
    (status, content type, body)."""
    seen: dict[str, tuple[int, str, str]] = {}
    queue = deque([start])
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        response = session.get(path)
        kind = response.headers.get("Content-Type", "")
        body = response.content.decode("utf-8", errors="replace")
        seen[path] = (response.status_code, kind, body)
        targets = [response.headers["Location"]] if response.is_redirect else []
        if "html" in kind:
            targets += re.findall(r'(?:href|src)="([^"#]+)', body)
        for target in targets:
            url = urlsplit(urljoin(session.url(path), target.replace("&amp;", "&")))
            if url.netloc and url.netloc != urlsplit(session.url("/")).netloc:
                continue
            link = url.path + (f"?{url.query}" if url.query else "")
            if link.startswith(("/static/", "/admin/", "/i18n/", "/accounts/logout")) or link in seen:
                continue
            queue.append(link)
    return seen


def test_a_crawl_as_the_blinded_assessor_finds_no_arm_drug_dose_rule_lab_value_medication_or_earlier_mrss(
    live_gunicorn: GunicornServer,  # noqa: F811
    trial: Participant,
    assessor: Any,
    investigator: Any,
) -> None:
    arm = trial.allocation.arm
    # The data are there: the unblinded investigator sees them.
    unblinded = live_gunicorn.login(investigator)
    page = unblinded.get(f"/visits/participants/{trial.screening_number}/").text
    assert "0.437" in page and 'data-grade="lymphocytes:3"' in page
    assert "Folic acid" in unblinded.get(f"/visits/participants/{trial.screening_number}/medications/").text
    assert "46" in visible_text(page) and "44" in visible_text(page)

    pages = crawl(live_gunicorn.login(assessor))
    opened = {path for path, (status, _kind, _body) in pages.items() if status == 200}
    number = trial.screening_number
    w12 = trial.visits.get(code="W12")
    for expected in ("/", f"/screening/{number}/", f"/visits/participants/{number}/",
                     f"/randomization/participants/{number}/", f"/visits/{w12.pk}/forms/mrss/"):  # fmt: skip
        assert expected in opened, sorted(opened)
    assert any(kind.startswith("image/svg") for _s, kind, _b in pages.values()), "the crawl reached no download"
    found = {path: leaks(body, arm) for path, (_status, _kind, body) in pages.items()}
    assert {path: what for path, what in found.items() if what} == {}


def test_every_url_of_the_url_configuration_shows_the_blinded_assessor_none_of_it(
    live_gunicorn: GunicornServer,  # noqa: F811
    trial: Participant,
    assessor: Any,
) -> None:
    session = live_gunicorn.login(assessor)
    number = trial.screening_number
    values = {"number": number, "code": "DHK", "site_code": "DHK", "version": "1.0", "slug": "mrss", "pk": "1",
              "job_id": "1", "sites:pk": str(assessor.pk), "staff:pk": str(assessor.pk)}  # fmt: skip
    paths: set[str] = set()
    for visit in trial.visits.all():
        for code in registry.visit_form_labels():
            paths |= set(concrete_paths(values | {"visits:pk": str(visit.pk), "visits:code": code}))
    from screening.models import SCREENING_FORMS

    paths |= {f"/screening/{number}/forms/{model.slug}/" for model in SCREENING_FORMS}
    found = {}
    for path in sorted(paths):
        response = session.get(path)
        assert response.status_code < 500, path
        what = leaks(response.content.decode("utf-8", errors="replace"), trial.allocation.arm)
        if what:
            found[path] = what
    assert found == {}


def test_the_participant_page_shows_the_blinded_assessor_no_laboratory_trend_or_grade(
    live_gunicorn: GunicornServer,  # noqa: F811
    trial: Participant,
    assessor: Any,
) -> None:
    page = live_gunicorn.login(assessor).get(f"/visits/participants/{trial.screening_number}/")
    assert page.status_code == 200
    assert "0.437" not in page.text and "data-grade=" not in page.text and 'data-testid="lab-trends"' not in page.text
    assert 'data-testid="labs-blinded"' in page.text


def test_the_concomitant_medications_page_with_folic_acid_is_refused_to_the_blinded_assessor(
    live_gunicorn: GunicornServer,  # noqa: F811
    trial: Participant,
    assessor: Any,
) -> None:
    session = live_gunicorn.login(assessor)
    page = session.get(f"/visits/participants/{trial.screening_number}/medications/")
    assert page.status_code == 403
    assert "folic" not in page.text.lower()
    participant_page = session.get(f"/visits/participants/{trial.screening_number}/").text
    assert "/medications/" not in participant_page


def test_while_scoring_the_mrss_the_blinded_assessor_sees_no_earlier_score_there_or_a_click_away(
    live_gunicorn: GunicornServer,  # noqa: F811
    trial: Participant,
    assessor: Any,
) -> None:
    session = live_gunicorn.login(assessor)
    number = trial.screening_number
    w12, w4 = trial.visits.get(code="W12"), trial.visits.get(code="W4")
    scoring = session.get(f"/visits/{w12.pk}/forms/mrss/")
    assert scoring.status_code == 200  # the form being scored: its own values
    # The earlier mRSS forms (complete, or followed by a later one) and the screening mRSS are closed.
    assert session.get(f"/visits/{w4.pk}/forms/mrss/").status_code == 403
    assert session.get(f"/screening/{number}/forms/mrss/").status_code == 403
    # Neither the form nor the pages a click away show an earlier total, chart or change from baseline.
    reachable = [f"/visits/participants/{number}/", f"/visits/{w12.pk}/", f"/screening/{number}/"]
    for path in [f"/visits/{w12.pk}/forms/mrss/", *reachable]:
        body = session.get(path).text
        assert not EARLIER.search(visible_text(body)), (path, EARLIER.findall(visible_text(body)))
        # No chart (a picture: role="img"; the header's search icon is an svg too, hidden from reading)
        assert 'data-testid="mrss-change"' not in body and not CHART.search(body), path

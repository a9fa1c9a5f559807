"""A day at the trial in a real browser, on the demo trial (``seed_demo``: 40 screened, 20 randomised at every
stage, adverse events, queries, reminders). Each person logs in through the login form, in a browser of their
own, and finds their way by the menus and links:

1. the coordinator registers a patient screened the day before (Day −1) with consent and enters the five screening
   forms; the page says "Eligible"; the investigator confirms eligibility, records the Day 1 baseline form,
   randomises, and sees the allocation and the treatment;
2. at another participant's week-4 visit the coordinator records the visit and
3. reports a pneumonia that needed admission: a serious adverse event, its SAE report due 24 hours after the
   site learned of it, on the safety page's clock;
4. the blinded assessor enters the week-4 mRSS, the total computed as the 17 areas are scored;
5. the monitor, verifying that mRSS against the source, raises a query; the site answers; the monitor closes it;
6. the administrator exports CDISC ODM from the export centre (a job: run by a real Celery worker when PostgreSQL
   and Redis are there, as in CI), watches the progress bar reach "ready", downloads the file and finds in it
   the week-4 mRSS and the adverse event entered in the browser;

then a tour of the other key pages on the same data. One test, because the demo trial takes most of its time to
build and the steps tell one story (the ODM file holds what the earlier steps entered); each step is a function
of its own, so a failure names it. With ``SCREENSHOTS_DIR`` set (``make screenshots``) the key pages are saved as
pictures for the user guides (``tests/e2e/screenshots.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from lxml import etree
from playwright.sync_api import Browser, Locator, Page, expect

from clinical.mrss import MRSS_AREAS
from exports.models import ExportJob
from exports.scope import ExportScope
from exports.services import export_request, export_run
from randomization import services as randomisation_services
from randomization.models import Allocation
from reminders.models import Reminder
from reminders.services import reminder_deliver
from safety.models import AdverseEvent
from screening import services as screening_services
from screening.models import Participant
from tests.conftest import redis_problem
from tests.e2e.conftest import SCREENSHOT_DIR
from tests.e2e.screenshots import Camera, screenshots_dir
from tests.screening.factories import consent_for, participant_fields, record_day1, screen_eligible
from trial_site.celery import app
from trial_site.management.commands.seed_demo import DEMO_USERS
from trial_site.models import Site
from trial_site.protocol import PROTOCOL
from visits.demo import _enter_forms as enter_demo_forms
from visits.models import Visit
from visits.services import visit_record_done

pytestmark = pytest.mark.e2e

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
WAIT_FOR_EXPORT_MS = 120_000

# The week-4 skin scores the assessor enters (each area's label on the form → score); total 15.
W4_SCORES = {
    "Face": 0, "Anterior chest": 1, "Abdomen": 0, "Fingers, right": 2, "Fingers, left": 2,
    "Dorsum of hand, right": 1, "Dorsum of hand, left": 1, "Forearm, right": 1, "Forearm, left": 2,
    "Upper arm, right": 1, "Upper arm, left": 1, "Thigh, right": 1, "Thigh, left": 1, "Lower leg, right": 0,
    "Lower leg, left": 1, "Dorsum of foot, right": 0, "Dorsum of foot, left": 0,
}  # fmt: skip
W4_TOTAL = sum(W4_SCORES.values())
# The new patient's screening scores: one grade more than at week 4 in every area (total 32).
SCREENING_SCORES = {label: min(3, score + 1) for label, score in W4_SCORES.items()}
SCORE_LABELS = {0: "0 normal", 1: "1 mild", 2: "2 moderate", 3: "3 severe"}
PNEUMONIA = "Community-acquired pneumonia, admitted for IV antibiotics"
QUESTION = "The source document scores the left forearm 1, not 2: please check."
ANSWER = "Checked with the assessor's worksheet: the left forearm is 2 (the source was misread); no change."
CLOSING = "Agreed with the worksheet."


# --- The demo trial ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoTrial:
    site: Site
    week_4: Participant  # randomised four weeks ago: the week-4 visit is today
    names: dict[str, str]  # username → full name, as the pages show people


def _due_for_week_4(site: Site, users: dict[str, Any]) -> Participant:
    """A participant screened six weeks ago and randomised four weeks ago, Day 1 and week 2 done with their forms
    entered (with the demo's own values), so the week-4 visit is today."""
    day1 = timezone.localdate() - timedelta(days=28)
    screened = day1 - timedelta(days=14)
    zone = ZoneInfo(site.time_zone)
    participant = screening_services.participant_register(
        participant=Participant(site=site, **participant_fields(screening_date=screened, initials="JBK")),
        consent=consent_for(site, users["coordinator"], consented_at=datetime.combine(screened, time(9, 30), zone)),
        by=users["coordinator"],
    )
    participant = screen_eligible(participant, users["coordinator"])
    screening_services.eligibility_confirm(participant=participant, by=users["investigator"])
    # One transaction: the schedule, made after commit from the randomisation's date, starts four weeks ago.
    record_day1(participant, users["investigator"], day1=day1)
    with transaction.atomic():
        allocation = randomisation_services.participant_randomize(
            participant=participant, by=users["investigator"], at=datetime.combine(day1, time(9, 0), zone)
        )
        allocation.randomised_at = datetime.combine(day1, time(10, 0), zone)
        allocation.save(by=users["investigator"], reason="randomised at the Day 1 visit, entered later")
    for code in ("D1", "W2"):
        visit = Visit.objects.get(participant=participant, code=code)
        visit_record_done(visit=visit, by=users["coordinator"], done_on=visit.target_date)
    enter_demo_forms(0, allocation, users["coordinator"], users["investigator"], users["assessor"])
    return Participant.objects.get(pk=participant.pk)


def _deliver_the_demo_send_now_reminders(site: Site) -> None:
    """The demo asks for three reminders to be sent now; the test settings' eager tasks send them while the demo
    is made, unless that is in the quiet hours (21:00-08:00). Then deliver those still waiting as the worker will
    in the morning: claimed as a sweep claims them, at a moment outside the quiet hours (SMS to the file outbox)."""
    moment = timezone.localtime(timezone.now(), ZoneInfo(site.time_zone))
    if not 8 <= moment.hour < 21:
        moment = moment.replace(hour=20 if moment.hour >= 21 else 8, minute=30)
    waiting = Reminder.objects.filter(site=site, status=Reminder.Status.PLANNED).exclude(send_now_at=None)
    for reminder in waiting:
        Reminder.objects.filter(pk=reminder.pk).update(status=Reminder.Status.SENDING, claimed_at=moment)
        reminder_deliver(reminder_id=reminder.pk, now=moment)


@pytest.fixture
def demo_trial(transactional_db: Any, settings: Any, tmp_path: Path, password: str) -> DemoTrial:
    """The demo trial of ``seed_demo``, every demo user's password set to the tests' own, the demo's send-now
    reminders delivered, one participant due for week 4 today, and a data manager's export in the export log."""
    settings.SMS_OUTBOX_PATH = tmp_path / "sms.jsonl"
    settings.EXPORT_ROOT = tmp_path / "exports"
    call_command("seed_demo", stdout=StringIO())
    usernames = [username for username, *_ in DEMO_USERS]
    users = {user.username: user for user in get_user_model().objects.filter(username__in=usernames)}
    for user in users.values():
        user.set_password(password)
        user.save(update_fields=["password"])
    site = Site.objects.get(code="DHK")
    _deliver_the_demo_send_now_reminders(site)
    week_4 = _due_for_week_4(site, users)
    earlier = export_request(user=users["datamanager"], kind="csv", scope=ExportScope(site_ids=(site.pk,)))
    export_run(earlier.pk)
    names = {username: f"{first} {last}" for username, _role, first, last in DEMO_USERS}
    return DemoTrial(site=site, week_4=week_4, names=names)


class JobRunner:
    """Runs the export job: a real Celery worker (another process, through Redis, on the test's PostgreSQL
    database) when both are there, as in CI; otherwise in the web process after commit, as the other tests do
    (an in-memory SQLite database cannot be shared with another process)."""

    def __init__(self, log: Path | None = None) -> None:
        self.log = log

    @property
    def has_worker(self) -> bool:
        return self.log is not None

    @contextmanager
    def jobs(self) -> Iterator[None]:
        if not self.has_worker:
            yield
            return
        app.conf.update(task_always_eager=False)  # queue through Redis, to the worker
        try:
            yield
        finally:
            app.conf.update(task_always_eager=True)

    def output(self) -> str:
        if self.log is None:
            return "(no worker: the job ran in the web process)"
        return self.log.read_text() if self.log.exists() else "(the worker wrote nothing)"


@pytest.fixture
def job_runner(transactional_db: Any, tmp_path: Path) -> Iterator[JobRunner]:
    from django.conf import settings

    from tests.processes import worker_database_url
    from tests.trial_site.test_celery import celery_process, service_env

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or redis_problem() is not None:
        yield JobRunner()
        return
    # Started first, so the worker boots while the demo trial is being built; it gets work only at the export.
    env = service_env(tmp_path, redis_url=os.environ["REDIS_URL"], DATABASE_URL=worker_database_url())
    log = tmp_path / "worker.log"
    app.control.purge()
    with celery_process("worker", env, log):
        yield JobRunner(log)


# --- The people: one browser each, logged in once through the login form ----------------------------------------


@dataclass
class Day:
    """The day's people, each in a browser of their own (logged in once), the one acting now, and the camera."""

    browser: Browser
    sign_in: Callable[..., None]
    trial: DemoTrial
    camera: Camera
    first_page: Page  # the ``page`` fixture's tab (saved as a picture if the test fails), for the first person
    tabs: dict[str, Page] = field(default_factory=dict)
    page: Page | None = None  # the tab of the person acting now

    def as_(self, username: str) -> Page:
        """Switch to ``username``'s browser, logging them in through the login form the first time."""
        if username not in self.tabs:
            if self.tabs:
                context = self.browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
                tab = context.new_page()
            else:
                tab = self.first_page
            self.sign_in(tab, username)
            expect(tab.get_by_test_id("nav-user")).to_contain_text(self.trial.names[username])
            self.tabs[username] = tab
        self.page = self.tabs[username]
        return self.page

    def open_menu(self, section: str) -> None:
        self.page.get_by_test_id("nav-sections").get_by_role("link", name=section, exact=True).click()

    def field(self, label: str) -> Locator:
        """The form field labelled exactly ``label`` (a required field's label ends with an asterisk)."""
        literal = re.sub(r"([.*+?^${}()|\[\]\\/])", r"\\\1", label)  # escaped for JavaScript's regular expressions
        return self.page.get_by_label(re.compile(rf"^\s*{literal}\s*\*?\s*$"))

    def choose(self, answers: dict[str, str]) -> None:
        """Pick each labelled select's option by its visible text."""
        for label, option in answers.items():
            self.field(label).select_option(label=option)

    def fill(self, values: dict[str, str]) -> None:
        for label, value in values.items():
            self.field(label).fill(value)

    def shoot(self, name: str, *, full_page: bool = True) -> None:
        self.camera.shoot(self.page, name, full_page=full_page)


@pytest.fixture
def day(
    page: Page, browser: Browser, log_in: Callable[..., None], demo_trial: DemoTrial, request: pytest.FixtureRequest
) -> Iterator[Day]:
    people = Day(browser=browser, sign_in=log_in, trial=demo_trial, camera=Camera(screenshots_dir()), first_page=page)
    yield people
    report = getattr(request.node, "report_call", None)
    for username, tab in people.tabs.items():
        if tab is page:
            continue  # the ``page`` fixture saves its own picture
        if report is None or report.failed:
            tab.screenshot(path=SCREENSHOT_DIR / f"{request.node.name}-{username}.png", full_page=True)
        tab.context.close()


# --- 1. Screening, confirmation and randomisation -----------------------------------------------------------------


def register_a_patient(day: Day) -> str:
    """The coordinator registers a 34-year-old woman screened yesterday (randomisation is 1 to 28 days after
    screening) with her consent (thumbprint, witnessed); returns her number."""
    page, today = day.page, timezone.localdate()
    screened = today - timedelta(days=1)
    day.open_menu("Screening")
    page.get_by_test_id("register-DHK").click()
    participant = page.get_by_role("group", name="Participant")
    participant.get_by_label("Screening date").fill(screened.isoformat())
    participant.get_by_label("Initials").fill("rbh")
    participant.get_by_label("Date of birth").fill((today - timedelta(days=34 * 365 + 20)).isoformat())
    participant.get_by_label("Sex").select_option(label="Female")
    participant.get_by_label("Mobile phone").fill("01715 908172")
    participant.get_by_label("Preferred language").select_option(label="Bangla")
    participant.get_by_label("Visit reminders by").select_option(label="SMS")
    participant.get_by_label("Agrees to receive visit reminders").check()
    consent = page.get_by_role("group", name="Informed consent")
    consent.get_by_label("Consent form version").select_option(index=1)
    consented_at = datetime.combine(screened, time(10, 20))  # on the screening day
    consent.get_by_label("Date and time of consent").fill(consented_at.strftime("%Y-%m-%dT%H:%M"))
    consent.get_by_label("Consent obtained by").select_option(label=day.trial.names["coordinator"])
    consent.get_by_label("Signed by").select_option(label="Thumbprint, with an impartial witness")
    consent.get_by_label("Impartial witness").fill("Abdul Karim")
    consent.get_by_label("A signed copy was given to the participant").check()
    page.get_by_role("button", name="Register with consent").click()
    expect(page.get_by_role("alert")).to_contain_text("registered with consent")
    number = page.get_by_role("heading", level=1).inner_text().split()[0]
    assert re.fullmatch(r"DHK-S-\d{4}", number), number
    return number


def enter_screening_form(day: Day, title: str, answers: dict[str, str], values: dict[str, str]) -> None:
    """Open a screening form from the patient's page, choose and type the answers by their labels, save."""
    day.page.get_by_test_id("forms").locator("li", has_text=title).get_by_role("link", name="Enter").click()
    expect(day.page.get_by_role("heading", name=title, level=1)).to_be_visible()
    day.choose(answers)
    day.fill(values)
    day.page.get_by_role("button", name="Save").click()
    expect(day.page.get_by_role("alert")).to_contain_text("saved")


def enter_the_screening_forms(day: Day) -> None:
    """The five screening forms, with the values of an eligible patient, dated the screening day (yesterday)."""
    today = (timezone.localdate() - timedelta(days=1)).isoformat()
    decision = day.page.get_by_test_id("decision")
    expect(decision.locator("strong")).to_have_text("Incomplete")
    enter_screening_form(day, "ACR/EULAR classification criteria", {
        "Skin thickening of the fingers of both hands extending proximal to the MCP joints (sufficient: 9)": "Yes",
        "Raynaud's phenomenon (3)": "Yes", "Anti-topoisomerase I (anti-Scl-70) antibodies (3)": "Yes",
        "Skin thickening spares the fingers (criteria not applicable)": "No",
        "A scleroderma-like disorder explains the picture better (criteria not applicable)": "No",
    }, {})  # fmt: skip
    onset = (timezone.localdate() - timedelta(days=430)).isoformat()
    enter_screening_form(day, "Disease history and skin involvement", {
        **{area: "Yes" for area in ("Fingers", "Hands", "Forearms", "Upper arms", "Chest")},
        **{area: "No" for area in ("Face", "Neck", "Abdomen", "Thighs", "Lower legs", "Feet")},
    }, {"Date of the first manifestation other than Raynaud's phenomenon": onset})  # fmt: skip
    scores = {label: SCORE_LABELS[score] for label, score in SCREENING_SCORES.items()}
    enter_screening_form(day, "Screening mRSS", {**scores, "Assessor": day.trial.names["assessor"]},
                         {"Date of assessment": today})  # fmt: skip
    enter_screening_form(day, "Exclusion history", {
        "E1 Another rheumatic disease": "No", "E3 Major surgery (joint surgery included)": "No",
        "E4 An infected ulcer": "No", "E5 Serious bacterial infection": "No", "E6 Oral corticosteroid": "Prednisolone",
        "E9 Active tuberculosis (clinical, radiographic or laboratory evidence)": "No",
        "E12 Uncontrolled significant renal, hepatic, haematologic, GI, metabolic, endocrine, pulmonary, cardiac or "
        "neurologic disease": "No",
        "E13 Pregnant or breastfeeding": "No", "Woman of childbearing potential": "Yes",
        "Willing to use highly effective contraception during the study and 28 days after": "Yes",
        "E14 Malignancy": "No", "E15 Scleroderma renal crisis": "No", "E16 Anaphylaxis to either study drug": "No",
    }, {"Daily dose (mg/day)": "5", "E7 Mycophenolate mofetil (g/day)": "0"})  # fmt: skip
    expect(decision.locator("strong")).to_have_text("Incomplete")  # the laboratory values are still to come
    enter_screening_form(day, "Screening laboratory values", {
        "HBsAg": "Negative", "HCV antigen": "Negative", "Pregnancy test": "Negative", "Creatinine unit": "mg/dL",
    }, {
        "Date of sampling": today, "Haemoglobin (g/dL)": "11.8", "White cells (×10⁹/L)": "7.2",
        "Neutrophils (ANC) (×10⁹/L)": "4.1", "Platelets (×10⁹/L)": "268", "Lymphocytes (ALC) (×10⁹/L)": "1.9",
        "ALT (U/L)": "24", "ALT upper limit of normal (U/L)": "40", "Creatinine (mg/dL | µmol/L)": "0.7",
        "FVC (% predicted)": "81",
        "DLCO, uncorrected for Hb (% predicted)": "68", "Date of the HBsAg test": today,
        "Date of the HCV antigen test": today, "Date of the pregnancy test": today,
    })  # fmt: skip


def screen_a_patient(day: Day) -> str:
    """Returns the new patient's screening number."""
    page = day.as_("coordinator")
    expect(page.get_by_role("heading", name=f"Welcome, {day.trial.names['coordinator']}")).to_be_visible()
    expect(page.get_by_test_id("role-duties")).to_contain_text("Coordinator")
    day.shoot("home-coordinator")

    number = register_a_patient(day)
    enter_the_screening_forms(day)

    expect(page.get_by_test_id("decision").locator("strong")).to_have_text("Eligible")
    criteria = page.get_by_test_id("criteria")
    expect(criteria.locator("tbody tr")).to_have_count(21)
    expect(criteria.get_by_text("failed", exact=True)).to_have_count(0)
    expect(criteria.locator('tr[data-code="I4"]')).to_contain_text(f"mRSS {sum(SCREENING_SCORES.values())}")
    expect(page.get_by_test_id("forms").get_by_role("link", name="Edit")).to_have_count(5)
    expect(page.get_by_test_id("confirm")).to_have_count(0)  # a coordinator does not confirm
    day.shoot("screening-participant")
    return number


def confirm_and_randomise(day: Day, number: str) -> None:
    page, investigator = day.as_("investigator"), day.trial.names["investigator"]
    day.open_menu("Screening")
    page.get_by_test_id("screening-log").get_by_role("link", name=number, exact=True).click()
    expect(page.get_by_test_id("decision").locator("strong")).to_have_text("Eligible")
    page.get_by_test_id("confirm").click()
    page.get_by_test_id("confirm-eligibility").click()  # on the confirmation page
    expect(page.get_by_role("alert")).to_contain_text("Eligibility confirmed.")
    expect(page.get_by_test_id("confirmation")).to_contain_text(f"Eligibility confirmed by {investigator}")
    expect(page.locator("h1 + span[data-status]")).to_have_attribute("data-status", "confirmed")
    day.shoot("eligibility-confirm", full_page=False)  # the criteria are in the full picture before it

    # Day 1: before randomising, the investigator records the baseline criteria of the day (I4, E7, E15).
    page.get_by_test_id("to-randomisation").click()
    expect(page.get_by_test_id("refusal")).to_contain_text("The baseline criteria are not all met for Day 1")
    expect(page.get_by_test_id("randomise")).to_have_count(0)
    page.go_back()
    day1_scores = {label: SCORE_LABELS[score] for label, score in SCREENING_SCORES.items()}
    day.page.get_by_test_id("forms").locator("li", has_text="Day 1 baseline criteria").get_by_role(
        "link", name="Enter"
    ).click()
    assessor = get_user_model().objects.get(username="assessor")
    day.field("Assessor of the Day 1 mRSS").select_option(value=str(assessor.pk))
    day.choose({**day1_scores, "E15 Scleroderma renal crisis since the screening visit": "No"})
    day.fill({"Day 1: date of these assessments": timezone.localdate().isoformat(),
              "E7 Mycophenolate mofetil on Day 1 (g/day)": "0"})  # fmt: skip
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("saved")
    baseline = page.get_by_test_id("baseline-criteria")
    expect(baseline.get_by_text("inclusion met", exact=True)).to_have_count(1)  # I4
    expect(baseline.get_by_text("exclusion absent", exact=True)).to_have_count(2)  # E7, E15

    page.get_by_test_id("to-randomisation").click()
    expect(page.get_by_role("heading", name=number, level=1)).to_be_visible()
    expect(page.get_by_test_id("allocation")).to_have_count(0)
    page.get_by_test_id("randomise").click()
    expect(page.get_by_test_id("stratum")).to_be_visible()  # the confirmation page
    page.get_by_test_id("randomise-confirm").click()

    expect(page.get_by_role("alert")).to_contain_text("Randomised: ")
    allocation = Allocation.objects.get(participant__screening_number=number)
    arm = PROTOCOL.arm(allocation.arm)
    other = next(other for other in PROTOCOL.arms if other.code != arm.code)
    expect(page.get_by_role("alert")).to_contain_text(f"Randomised: {allocation.randomisation_number}.")
    expect(page.get_by_test_id("allocation")).to_contain_text(allocation.randomisation_number)
    expect(page.get_by_test_id("allocation")).to_contain_text(f"by {investigator}")
    treatment = page.get_by_test_id("treatment")
    expect(treatment).to_have_text(f"Arm {arm.code}: {arm.drug}, {arm.dose}, {arm.frequency}")
    expect(treatment).not_to_contain_text(other.drug)
    expect(page.get_by_test_id("randomise")).to_have_count(0)
    assert allocation.randomised_by.username == "investigator"
    assert Visit.objects.filter(participant=allocation.participant).count() == len(PROTOCOL.visits)
    day.shoot("randomised")


# --- 2-4. The week-4 visit, a serious adverse event, the mRSS ---------------------------------------------------


def record_the_week_4_visit(day: Day) -> None:
    """The coordinator finds the visit among those in their window today and records it as done today."""
    page, number, today = day.as_("coordinator"), day.trial.week_4.screening_number, timezone.localdate().isoformat()
    day.open_menu("Visits")
    page.get_by_test_id("in-window").locator("tr", has_text=number).get_by_role("link", name="W4").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("W4")
    day.field("Date of the visit").fill(today)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Visit W4 saved.")
    # Saving keeps the coordinator on the visit (its forms are next); the schedule is one click up.
    page.get_by_label("breadcrumb").get_by_role("link", name=number).click()
    w4 = page.get_by_test_id("timeline").locator('tr[data-visit="W4"]').get_by_role("cell")
    expect(w4.nth(4)).to_have_text("done")
    expect(w4.nth(5)).to_have_text(today)


def report_a_serious_adverse_event(day: Day) -> None:
    """At the week-4 visit the participant tells of a pneumonia that needed admission: the coordinator records it
    from the participant's page. It is serious, so its SAE report opens, due 24 hours from when the site learned
    of it, and the safety page counts the time left; possibly related and unexpected, it is a SUSAR."""
    page, number = day.as_("coordinator"), day.trial.week_4.screening_number
    learned = datetime.now(ZoneInfo(day.trial.site.time_zone)).replace(second=0, microsecond=0) - timedelta(minutes=20)
    page.get_by_role("link", name="Adverse events").click()  # from the participant's visits
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    day.fill({
        "Event": PNEUMONIA, "Onset": (timezone.localdate() - timedelta(days=6)).isoformat(),
        "Treatment given": "Ceftriaxone IV for 5 days; study drug interrupted",
        "When the site learned of it": learned.strftime("%Y-%m-%dT%H:%M"),
    })  # fmt: skip
    # Nothing is chosen for the coordinator (no silent defaults): every judgement and yes/no question is answered.
    day.choose({
        "CTCAE grade": "3 severe", "Relationship to study drug": "Possible", "Action with study drug": "Interrupted",
        "Outcome": "Recovering", "Of special interest": "Serious or opportunistic infection (e.g. TB, herpes zoster)",
        "Ongoing": "Yes", "Requires or prolongs hospitalisation": "Yes", "Results in death": "No",
        "Is life-threatening": "No", "Results in persistent disability": "No", "Is a congenital anomaly": "No",
        "Is another important medical event": "No", "Expected (listed in the reference safety information)": "No",
    })  # fmt: skip
    found_at = page.get_by_label("Found at visit")
    w4_option = found_at.locator("option", has_text="W4 (")  # the visit by its code and target date
    expect(w4_option).to_have_text(re.compile(r"^W4 \(\d{4}-\d{2}-\d{2}\)$"))
    found_at.select_option(w4_option.get_attribute("value"))
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_role("alert").first).to_contain_text("Adverse event recorded.")
    expect(page.locator("main")).to_contain_text("Serious: the SAE report is due within 24 hours.")

    page.get_by_role("link", name=PNEUMONIA).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("serious")
    report = page.get_by_test_id("sae-report")
    due = (learned + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M")
    expect(report).to_contain_text(f"Initial report · due by {due}")
    expect(report).to_contain_text("SUSAR")
    expect(report).to_contain_text("Not yet sent.")
    day.shoot("sae-report")

    day.open_menu("Safety")
    waiting = page.get_by_test_id("open-sae-reports").locator("tr", has_text=PNEUMONIA)
    expect(waiting).to_contain_text(number)
    expect(waiting).to_contain_text(due)
    expect(waiting).to_contain_text(re.compile(r"23 h \d+ min left"))
    expect(waiting).to_have_attribute("data-overdue", "no")
    event = AdverseEvent.objects.get(participant__screening_number=number)
    assert event.serious and event.sae_reports.count() == 1 and event.visit.code == "W4"


def enter_the_week_4_mrss(day: Day) -> None:
    """The blinded assessor finds the form among the missing ones and scores the 17 areas; the total follows."""
    page, number = day.as_("assessor"), day.trial.week_4.screening_number
    day.open_menu("Visits")
    page.get_by_role("link", name="Missing forms").click()
    missing = page.locator("tbody tr", has_text=number).filter(has_text="mRSS")
    expect(missing).to_contain_text("W4")
    missing.get_by_role("link", name=number).click()
    expect(page.get_by_test_id("identity")).to_contain_text("treatment concealed")
    grid = page.get_by_test_id("grid")
    w4_column = grid.locator("thead th").all_inner_texts().index("W4")
    grid.locator("tbody tr", has_text="mRSS").locator("th, td").nth(w4_column).get_by_role("link").click()

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("mRSS")
    expect(heading).to_contain_text("W4")
    total = page.locator("[data-total]")
    expect(total).to_contain_text("17 areas to score")
    for label, score in W4_SCORES.items():
        day.field(label).select_option(label=SCORE_LABELS[score])
    expect(total).to_have_text(str(W4_TOTAL))
    day.shoot("crf-mrss")
    page.get_by_role("button", name="Mark complete").click()

    expect(page).to_have_url(re.compile(r"/visits/\d+/$"))  # back to the visit page, then its participant
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name=number).click()
    expect(page).to_have_url(re.compile(rf"/visits/participants/{number}/$"))
    # Blinded by design: back on the participant's page the assessor sees no mRSS totals or change from baseline.
    expect(page.get_by_test_id("mrss-change")).to_have_count(0)
    cell = page.get_by_test_id("grid").locator("tbody tr", has_text="mRSS").locator("th, td").nth(w4_column)
    expect(cell).to_have_attribute("data-state", "complete")
    content = page.content().lower()
    assert all(arm.drug.lower() not in content for arm in PROTOCOL.arms)  # still blinded


# --- 5. A data query, raised, answered and closed -----------------------------------------------------------------


def open_the_query(day: Day, username: str) -> Page:
    page = day.as_(username)
    day.open_menu("Monitoring")
    page.get_by_role("link", name="Data queries").first.click()
    page.get_by_test_id("query-list").get_by_role("link", name=QUESTION).click()
    expect(page.get_by_test_id("query-field")).to_have_text("Forearm, left")
    return page


def a_query_raised_answered_and_closed(day: Day) -> None:
    """The monitor verifies the week-4 mRSS against the source and queries one area; the coordinator answers; the
    monitor closes the query."""
    page, number = day.as_("monitor"), day.trial.week_4.screening_number
    day.open_menu("Monitoring")
    page.get_by_role("link", name="Source data verification").first.click()
    row = page.get_by_test_id("sdv-participants").locator(f'tr[data-participant="{number}"]')
    row.get_by_role("link", name="MRSS, W4").click()
    expect(page.get_by_test_id("record-values").locator('tr[data-field="forearms_left"]')).to_contain_text("2")
    page.get_by_test_id("record-link").click()
    expect(page.get_by_test_id("read-only")).to_be_visible()
    page.get_by_test_id("raise-query").click()
    page.get_by_label("Field").select_option(label="Forearm, left")
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_role("button", name="Raise the query").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("open")

    page = open_the_query(day, "coordinator")
    page.get_by_label("Your answer").fill(ANSWER)
    page.get_by_role("button", name="Answer").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("answered")

    page = open_the_query(day, "monitor")
    page.get_by_label("Closing note (optional)").fill(CLOSING)
    page.get_by_role("button", name="Close the query").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("closed")
    conversation = page.get_by_test_id("conversation").locator("li")
    expect(conversation).to_have_count(3)
    steps = (("raised", QUESTION, "monitor"), ("answered", ANSWER, "coordinator"), ("closed", CLOSING, "monitor"))
    for position, (action, text, who) in enumerate(steps):
        expect(conversation.nth(position)).to_have_attribute("data-action", action)
        expect(conversation.nth(position)).to_contain_text(text)
        expect(conversation.nth(position)).to_contain_text(day.trial.names[who])
    expect(page.get_by_test_id("close-form")).to_have_count(0)
    day.shoot("query")
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Data queries").click()
    expect(page.get_by_test_id("query-list").locator("tr", has_text=QUESTION)).to_contain_text("closed")


# --- 6. The data manager's ODM export ----------------------------------------------------------------------------


def export_odm(day: Day, runner: JobRunner, folder: Path) -> Path:
    """The data manager asks for CDISC ODM, identified (the administrator, who sees no identifying data, exports
    de-identified only), watches the job reach "ready", downloads it; returns the file."""
    page = day.as_("datamanager")
    day.open_menu("Exports")
    expect(page.get_by_role("heading", name="Export centre")).to_be_visible()
    page.get_by_label("CDISC ODM 1.3.2 (XML)").check()
    page.get_by_label("Identified (names, numbers, actual dates)").check()
    page.get_by_label("Actual dates", exact=True).check()
    page.get_by_label("Codes", exact=True).check()
    progress = page.get_by_test_id("export-progress")
    with runner.jobs():
        page.get_by_role("button", name="Export").click()
        expect(page).to_have_url(re.compile(r"/exports/jobs/\d+/$"))
        expect(progress.get_by_role("progressbar")).to_have_attribute(
            "aria-valuenow", "100", timeout=WAIT_FOR_EXPORT_MS
        )
        expect(progress.locator("[data-status]")).to_have_text("ready")
    job = ExportJob.objects.get(kind="odm")
    assert job.status == ExportJob.Status.DONE, runner.output()
    assert job.requested_by.username == "datamanager"
    if runner.has_worker:
        assert "exports.tasks.run_export" in runner.output()
    expect(progress.locator("[data-sha256]")).to_have_text(job.sha256)
    expect(progress.locator("[data-rows]")).to_have_text(str(job.rows_done))
    day.shoot("export-odm-ready")

    with page.expect_download() as waiting:
        progress.get_by_role("link", name="Download").click()
    assert waiting.value.suggested_filename == job.file_name
    saved = folder / job.file_name
    waiting.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == job.sha256

    page.get_by_role("link", name="Back to the export centre").click()
    log = page.get_by_test_id("export-log")
    row = log.locator(f'tr[data-job="{job.pk}"]')
    expect(row).to_contain_text(day.trial.names["datamanager"])
    expect(row).to_contain_text(job.sha256)
    expect(row).to_contain_text("ready")
    expect(log.locator("tbody tr")).to_have_count(2)  # and their earlier export (of the demo)
    day.shoot("export-centre")
    return saved


def check_the_odm_file(path: Path, trial: DemoTrial, randomised_today: str) -> None:
    """The file is ODM with the trial's clinical data: every participant, the week-4 mRSS as the assessor scored
    it, and the serious adverse event."""
    root = etree.parse(str(path)).getroot()
    assert root.tag == f"{ODM}ODM"
    clinical = root.find(f"{ODM}ClinicalData")
    assert clinical is not None
    subjects = {subject.get("SubjectKey"): subject for subject in clinical.iter(f"{ODM}SubjectData")}
    assert len(subjects) == Participant.objects.count() == 42  # the demo's 40, the week-4 one, today's
    assert randomised_today in subjects
    week_4 = subjects[trial.week_4.screening_number]
    event = next(e for e in week_4.iter(f"{ODM}StudyEventData") if e.get("StudyEventOID") == "SE.W4")
    mrss = next(form for form in event.iter(f"{ODM}FormData") if form.get("FormOID") == "F.MRSS")
    values = {item.get("ItemOID").rsplit(".", 1)[1].lower(): item.get("Value") for item in mrss.iter(f"{ODM}ItemData")}
    scores = {code: int(values[code]) for code, _label in MRSS_AREAS}
    assert sum(scores.values()) == W4_TOTAL
    assert scores["forearms_left"] == W4_SCORES["Forearm, left"]
    described = {
        item.get("Value")
        for form in week_4.iter(f"{ODM}FormData")
        if form.get("FormOID") == "F.AE"
        for item in form.iter(f"{ODM}ItemData")
        if item.get("ItemOID") == "IT.AE.DESCRIPTION"
    }
    assert described == {PNEUMONIA}


# --- The tour: the other key pages, on the same data -------------------------------------------------------------


def tour(day: Day, randomised_today: str) -> None:
    week_4 = day.trial.week_4.screening_number
    page = day.as_("coordinator")
    day.open_menu("Screening")
    log = page.get_by_test_id("screening-log")
    expect(log.locator("tbody tr")).to_have_count(42)
    today_row = log.locator("tr", has=page.get_by_role("link", name=randomised_today, exact=True))
    expect(today_row.locator("span[data-status]")).to_have_attribute("data-status", "randomised")
    expect(page.get_by_test_id("failures-by-code").locator("li")).not_to_have_count(0)
    day.shoot("screening-log")

    day.open_menu("Visits")
    page.get_by_role("link", name="Missing forms").click()
    rows = page.locator("tbody tr", has_text=week_4)
    expect(rows.filter(has_text="Laboratory panel")).to_have_count(1)  # still to enter for week 4
    expect(rows.filter(has_text="mRSS")).to_have_count(0)  # entered by the assessor
    day.shoot("missing-forms")
    rows.first.get_by_role("link", name=week_4).click()
    timeline = page.get_by_test_id("timeline")
    for code in ("D1", "W2", "W4"):
        expect(timeline.locator(f'tr[data-visit="{code}"]').get_by_role("cell").nth(4)).to_have_text("done")
    expect(page.get_by_test_id("mrss-chart")).to_be_visible()
    day.shoot("visit-schedule")

    day.open_menu("Reminders")
    page.get_by_role("link", name=re.compile(r"^Sent:")).click()
    sent = page.get_by_test_id("reminder-log").locator("tbody tr")
    expect(sent).to_have_count(3)  # the demo's three "send now"
    sent.first.get_by_role("link").first.click()
    reminders = page.get_by_test_id("participant-reminders")
    expect(reminders.locator('[data-status="sent"]')).to_have_count(1)
    reminders.get_by_text("Message").first.click()
    expect(reminders.locator("pre").first).to_be_visible()
    day.shoot("reminders")

    page = day.as_("investigator")
    day.open_menu("Safety")
    page.get_by_role("link", name="Safety summary by arm").click()
    for arm in PROTOCOL.arms:
        serious = sum(event.serious for event in AdverseEvent.objects.filter(participant__allocation__arm=arm.code))
        row = page.locator("tbody tr", has_text=f"{arm.code}: {arm.drug}")
        expect(row.get_by_role("cell").nth(5)).to_have_text(str(serious))
    day.shoot("safety-summary")
    day.open_menu("Reports")
    page.get_by_role("link", name="CONSORT flow diagram").first.click()
    expect(page.get_by_test_id("consort-diagram").locator("svg")).to_contain_text("Assessed for eligibility (n = 42)")
    expect(page.get_by_test_id("consort-diagram").locator("svg")).to_contain_text("Randomised (n = 22)")
    day.shoot("consort")

    page = day.as_("monitor")
    day.open_menu("Monitoring")
    page.get_by_role("link", name="Source data verification").first.click()
    participants = page.get_by_test_id("sdv-participants")
    expect(participants.locator("tbody tr")).to_have_count(42)
    day.shoot("verification", full_page=False)  # 42 participants: the first screen says what the page is
    participants.get_by_role("link", name=week_4, exact=True).click()
    page.get_by_role("link", name="Audit trail").click()
    newest = page.get_by_test_id("audit-entry").first
    expect(newest).to_contain_text("MRSS, W4")
    expect(page.locator("main")).to_contain_text("randomised at the Day 1 visit, entered later")
    day.shoot("audit-trail", full_page=False)


def test_a_day_at_the_trial_from_screening_to_the_odm_export(
    live_server: Any, job_runner: JobRunner, day: Day, tmp_path: Path
) -> None:
    randomised_today = screen_a_patient(day)
    confirm_and_randomise(day, randomised_today)
    record_the_week_4_visit(day)
    report_a_serious_adverse_event(day)
    enter_the_week_4_mrss(day)
    a_query_raised_answered_and_closed(day)
    odm = export_odm(day, job_runner, tmp_path)
    check_the_odm_file(odm, day.trial, randomised_today)
    tour(day, randomised_today)
    assert day.camera.missing() == []  # every key page of the user guides this story takes was reached

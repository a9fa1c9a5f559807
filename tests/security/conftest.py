"""The security tests' shared world: two sites, a user of every role at each, and a randomised participant at the
first site with everything an object URL can name (visits, forms, an adverse event with its SAE report, a
laboratory alert, a data query, a lock, a reminder, an export job, an allocation list).

The world is built once for the package, inside a transaction that is rolled back at the end; every test runs in
a savepoint of it (pytest-django's ``db``), so what one test writes never reaches the next. Building it once keeps
the whole package inside its CI budget.

``sample_paths`` below gives every URL of the project one concrete address in that world; the permission matrix,
the cross-site, CSRF, fuzzing and injection tests all read it, and fail when a URL has none. ``walk`` opens every
one of them as every role (once for the package), and the tests read the pages and their forms from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from exports.scope import ExportScope
from exports.services import export_request, export_run
from monitoring.services.locks import lock_data
from monitoring.services.queries import query_raise
from reminders.models import Reminder
from safety import services as safety_services
from safety.models import AdverseEvent, LabAlert, SaeReport
from screening.models import SCREENING_FORMS, Participant
from tests.factories import make_site, make_user
from tests.randomization.factories import list_in_use
from tests.rolled_back import rolled_back
from tests.screening.factories import register, screen_eligible
from tests.security.html_forms import PostForm, has_post_form, post_forms
from tests.security.permission_matrix import COLUMNS
from tests.visits.test_schedule import randomised_on
from trial_site import registry
from trial_site.lab_ranges import lab_reference_range_save
from trial_site.models import AccessEvent, LabReferenceRange, StaffMembership
from trial_site.roles import Role
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel, VitalSigns
from visits.models import Visit

ANONYMOUS = "anonymous"
# Every column of the matrix: anonymous first, then the roles in the order of ``Role``.
PRINCIPALS: tuple[str, ...] = (ANONYMOUS, *(role.value for role in Role))
# The column of each principal in the permission matrix.
COLUMN_OF = dict(zip(PRINCIPALS, COLUMNS, strict=True))
# The roles that enter screening or visit forms: the fuzzing posts the forms as they see them (the sample form of
# each URL is walked as every role; the other forms only as these).
FORM_ENTERING_ROLES = frozenset({Role.COORDINATOR.value, Role.INVESTIGATOR.value, Role.BLINDED_ASSESSOR.value})

# Left out of every walk: the Django admin (its own permission system, tested in tests/trial_site) and i18n
# (``set_language``: a public POST that only sets a language cookie and redirects, for anonymous users too).
LEFT_OUT_PREFIXES = ("admin/", "i18n/")

WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
# Writes a request makes whatever it does: the session, the user's last login, and the access log.
BOOKKEEPING_TABLES = (
    "django_session", "auth_user", "trial_site_accessevent", "reminders_webhookrefusals", "reminders_webhooksignature",
)  # fmt: skip


def url_routes() -> dict[str, str]:
    """Every named URL of the project (``namespace:name``) → its route, admin and i18n left out."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern) and entry.name:
                yield f"{namespace}{entry.name}", prefix + str(entry.pattern)

    return {
        name: route
        for name, route in walk(get_resolver().url_patterns, "", "")
        if not route.startswith(LEFT_OUT_PREFIXES)
    }


def client_as(user: Any | None, *, enforce_csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    if user is not None:
        client.force_login(user)
    return client


def writes_during(action: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run ``action``; its result and the SQL statements it sent that change clinical or trial data."""
    with CaptureQueriesContext(connection) as captured:
        result = action()
    writes = [
        query["sql"]
        for query in captured.captured_queries
        if WRITES.match(query["sql"]) and not any(f'"{table}"' in query["sql"] for table in BOOKKEEPING_TABLES)
    ]
    return result, writes


def denied_paths(since_id: int, username: str) -> set[str]:
    """The paths (without their query strings) refused to ``username`` in the access log after event ``since_id``."""
    return set(
        AccessEvent.objects.filter(pk__gt=since_id, kind=AccessEvent.Kind.ACCESS_DENIED, username=username).values_list(
            "path", flat=True
        )
    )


def without_query(path: str) -> str:
    """The path as the access log keeps it."""
    return path.partition("?")[0]


def last_access_event_id() -> int:
    return AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@dataclass
class World:
    """The data every security test works on. ``staff`` are the users at DHK (the site of every sample object),
    ``elsewhere`` those at CTG, one per role; ``samples`` is the address of every URL (see ``SAMPLE_PATHS``)."""

    staff: dict[str, Any]
    elsewhere: dict[str, Any]
    participant: Participant
    visit: Visit
    objects: dict[str, int]
    samples: dict[str, str] = field(default_factory=dict)
    form_pages: list[str] = field(default_factory=list)

    def user(self, principal: str) -> Any | None:
        return None if principal == ANONYMOUS else self.staff[principal]


def sample_paths(world: World) -> dict[str, str]:
    """Every URL of the project → one address of it in ``world``.

    Object URLs name a DHK object, in the path or (for the monitoring pages that take their record from the query
    string) in the query. A URL missing here fails the permission matrix and every walk that needs it.
    """
    number = world.participant.screening_number
    pk = world.objects
    vitals = f"form=visits.vitalsigns&object={pk['vitals']}"
    return {
        "home": "/",
        "login": "/accounts/login/",
        "logout": "/accounts/logout/",
        "two_factor_setup": "/accounts/two-factor/setup/",
        "two_factor_verify": "/accounts/two-factor/verify/",
        "site_list": "/sites/",
        "site_detail": "/sites/DHK/",
        "lab_range_list": "/sites/DHK/lab-ranges/",
        "lab_range_add": "/sites/DHK/lab-ranges/new/",
        "lab_range_edit": f"/sites/DHK/lab-ranges/{pk['lab_range']}/",
        "access_log": "/access-log/",
        "staff_list": "/staff/",
        "staff_create": "/staff/new/",
        "staff_detail": f"/staff/{world.staff[Role.COORDINATOR].pk}/",
        "staff_edit": f"/staff/{world.staff[Role.COORDINATOR].pk}/edit/",
        "staff_grant": f"/staff/{world.staff[Role.COORDINATOR].pk}/roles/",
        "staff_active": f"/staff/{world.staff[Role.COORDINATOR].pk}/active/",
        "staff_password_link": f"/staff/{world.staff[Role.COORDINATOR].pk}/password-link/",
        "staff_role_end": f"/staff/roles/{pk['coordinator_membership']}/end/",
        "password_change": "/accounts/password/",
        "password_set": "/accounts/set-password/",
        "protocol_list": "/protocol/",
        "protocol_propose": "/protocol/propose/",
        "protocol_current_json": "/protocol/current.json",
        "protocol_version": "/protocol/1.0/",
        "search": "/search/?q=DHK",
        "screening:index": "/screening/",
        "screening:register": "/screening/register/DHK/",
        "screening:participant": f"/screening/{number}/",
        "screening:details": f"/screening/{number}/details/",
        "screening:form": f"/screening/{number}/forms/mrss/",
        "screening:confirm": f"/screening/{number}/confirm/",
        "screening:screen_failure": f"/screening/{number}/screen-failure/",
        "screening:withdraw": f"/screening/{number}/withdraw/",
        "screening:rescreen": f"/screening/{number}/rescreen/",
        "screening:reconsent_due": "/screening/reconsent-due/",
        "screening:reconsent": f"/screening/{number}/reconsent/",
        "randomization:index": "/randomization/",
        "randomization:lists": "/randomization/lists/",
        "randomization:list": f"/randomization/lists/{pk['allocation_list']}/",
        "randomization:list_activate": f"/randomization/lists/{pk['allocation_list']}/activate/",
        "randomization:participant": f"/randomization/participants/{number}/",
        "randomization:randomise": f"/randomization/participants/{number}/randomise/",
        "randomization:flag_error": f"/randomization/participants/{number}/error/",
        "randomization:unblind": f"/randomization/participants/{number}/unblind/",
        "visits:index": "/visits/",
        "visits:missing_forms": "/visits/missing-forms/",
        "visits:calendar": "/visits/calendar/",
        "visits:dashboard": "/visits/dashboard/",
        "visits:participant": f"/visits/participants/{number}/",
        "visits:medications": f"/visits/participants/{number}/medications/",
        "visits:medication_add": f"/visits/participants/{number}/medications/add/",
        "visits:medication_stop": f"/visits/participants/{number}/medications/stop/",
        "visits:unscheduled_visit_add": f"/visits/participants/{number}/unscheduled/",
        "visits:follow_up_schedule": f"/visits/participants/{number}/follow-up/",
        "visits:end_of_study_record": f"/visits/participants/{number}/end/",
        "visits:visit": f"/visits/{world.visit.pk}/",
        "visits:visit_done": f"/visits/{world.visit.pk}/done/",
        "visits:visit_missed": f"/visits/{world.visit.pk}/missed/",
        "visits:visit_reschedule": f"/visits/{world.visit.pk}/reschedule/",
        "visits:crf": f"/visits/{world.visit.pk}/forms/vitals/",
        "safety:index": "/safety/",
        "safety:summary": "/safety/summary/",
        "safety:participant": f"/safety/participants/{number}/",
        "safety:event": f"/safety/events/{pk['adverse_event']}/",
        "safety:report_follow_up": f"/safety/reports/{pk['sae_report']}/follow-up/",
        "safety:report_submit": f"/safety/reports/{pk['sae_report']}/submit/",
        "safety:report_sign": f"/safety/reports/{pk['sae_report']}/sign/",
        "safety:acknowledge": f"/safety/alerts/{pk['lab_alert']}/acknowledge/",
        "reminders:index": "/reminders/",
        "reminders:participant": f"/reminders/participants/{number}/",
        "reminders:send_now": f"/reminders/{pk['reminder']}/send-now/",
        "reminders:delivery": "/reminders/delivery/",
        "reminders:inbound_sms": "/reminders/inbound/sms/",
        "monitoring:index": "/monitoring/",
        "monitoring:audit_recent": "/monitoring/audit/",
        "monitoring:audit_export": f"/monitoring/audit/export.csv?participant={number}",
        "monitoring:audit_participant": f"/monitoring/audit/participants/{number}/",
        "monitoring:audit_field": f"/monitoring/audit/participants/{number}/field/?{vitals}&field=weight_kg",
        "monitoring:queries": "/monitoring/queries/",
        "monitoring:query_raise": f"/monitoring/queries/raise/?{vitals}",
        "monitoring:query": f"/monitoring/queries/{pk['query']}/",
        "monitoring:verification": "/monitoring/verification/",
        "monitoring:verification_mark": f"/monitoring/verification/mark/?{vitals}",
        "monitoring:signatures": "/monitoring/signatures/",
        "monitoring:sign": f"/monitoring/signatures/sign/?scope=visit&visit={world.visit.pk}",
        "monitoring:locks": "/monitoring/locks/",
        "monitoring:lock_new": f"/monitoring/locks/new/?scope=visit&visit={world.visit.pk}",
        "monitoring:lock_unlock": f"/monitoring/locks/{pk['lock']}/unlock/",
        "exports:index": "/exports/",
        "exports:job": f"/exports/jobs/{pk['export_job']}/",
        "exports:job_status": f"/exports/jobs/{pk['export_job']}/status/",
        "exports:download": f"/exports/jobs/{pk['export_job']}/download/",
        "exports:reports": "/exports/reports/",
        "exports:consort": "/exports/reports/consort/",
        "exports:consort_svg": "/exports/reports/consort.svg",
        "exports:enrolment": "/exports/reports/enrolment/",
        "exports:primary_endpoint": "/exports/reports/primary-endpoint/",
    }


def _build_world() -> World:
    dhk = make_site(code="DHK", name="BSMMU Dhaka")
    ctg = make_site(code="CTG", name="Chattogram Medical College", phone="+8803163000000")
    staff = {role.value: make_user(f"dhk-{role.value}", role=role, site=dhk) for role in Role}
    elsewhere = {role.value: make_user(f"ctg-{role.value}", role=role, site=ctg) for role in Role}
    coordinator, investigator = staff[Role.COORDINATOR], staff[Role.INVESTIGATOR]

    allocation_list = list_in_use(staff[Role.STATISTICIAN])
    participant = randomised_on(timezone.localdate() - timedelta(days=40), dhk, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    d1 = visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    # An unscheduled visit may hold any form: the fuzzing reaches every visit CRF through it.
    unscheduled = visit_services.unscheduled_visit_add(
        participant=participant, by=coordinator, on=timezone.localdate(), reason="skin ulcer review"
    )
    vitals = VitalSigns(visit=d1, weight_kg=55.0, height_cm=158.0, systolic_bp=120, diastolic_bp=80, heart_rate=72,
                        temperature_c=36.8)  # fmt: skip
    visit_form_save(record=vitals, by=coordinator, complete=True)
    labs = LabPanel(visit=d1, hb_g_dl=7.2, wbc=6.0, anc=3.5, alc=1.5, platelets=240.0, alt=20.0, alt_uln=40.0,
                    creatinine=0.8, creatinine_unit="mg/dL", unusual_values_confirmed=True)  # fmt: skip
    visit_form_save(record=labs, by=coordinator, complete=True)
    safety_services.lab_alerts_check(panel_id=labs.pk)  # runs after commit in the application; called here in the test
    event = safety_services.adverse_event_record(
        event=AdverseEvent(
            participant=participant, description="Pneumonia, right lower lobe",
            onset_date=timezone.localdate() - timedelta(days=2), grade=3, relationship="possible",
            action_taken="interrupted", outcome="recovering", special_interest="infection",
            serious_hospitalisation=True,
        ),
        by=coordinator,
    )  # fmt: skip
    query = query_raise(record=vitals, field="weight_kg", message="Weight differs from the source.",
                        by=staff[Role.MONITOR])  # fmt: skip
    # The lock is on another participant's casebook, so the sample participant stays open to changes.
    locked = screen_eligible(register(dhk, coordinator, mobile_phone="+8801898765432"), coordinator)
    lock = lock_data(scope="casebook", participant=locked, by=staff[Role.DATA_MANAGER], reason="casebook reviewed")
    job = export_request(user=staff[Role.DATA_MANAGER], kind="odm", scope=ExportScope(site_ids=(dhk.pk,)))
    lab_range = lab_reference_range_save(
        record=LabReferenceRange(site=dhk, test="white_cells", lower_limit=3.5, upper_limit=10.5, unit="×10⁹/L",
                                 effective_from=timezone.localdate() - timedelta(days=400)),
        by=staff[Role.DATA_MANAGER],
    )  # fmt: skip
    export_run(job.pk)  # written under EXPORT_ROOT, which ``built_world`` points at a temporary folder
    objects = {
        "allocation_list": allocation_list.pk,
        "vitals": vitals.pk,
        "adverse_event": event.pk,
        "sae_report": SaeReport.objects.get(adverse_event=event).pk,
        "lab_alert": LabAlert.objects.filter(participant=participant).first().pk,
        "query": query.pk,
        "lock": lock.pk,
        "reminder": Reminder.objects.filter(participant=participant, status="planned").first().pk,
        "export_job": job.pk,
        "unscheduled_visit": unscheduled.pk,
        "coordinator_membership": StaffMembership.objects.get(user=coordinator, site=dhk).pk,
        "lab_range": lab_range.pk,
    }
    world = World(staff=staff, elsewhere=elsewhere, participant=participant, visit=d1, objects=objects)
    world.samples = sample_paths(world)
    number = participant.screening_number
    # Every screening form and every visit form, beyond the one sample of each URL, for the fuzzing.
    world.form_pages = [f"/screening/{number}/forms/{model.slug}/" for model in SCREENING_FORMS] + [
        f"/visits/{unscheduled.pk}/forms/{code}/" for code in registry.visit_form_labels()
    ]
    return world


@pytest.fixture(scope="package")
def built_world(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[World]:
    """The world, built once for the package inside a transaction rolled back at its end (exports are written in a
    temporary folder)."""
    export_root = tmp_path_factory.mktemp("exports")
    with rolled_back(django_db_blocker), override_settings(EXPORT_ROOT=export_root):
        yield _build_world()


@pytest.fixture
def world(built_world: World, db: Any) -> World:
    """The world, for one test: in a savepoint of the world's transaction, rolled back after the test."""
    return built_world


@dataclass(frozen=True)
class Rendered:
    """One GET: its status, its HTML (empty unless the page is HTML), where it redirects."""

    status: int
    html: str
    location: str


@dataclass
class Walk:
    """Every sample path and form page as every principal sees it on GET, and what the access log kept of it."""

    responses: dict[tuple[str, str], Rendered]
    refusals_logged: dict[str, set[str]]

    def __getitem__(self, key: tuple[str, str]) -> Rendered:
        return self.responses[key]


def _read(response: Any) -> str:
    # A streamed response is read to its end: the test client closes it then (closing it by hand would close the
    # database connection inside the world's transaction).
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode(errors="replace") if "html" in response.get("Content-Type", "") else ""


@pytest.fixture(scope="package")
def walk(built_world: World, django_db_blocker: Any) -> Walk:
    """GET every sample path as every principal, and every form page as the roles that may enter it, once for the
    package.

    Done in a savepoint that is rolled back, so the sessions, two-factor devices and access-log rows these requests
    write do not stay; which refusals were logged is kept in ``refusals_logged``.
    """
    world = built_world
    responses: dict[tuple[str, str], Rendered] = {}
    logged: dict[str, set[str]] = {}
    with django_db_blocker.unblock(), transaction.atomic():
        for principal in PRINCIPALS:
            user = world.user(principal)
            since = last_access_event_id()
            client = client_as(user)
            form_pages = world.form_pages if principal in FORM_ENTERING_ROLES else []
            for path in sorted(set(world.samples.values()) | set(form_pages)):
                response = client.get(path)
                responses[principal, path] = Rendered(
                    response.status_code, _read(response), response.get("Location", "")
                )
            logged[principal] = denied_paths(since, user.username) if user is not None else set()
        transaction.set_rollback(True)
    return Walk(responses, logged)


@pytest.fixture(scope="package")
def forms_seen(walk: Walk) -> dict[tuple[str, str], list[PostForm]]:
    """The POST forms of every page of the walk that opened (200), by (principal, path)."""
    return {
        key: forms
        for key, rendered in walk.responses.items()
        if rendered.status == 200 and has_post_form(rendered.html) and (forms := post_forms(key[1], rendered.html))
    }


def first_sender(forms_seen: dict[tuple[str, str], list[PostForm]], path: str) -> tuple[str, PostForm] | None:
    """The first principal (roles in the order of ``Role``) shown a form that posts to ``path``, on any page of the
    walk, and that form; None if no page shows one."""
    for principal in PRINCIPALS:
        for (seen_by, _page), forms in forms_seen.items():
            if seen_by != principal:
                continue
            for form in forms:
                if form.action == path:
                    return principal, form
    return None


def form_posting_to(forms_seen: dict[tuple[str, str], list[PostForm]], path: str) -> PostForm | None:
    """What a permitted user sends to ``path``: the form of ``first_sender``, or None."""
    found = first_sender(forms_seen, path)
    return found[1] if found is not None else None

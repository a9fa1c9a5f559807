"""Roles bound to their site: every pair of roles at two sites, every data URL, every export kind (#18).

Two sites with data at both: DHK (site A: the security world of ``conftest.py``) and CTG (site B: built here, the
same kinds of records: a randomised participant with visits, forms, an SAE, a laboratory alert, a data query, a
lock, reminders, an export, a laboratory reference range, access-log events). For every pair (role X at A, role Y
at B) of the seven roles one user holds both, and opens:

- every URL of the configuration that names no object (the lists, the summaries, the reports, the logs), and
- every object URL with site B's object (``sample_paths`` of a world whose records are B's).

Each answer is compared with two references that hold one role at one site: X at A (``world.staff``) and Y at B
(``world.elsewhere``). What the pair sees of B must be no more than what Y at B sees, and of A no more than X at A:

- an object URL of B answers as it answers Y at B (403, 404 or 405 where Y is refused, whatever the pair holds
  at A: no 500, and never 200 where Y is refused);
- a page names B's records (its participant, adverse event, query, staff, access-log event) only if Y at B is shown
  them on that page, and A's only if X at A is; a drug name (the arm) only if one of the references is shown it, and
  on B's object pages only if Y at B is.

Symmetric pairs (Y at A, X at B) cover A's object URLs. Every export kind of the catalogue (each format, and the
CSV of each dataset) is asked for by every pair, for all its sites and for site B alone: B is exported only when
role Y may export that kind at B (its permission there and ``randomization.view_arm``), A only when X may.

The matrix is cut into four test modules so that pytest-xdist (``--dist loadfile``: a module stays in one process)
runs it in both processes: the pages by role at B (``test_roles_bound_to_sites_pages_*``) and the exports by role at
A (``test_roles_bound_to_sites_exports_*``); every pair is in one pages module and one exports module. Each module
builds site B and makes its requests once, in its module fixture; its tests only read them. Every request is made
in a savepoint rolled back, so that what one writes (an access-log refusal naming a path, an export log row) is not
read by the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import django.test.client
from django.db import transaction
from django.utils import timezone

from exports.catalogue import datasets
from exports.formats import FORMATS
from exports.models import ExportJob
from exports.scope import ExportScope
from exports.services import export_request, export_run
from monitoring.services.locks import lock_data
from monitoring.services.queries import query_raise
from reminders.models import Reminder
from safety import services as safety_services
from safety.models import AdverseEvent, LabAlert, SaeReport
from tests.factories import make_user
from tests.screening.factories import register, screen_eligible
from tests.security.conftest import World, client_as, sample_paths, url_routes
from tests.security.test_cross_site import QUERIED_LISTS, SITELESS
from tests.visits.test_schedule import randomised_on
from trial_site.lab_ranges import lab_reference_range_save
from trial_site.models import LabReferenceRange, Site, StaffMembership
from trial_site.protocol import PROTOCOL
from trial_site.roles import ROLE_PERMISSIONS, Role
from trial_site.services import access_event_record, membership_grant, system_user
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel, VitalSigns

ROLES = tuple(Role)
Pair = tuple[Role, Role]  # (role at A, role at B)

B_EVENT = "Cellulitis of the left lower leg"
B_QUERY = "Heart rate differs from the clinic notes."
A_LOG, B_LOG = "access-log-event-of-dhk-only", "access-log-event-of-ctg-only"
DRUGS = tuple(arm.drug.lower() for arm in PROTOCOL.arms)
REFUSED = {403, 404, 405}


def pairs_where(*, at_a: Iterable[Role] = ROLES, at_b: Iterable[Role] = ROLES) -> list[Pair]:
    return [(x, y) for x in at_a for y in at_b]


def pair_id(pair: Pair) -> str:
    return f"{pair[0].value}_at_A-{pair[1].value}_at_B"


@dataclass(frozen=True)
class Page:
    status: int
    text: str  # lower case, every content type


@dataclass
class PagesOutcome:
    """What a module's page requests found, by (principal, path): a pair "x|y", or a reference "A:x" or "B:y"."""

    a_tokens: tuple[str, ...]
    b_tokens: tuple[str, ...]
    lists: dict[str, str]  # URL name → path (the same at both sites)
    b_objects: dict[str, str]  # URL name → B's sample path
    pages: dict[tuple[str, str], Page]


@dataclass
class ExportsOutcome:
    """What a module's export requests found, by (pair "x|y", kind, dataset, site): the status, the sites of the
    export recorded (None: none), and the file of a streamed export (empty when not read: see ``_export``)."""

    b_number: bytes
    exports: dict[tuple[str, str, str, str], tuple[int, tuple[int, ...] | None, bytes]]
    site_a: int
    site_b: int


def _site_b_world(world: World) -> World:
    """Site B's records, as the security world holds A's."""
    ctg = Site.objects.get(code="CTG")
    staff = world.elsewhere
    coordinator, investigator = staff[Role.COORDINATOR], staff[Role.INVESTIGATOR]
    participant = randomised_on(timezone.localdate() - timedelta(days=40), ctg, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    d1 = visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    vitals = VitalSigns(visit=d1, weight_kg=61.0, height_cm=160.0, systolic_bp=118, diastolic_bp=78, heart_rate=88,
                        temperature_c=36.9)  # fmt: skip
    visit_form_save(record=vitals, by=coordinator, complete=True)
    labs = LabPanel(visit=d1, hb_g_dl=7.1, wbc=6.1, anc=0.9, alc=1.4, platelets=230.0, alt=22.0, alt_uln=40.0,
                    creatinine=0.9, creatinine_unit="mg/dL", unusual_values_confirmed=True)  # fmt: skip
    visit_form_save(record=labs, by=coordinator, complete=True)
    safety_services.lab_alerts_check(panel_id=labs.pk)
    event = safety_services.adverse_event_record(
        event=AdverseEvent(
            participant=participant, description=B_EVENT, onset_date=timezone.localdate() - timedelta(days=3),
            grade=3, relationship="possible", action_taken="interrupted", outcome="recovering",
            special_interest="infection", serious_hospitalisation=True,
        ),
        by=coordinator,
    )  # fmt: skip
    query = query_raise(record=vitals, field="heart_rate", message=B_QUERY, by=staff[Role.MONITOR])
    locked = screen_eligible(register(ctg, coordinator, mobile_phone="+8801898765439"), coordinator)
    lock = lock_data(scope="casebook", participant=locked, by=staff[Role.DATA_MANAGER], reason="casebook reviewed")
    # An export is its requester's own (anyone else gets 404): asked for by a data manager at B who is none of the
    # references, so that the reference "data manager at B" is not let in as its owner where a pair is not.
    requester = make_user("ctg-data_manager-exports", role=Role.DATA_MANAGER, site=ctg)
    job = export_request(user=requester, kind="odm", scope=ExportScope(site_ids=(ctg.pk,)))
    export_run(job.pk)
    lab_range = lab_reference_range_save(
        record=LabReferenceRange(site=ctg, test="white_cells", lower_limit=3.6, upper_limit=10.6, unit="×10⁹/L",
                                 effective_from=timezone.localdate() - timedelta(days=400)),
        by=staff[Role.DATA_MANAGER],
    )  # fmt: skip
    objects = {
        "allocation_list": world.objects["allocation_list"],
        "vitals": vitals.pk,
        "adverse_event": event.pk,
        "sae_report": SaeReport.objects.get(adverse_event=event).pk,
        "lab_alert": LabAlert.objects.filter(participant=participant).first().pk,
        "query": query.pk,
        "lock": lock.pk,
        "reminder": Reminder.objects.filter(participant=participant, status="planned").first().pk,
        "export_job": job.pk,
        "coordinator_membership": StaffMembership.objects.get(user=coordinator, site=ctg).pk,
        "lab_range": lab_range.pk,
    }
    site_b = World(staff=staff, elsewhere=world.staff, participant=participant, visit=d1, objects=objects)
    site_b.samples = {
        name: path.replace("/sites/DHK/", "/sites/CTG/").replace("/register/DHK/", "/register/CTG/")
        for name, path in sample_paths(site_b).items()
    }
    return site_b


def _pair_users(pairs: list[Pair]) -> dict[Pair, Any]:
    dhk, ctg = Site.objects.get(code="DHK"), Site.objects.get(code="CTG")
    users = {}
    for x, y in pairs:
        user = make_user(f"pair-{x.value}-{y.value}", role=x, site=dhk)
        membership_grant(user=user, site=ctg, role=y, by=system_user())
        users[x, y] = user
    return users


@contextmanager
def _templates_not_kept() -> Iterator[None]:
    """The test client keeps a copy of every template context it renders (``response.context``), which the matrix
    never reads: a fifth of its time. Not kept while the matrix makes its requests."""
    kept = django.test.client.store_rendered_templates
    django.test.client.store_rendered_templates = lambda *args, **kwargs: None
    try:
        yield
    finally:
        django.test.client.store_rendered_templates = kept


def _get(client: Any, path: str) -> Page:
    with transaction.atomic():
        response = client.get(path)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    return Page(response.status_code, body.decode(errors="replace").lower())


def page_outcome(world: World, pairs: list[Pair]) -> PagesOutcome:
    """Build site B and make every page request of ``pairs`` and of the references they are compared with. Call
    inside a transaction that is rolled back."""
    site_b = _site_b_world(world)
    access_event_record(kind="login", user=world.staff[Role.COORDINATOR], detail=A_LOG)
    access_event_record(kind="login", user=world.elsewhere[Role.COORDINATOR], detail=B_LOG)
    users = _pair_users(pairs)

    # The URLs with a sample address (a URL without one fails the permission matrix until it has one).
    routes = {name: route for name, route in url_routes().items() if name in world.samples}
    b_objects = {
        name: path
        for name, path in site_b.samples.items()
        if name in routes and ("<" in routes[name] or "?" in path) and name not in SITELESS | QUERIED_LISTS.keys()
    }
    lists = {name: world.samples[name] for name in routes if name not in b_objects}
    people_a = [u.get_full_name() for u in world.staff.values()]
    people_b = [u.get_full_name() for u in world.elsewhere.values()]
    a_tokens = (world.participant.screening_number, "pneumonia, right lower lobe",
                "weight differs from the source.", A_LOG, *people_a)  # fmt: skip
    b_tokens = (site_b.participant.screening_number, B_EVENT, B_QUERY, B_LOG, *people_b)

    # Every client logs in (an access-log event) before any page is read, so that every access log read shows the
    # same logins: a reference read first would otherwise miss the logins of those after it.
    references = {f"A:{x.value}": client_as(world.staff[x]) for x in sorted({x for x, _ in pairs}, key=ROLES.index)}
    references |= {
        f"B:{y.value}": client_as(world.elsewhere[y]) for y in sorted({y for _, y in pairs}, key=ROLES.index)
    }
    clients = {f"{x.value}|{y.value}": client_as(user) for (x, y), user in users.items()}
    pages: dict[tuple[str, str], Page] = {}
    with _templates_not_kept():
        for principal, client in (references | clients).items():
            paths = [*lists.values(), *([] if principal.startswith("A:") else b_objects.values())]
            for path in paths:
                pages[principal, path] = _get(client, path)
    return PagesOutcome(
        a_tokens=tuple(t.lower() for t in a_tokens),
        b_tokens=tuple(t.lower() for t in b_tokens),
        lists=lists,
        b_objects=b_objects,
        pages=pages,
    )


def _found(tokens: tuple[str, ...], page: Page) -> set[str]:
    return {token for token in tokens if token in page.text}


def page_problems(pair: Pair, outcome: PagesOutcome) -> list[str]:
    """What ``pair`` was shown beyond its references, on B's object pages and on every list."""
    x, y = pair
    principal, ref_a, ref_b = f"{x.value}|{y.value}", f"A:{x.value}", f"B:{y.value}"
    everything = outcome.a_tokens + outcome.b_tokens + DRUGS
    wrong = []
    for name, path in outcome.b_objects.items():
        got, expected = outcome.pages[principal, path], outcome.pages[ref_b, path]
        if got.status == 500:
            wrong.append(f"{name}: 500")
        elif expected.status in REFUSED:
            if got.status not in REFUSED:
                wrong.append(f"{name}: B's object answered {got.status}, {y.value} at B is refused")
        elif got.status != expected.status:
            wrong.append(f"{name}: B's object answered {got.status}, {y.value} at B gets {expected.status}")
        leaked = _found(everything, got) - _found(everything, expected)
        if leaked:
            wrong.append(f"{name}: B's object page shows {sorted(leaked)}, not shown to {y.value} at B")
    for name, path in outcome.lists.items():
        got, seen_a, seen_b = outcome.pages[principal, path], outcome.pages[ref_a, path], outcome.pages[ref_b, path]
        if got.status == 500:
            wrong.append(f"{name}: 500")
            continue
        if got.status not in {seen_a.status, seen_b.status}:
            wrong.append(f"{name}: {got.status}, the roles alone get {seen_a.status} at A and {seen_b.status} at B")
        leaked = (
            (_found(outcome.a_tokens, got) - _found(outcome.a_tokens, seen_a))
            | (_found(outcome.b_tokens, got) - _found(outcome.b_tokens, seen_b))
            | (_found(DRUGS, got) - _found(DRUGS, seen_a) - _found(DRUGS, seen_b))
        )
        if leaked:
            wrong.append(f"{name}: shows {sorted(leaked)}, beyond {x.value} at A and {y.value} at B")
    return wrong


def export_kinds() -> list[tuple[str, str]]:
    """Every export kind of the catalogue: each format, and the CSV of each dataset."""
    return [(kind, "") for kind in FORMATS] + [("csv", dataset.key) for dataset in datasets()]


def may_export(role: Role, kind: str) -> bool:
    """What ``trial_site/roles.py`` lets ``role`` export at its site, read from the table (not from the code that
    enforces it): the format's permission, and the arm (every export carries the allocation)."""
    permissions = ROLE_PERMISSIONS[role]
    allowed = "exports.export_data" in permissions or (
        FORMATS[kind].analysis and "exports.export_analysis" in permissions
    )
    return allowed and "randomization.view_arm" in permissions


def _export_form(kind: str, dataset: str, site: str) -> dict[str, str]:
    return {"kind": kind, "dataset": dataset, "site": site, "identified": "deidentified", "date_mode": "study_day",
            "codes": "codes"}  # fmt: skip


def _export(
    client: Any, user: Any, kind: str, dataset: str, site: str, *, read_file: bool
) -> tuple[int, tuple[int, ...] | None, bytes]:
    """POST the export centre's form; the status, the sites of the export recorded (None: none), and the file of a
    streamed export when ``read_file`` (it is read only where it must not name site B's participant: a file that
    may name B is not written at all)."""
    with transaction.atomic():
        before = ExportJob.objects.filter(requested_by=user).order_by("-pk").values_list("pk", flat=True).first() or 0
        response = client.post("/exports/", _export_form(kind, dataset, site))
        # A stream not read is not written (the export's writer runs as its bytes are read).
        body = b"".join(response.streaming_content) if response.streaming and read_file else b""
        job = ExportJob.objects.filter(requested_by=user, pk__gt=before).first()
        sites = tuple(sorted(job.scope["site_ids"])) if job is not None else None
        transaction.set_rollback(True)
    return response.status_code, sites, body


def export_outcome(world: World, pairs: list[Pair]) -> ExportsOutcome:
    """Build site B and make every export request of ``pairs``. Call inside a transaction that is rolled back."""
    dhk, ctg = Site.objects.get(code="DHK"), Site.objects.get(code="CTG")
    site_b = _site_b_world(world)
    users = _pair_users(pairs)
    exports = {}
    with _templates_not_kept():
        for (x, y), user in users.items():
            client = client_as(user)
            for kind, dataset in export_kinds():
                for site in ("", str(ctg.pk)):
                    exports[f"{x.value}|{y.value}", kind, dataset, site] = _export(
                        client, user, kind, dataset, site, read_file=not may_export(y, kind)
                    )
    return ExportsOutcome(
        b_number=site_b.participant.screening_number.encode(), exports=exports, site_a=dhk.pk, site_b=ctg.pk
    )


def export_problems(pair: Pair, outcome: ExportsOutcome) -> list[str]:
    """Where an export of ``pair`` covered a site whose role may not export that kind, or missed one whose role may."""
    x, y = pair
    principal = f"{x.value}|{y.value}"
    wrong = []
    for kind, dataset in export_kinds():
        label = f"{kind} {dataset}".strip()
        allowed = {site for site, role in ((outcome.site_a, x), (outcome.site_b, y)) if may_export(role, kind)}
        status, sites, body = outcome.exports[principal, kind, dataset, ""]
        if status == 500:
            wrong.append(f"{label}, all sites: 500")
        if allowed and sites is None:
            wrong.append(f"{label}, all sites: nothing exported ({status}); allowed at {sorted(allowed)}")
        if not allowed and status not in (400, 403):
            wrong.append(f"{label}, all sites: {status}; {x.value} at A and {y.value} at B may not export it")
        if sites is not None and set(sites) != allowed:
            wrong.append(f"{label}, all sites: exported {list(sites)}, allowed {sorted(allowed)}")
        if outcome.site_b not in allowed and outcome.b_number in body:
            wrong.append(f"{label}, all sites: the file names B's participant")
        status, sites, body = outcome.exports[principal, kind, dataset, str(outcome.site_b)]
        if outcome.site_b in allowed:
            if sites != (outcome.site_b,):
                wrong.append(f"{label}, site B: {status}, exported {sites}; {y.value} may export it at B")
        elif sites is not None or status not in (400, 403) or outcome.b_number in body:
            wrong.append(f"{label}, site B: {status}, exported {sites}; {y.value} may not export it at B")
    return wrong

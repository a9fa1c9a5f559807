"""Benchmark: do the pages staff use every day stay cheap as the trial grows from 100 to 50,000 participants?

For each listed page (the participant list, a participant's pages, the screening log, the missing forms, the
audit trail of a participant and the recent changes, and the dashboards: the home pages that show data, the
reports dashboard, the monitoring front page, the safety summary, the record status dashboard, the visit
calendar and the search) two things are measured in the generated trials ``bench_100``, ``bench_5000`` and
``bench_50000`` (``bench/generate.py``; ``--quick`` leaves out the 50,000):

- the **number of SQL queries** of one request (Django's ``CaptureQueriesContext``, after warm-up). It must be
  the same at every size: a page whose count grows with the trial has an N+1 query;
- the **median server time** of the page, many requests in process with Django's test ``Client`` after
  warm-up, against the median time of a **trivial logged-in page** timed in the same loop (a request to the page,
  a request to the trivial page, and so on), reported as the ratio page ÷ trivial page.

The criteria are issue #21's: queries equal at every size, every page's median at the largest size at most
3 × the trivial page's, and the trivial page at most 3 queries. The script exits 1 and prints FAIL otherwise.

The trivial page is the statistician's home page: it reads only what every page reads (the session, the user,
the user's roles for the menu and the site's time zone) and no trial data (the statistician has no safety
permission, so the home page shows no safety counts).

**Fair comparison.** Every page is requested by the same role at the same site (GDHK) in both trials; the
data manager and the statistician hold their role at both generated sites in both. The participant pages and the
audit trail are those of a participant with the **same amount of own data** in both trials: among the GDHK
participants who completed the study with every visit done (Day 1 to the safety follow-up), the script counts
each participant's rows in every table that points to a participant or to one of their visits, history tables
included (and the required forms by status, and the arm), and takes the richest such profile found in both
trials, and in each trial the lowest screening number with it.

Logging in writes (sessions, access events, the last login), so each size is measured in a copy made with
``CREATE DATABASE bench_pages_<N> TEMPLATE bench_<N>``, dropped at the end; each size runs in its own child
process (Django is configured once per process). ``--write-docs`` refreshes the pages section of
``docs/benchmarks.md``.

    .venv/bin/python bench/pages.py --write-docs         # 100, 5,000 and 50,000
    .venv/bin/python bench/pages.py --quick              # 100 and 5,000
    .venv/bin/python bench/pages.py --sizes 100 500 --seconds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/pages.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFAULT_SERVER,
    ROOT,
    command_line,
    conclude,
    copy_database,
    drop_database,
    ensure_generated,
    median_ms,
    ratio,
    run_header,
    table,
)

SITE = "GDHK"
WARM_UP = 2

# Role → the generated user holding it at GDHK (the data manager and the statistician hold theirs at both sites).
USERS = {
    "coordinator": "gen-gdhk-coordinator",
    "investigator": "gen-gdhk-investigator",
    "monitor": "gen-gdhk-monitor",
    "data manager": "gen-data-manager",
    "statistician": "gen-statistician",
}


@dataclass(frozen=True)
class Page:
    """One page measured: a name for the table, its URL name, the role that opens it, whether it is the page of
    one participant (its URL takes the chosen participant's screening number) and a query string. Every page is held
    to the criteria."""

    name: str
    url_name: str
    role: str
    of_participant: bool = False
    query: str = ""


REDIS_URL = os.environ.get("BENCH_PAGES_REDIS_URL", "redis://127.0.0.1:6379/11")

# The criteria of issue #21, as the issue gives them (never changed to pass).
TRIVIAL_QUERIES_MAX = 3  # queries of the trivial page
PAGE_RATIO_MAX = 3.0  # median server time of every page at the largest size ÷ the trivial page
SIZES = (100, 5000, 50000)  # the full run; --quick: 100 and 5,000
QUICK_SIZES = (100, 5000)

BASELINE = Page("trivial page: statistician's home", "home", "statistician")

PAGES: tuple[Page, ...] = (
    Page("participant list (randomisation overview)", "randomization:index", "coordinator"),
    Page("screening log", "screening:index", "coordinator"),
    Page("participant page: screening summary", "screening:participant", "coordinator", of_participant=True),
    Page("participant page: visits and forms", "visits:participant", "coordinator", of_participant=True),
    Page("missing forms", "visits:missing_forms", "coordinator"),
    Page("visits due and overdue", "visits:index", "coordinator"),
    Page("audit trail of a participant", "monitoring:audit_participant", "monitor", of_participant=True),
    Page("audit: recent changes of visits", "monitoring:audit_recent", "monitor", query="form=visits.visit"),
    Page("audit: recent changes, all forms", "monitoring:audit_recent", "monitor"),
    Page("record status dashboard", "visits:dashboard", "coordinator"),
    Page("visit calendar", "visits:calendar", "coordinator"),
    Page("search: a partial number", "search", "coordinator", query="q=GDHK-S-00"),
    Page("home (dashboard): coordinator", "home", "coordinator"),
    Page("home (dashboard): investigator", "home", "investigator"),
    Page("home (dashboard): monitor", "home", "monitor"),
    Page("home (dashboard): data manager", "home", "data manager"),
    Page("reports dashboard", "exports:reports", "coordinator"),
    Page("monitoring front page", "monitoring:index", "monitor"),
    Page("safety summary", "safety:summary", "investigator"),
)


@dataclass
class PageResult:
    """What one child measured for one page."""

    name: str
    path: str
    role: str
    status: int
    queries: int
    queries_again: int  # a second request: a count that changes between requests is reported too
    median_ms: float
    baseline_ms: float  # the trivial page's median, timed in the same loop
    repeats: int
    html_kib: float
    error: str = ""

    @property
    def ratio(self) -> float | None:
        return ratio(self.median_ms, self.baseline_ms)


@dataclass
class SizeResult:
    """One trial size: the participants in it, the participant chosen, the trivial page and every page."""

    participants: int
    participant: str
    baseline_path: str
    baseline_queries: int
    baseline_ms: float
    pages: list[PageResult] = field(default_factory=list)


# --- the child: Django on one database -------------------------------------------------------------------------


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial_site.settings.base")
    # The test client's host; static files from their sources (no collectstatic needed, as in the tests).
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    # Redis as in production (the cache, the sessions): a database of the benchmark's, emptied for each size so that
    # nothing cached for one trial is read in another.
    os.environ["REDIS_URL"] = REDIS_URL
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import override_settings

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    override_settings(STORAGES=storages, WHITENOISE_USE_FINDERS=True, STATIC_ROOT=None).enable()


def own_data_profiles(site_code: str = SITE) -> dict[str, dict[str, int]]:
    """Per candidate participant (screening number): how many rows of their own each table holds.

    Candidates: the site's participants who completed the study with every visit done (and an allocation that
    is not in error). Counted: every table with a ``participant`` or ``visit`` foreign key (history tables too),
    the required forms by status, and the arm (as ``arm:<code>``). Two participants with the same profile have
    the same amount of own data on every page."""
    from django.apps import apps
    from django.db.models import Count

    from randomization.models import Allocation
    from screening.models import Participant
    from visits.models import RequiredForm, Visit

    candidates = (
        Participant.objects.filter(site__code=site_code, end_of_study__reason="completed", allocation__in_error=False)
        .exclude(visits__done_on__isnull=True)
        .exclude(visits__missed=True)
        .values_list("id", "screening_number")
    )
    numbers = dict(candidates)
    ids = list(numbers)
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for model in apps.get_models():
        fields = {f.name: f for f in model._meta.concrete_fields}
        participant_field = fields.get("participant")
        visit_field = fields.get("visit")
        if participant_field is not None and participant_field.related_model is Participant:
            key = "participant_id"
        elif visit_field is not None and visit_field.related_model is Visit:
            key = "visit__participant_id"
        else:
            continue
        label = model._meta.label_lower
        for owner, number in model._base_manager.filter(**{f"{key}__in": ids}).values_list(key).annotate(n=Count("pk")):
            counts[owner][label] = number
    for owner, number in Participant.history.filter(id__in=ids).values_list("id").annotate(n=Count("pk")):
        counts[owner]["screening.historicalparticipant"] = number
    forms = RequiredForm.objects.filter(visit__participant_id__in=ids).values_list("visit__participant_id", "status")
    for owner, status in forms:
        counts[owner][f"required form {status}"] += 1
    for owner, arm in Allocation.objects.filter(participant_id__in=ids).values_list("participant_id", "arm"):
        counts[owner][f"arm:{arm}"] = 1
    return {numbers[pk]: dict(sorted(counts[pk].items())) for pk in ids}


def measure_size(participant: str, *, seconds: float, min_repeats: int, max_repeats: int) -> SizeResult:
    """Every page, then the trivial page, on the database this process is set up on."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from screening.models import Participant

    clients: dict[str, Client] = {}
    for role, username in USERS.items():
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        clients[role] = client
    baseline_client = clients[BASELINE.role]
    baseline_path = reverse(BASELINE.url_name)

    def count(client: Client, path: str) -> tuple[int, Any]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        return len(captured.captured_queries), response

    def timed(client: Client, path: str) -> float:
        started = time.perf_counter()
        client.get(path)
        return time.perf_counter() - started

    for _ in range(WARM_UP):
        baseline_client.get(baseline_path)
    baseline_queries, _response = count(baseline_client, baseline_path)
    result = SizeResult(
        participants=Participant.objects.count(),
        participant=participant,
        baseline_path=baseline_path,
        baseline_queries=baseline_queries,
        baseline_ms=0.0,
    )
    all_baseline_times: list[float] = []
    for page in PAGES:
        client = clients[page.role]
        path = reverse(page.url_name, args=[participant] if page.of_participant else [])
        path += f"?{page.query}" if page.query else ""
        try:
            for _ in range(WARM_UP):
                client.get(path)
            queries, response = count(client, path)
            queries_again, _response = count(client, path)
            page_times: list[float] = []
            baseline_times: list[float] = []
            started = time.monotonic()
            while len(page_times) < max_repeats and (
                len(page_times) < min_repeats or time.monotonic() - started < seconds
            ):
                baseline_times.append(timed(baseline_client, baseline_path))
                page_times.append(timed(client, path))
        except Exception as error:  # a page that fails is a finding: reported, and the verdict is FAIL
            result.pages.append(PageResult(page.name, path, page.role, 500, 0, 0, 0.0, 0.0, 0, 0.0, repr(error)[:200]))
            continue
        all_baseline_times += baseline_times
        result.pages.append(
            PageResult(
                name=page.name,
                path=path,
                role=page.role,
                status=response.status_code,
                queries=queries,
                queries_again=queries_again,
                median_ms=median_ms(page_times),
                baseline_ms=median_ms(baseline_times),
                repeats=len(page_times),
                html_kib=round(len(response.content) / 1024, 1),
            )
        )
    result.baseline_ms = median_ms(all_baseline_times) if all_baseline_times else 0.0
    return result


# --- the parent: copies, the choice of participant, children, the report ---------------------------------------


def run_child(url: str, *arguments: str) -> Any:
    command = [sys.executable, str(Path(__file__).resolve()), "--database-url", url, *arguments]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"child {' '.join(arguments)} on {url} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _signature(profile: dict[str, int]) -> str:
    return json.dumps(profile, sort_keys=True)


def choose_participants(profiles: dict[int, dict[str, dict[str, int]]]) -> tuple[dict[int, str], dict[str, int], bool]:
    """The participant of each size: a profile found at every size (the one with the most rows), and in each
    size the lowest screening number with it. Without a common profile, the closest pair (fewest rows apart) of
    the smallest and largest sizes is taken, and for a size between them the participant closest to the smallest
    size's; the third value is then False (reported as not identical)."""
    by_size = {size: defaultdict(list) for size in profiles}
    for size, found in profiles.items():
        for number, profile in sorted(found.items()):
            by_size[size][_signature(profile)].append(number)
    common = set.intersection(*(set(signatures) for signatures in by_size.values()))
    if common:
        chosen = max(common, key=lambda signature: (sum(json.loads(signature).values()), signature))
        return {size: by_size[size][chosen][0] for size in profiles}, json.loads(chosen), True
    small, large = sorted(profiles)[0], sorted(profiles)[-1]

    def distance(a: dict[str, int], b: dict[str, int]) -> int:
        return sum(abs(a.get(key, 0) - b.get(key, 0)) for key in set(a) | set(b))

    pairs = [(distance(pa, pb), na, nb) for na, pa in profiles[small].items() for nb, pb in profiles[large].items()]
    _distance, first, second = min(pairs)
    chosen = {small: first, large: second}
    for size in sorted(profiles)[1:-1]:  # a size between: the closest to the smallest's choice
        chosen[size] = min(profiles[size], key=lambda n: (distance(profiles[small][first], profiles[size][n]), n))
    return chosen, profiles[small][first], False


def describe_profile(profile: dict[str, int]) -> str:
    """The chosen participant's own data in a sentence of the report."""
    live = {k: v for k, v in profile.items() if "." in k and ".historical" not in k}
    history = sum(v for k, v in profile.items() if ".historical" in k)
    visits = live.get("visits.visit", 0)
    events = live.get("safety.adverseevent", 0)
    medications = live.get("visits.concomitantmedication", 0)
    entered = profile.get("required form entered", 0)
    rows = sum(live.values())
    return (
        f"{visits} visits (all done), {entered} required forms entered, {events} adverse event(s), "
        f"{medications} concomitant medication(s): {rows} rows of their own and {history} history rows"
    )


def verdict(results: dict[int, SizeResult]) -> list[tuple[str, bool]]:
    """Per page: it answers 200 at every size, its count is the same on two requests and the same at every size,
    and its median server time at the largest size is at most ``PAGE_RATIO_MAX`` × the trivial page's."""
    largest = results[max(results)]
    found = []
    for index, page in enumerate(PAGES):
        measured = [result.pages[index] for result in results.values()]
        answered = all(m.status == 200 and not m.error for m in measured)
        stable = all(m.queries == m.queries_again for m in measured)
        equal = len({m.queries for m in measured}) == 1
        ratio = largest.pages[index].ratio
        flat = ratio is not None and ratio <= PAGE_RATIO_MAX
        found.append((page.name, answered and stable and equal and flat))
    return found


def trivial_verdict(results: dict[int, SizeResult]) -> bool:
    """The trivial page runs at most ``TRIVIAL_QUERIES_MAX`` queries at every size."""
    return all(result.baseline_queries <= TRIVIAL_QUERIES_MAX for result in results.values())


def _pattern(page: Page, path: str, number: str) -> str:
    return path.replace(number, "<number>") if page.of_participant else path


def report(results: dict[int, SizeResult], command: str, profile: dict[str, int], identical: bool) -> str:
    """The Markdown section: the command, the machine, the participant chosen, the table and the verdict."""
    sizes = sorted(results)
    small, large = results[sizes[0]], results[sizes[-1]]
    chosen = ", ".join(f"{results[size].participant} in bench_{size}" for size in sizes)
    sameness = "the same in both" if identical else "**not identical**: the closest pair found"
    baselines = ", ".join(
        f"{results[size].baseline_queries} queries and {results[size].baseline_ms:.1f} ms at {size:,}" for size in sizes
    )
    header = ["page", "path", "role", *(f"queries {size:,}" for size in sizes), "equal"]
    for size in sizes:
        header += [f"median ms {size:,}", f"× trivial {size:,}"]
    header += [f"HTML KiB {sizes[0]:,} → {sizes[-1]:,}", "criteria"]
    rows = []
    for index, (page, (_name, ok)) in enumerate(zip(PAGES, verdict(results), strict=True)):
        measured = [results[size].pages[index] for size in sizes]
        row = [page.name, f"`{_pattern(page, measured[0].path, small.participant)}`", page.role]
        for m in measured:
            counted = str(m.queries) if m.queries == m.queries_again else f"{m.queries}/{m.queries_again}"
            row.append(f"error: {m.error}" if m.error else counted)
        row.append("yes" if len({m.queries for m in measured}) == 1 else "**NO**")
        for m in measured:
            row += [f"{m.median_ms:.1f}", "—" if m.ratio is None else f"{m.ratio:.2f}"]
        row.append(f"{small.pages[index].html_kib:g} → {large.pages[index].html_kib:g}")
        row.append("met" if ok else "**NOT MET**")
        rows.append(row)
    accepted = all(ok for _name, ok in verdict(results)) and trivial_verdict(results)
    missed = [name for name, ok in verdict(results) if not ok]
    if not trivial_verdict(results):
        missed.insert(0, f"the trivial page (more than {TRIVIAL_QUERIES_MAX} queries)")
    conclusion = (
        f"every page runs the same number of queries at every size, and at {sizes[-1]:,} participants takes at most "
        f"{PAGE_RATIO_MAX:g} × the trivial page; the trivial page runs at most {TRIVIAL_QUERIES_MAX} queries."
        if accepted
        else "criteria not met by: " + "; ".join(missed) + "."
    )
    return (
        run_header(command)
        + f"\nParticipants: {', '.join(f'{results[size].participants:,}' for size in sizes)}. "
        + f"The participant pages show {chosen}: {describe_profile(profile)} ({sameness}).\n"
        + f"\nThe trivial page (the statistician's home page, `{small.baseline_path}`): {baselines}.\n\n"
        + f"Criteria (issue #21): queries equal at every size; median ÷ trivial at {sizes[-1]:,} ≤ {PAGE_RATIO_MAX:g}; "
        + f"trivial page ≤ {TRIVIAL_QUERIES_MAX} queries.\n\n"
        + table(header, rows, align="lll" + "r" * len(sizes) + "l" + "rr" * len(sizes) + "rl")
        + f"\n**{'PASS' if accepted else 'FAIL'}**: {conclusion}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="participants per trial")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES} only (no 50,000 trial)")
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--seconds", type=float, default=6.0, help="time spent per page and size (about)")
    parser.add_argument("--min-repeats", type=int, default=7, help="requests per page at least")
    parser.add_argument("--max-repeats", type=int, default=40, help="requests per page at most")
    parser.add_argument("--keep-copies", action="store_true", help="keep the databases bench_pages_<N>")
    parser.add_argument("--write-docs", action="store_true", help="refresh the pages section of docs/benchmarks.md")
    # The child's options (internal).
    parser.add_argument("--child", choices=["profiles", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--participant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _setup(args.database_url)
        if args.child == "profiles":
            print(json.dumps(own_data_profiles()))
        else:
            measured = measure_size(
                args.participant, seconds=args.seconds, min_repeats=args.min_repeats, max_repeats=args.max_repeats
            )
            print(json.dumps(asdict(measured)))
        return 0

    sizes = sorted(set(QUICK_SIZES if args.quick else args.sizes))
    copies: dict[int, str] = {}
    try:
        for size in sizes:
            ensure_generated(args.server, size)
            copies[size] = copy_database(args.server, f"bench_{size}", f"bench_pages_{size}")
            print(f"copied bench_{size} to bench_pages_{size}", flush=True)
        profiles = {size: run_child(url, "--child", "profiles") for size, url in copies.items()}
        chosen, profile, identical = choose_participants(profiles)
        print(f"participants chosen: {chosen} ({describe_profile(profile)}; identical: {identical})", flush=True)
        results: dict[int, SizeResult] = {}
        for size, url in copies.items():
            timing = ["--seconds", str(args.seconds), "--min-repeats", str(args.min_repeats)]
            timing += ["--max-repeats", str(args.max_repeats)]
            raw = run_child(url, "--child", "measure", "--participant", chosen[size], *timing)
            pages = [PageResult(**page) for page in raw.pop("pages")]
            results[size] = SizeResult(**raw, pages=pages)
            print(f"measured bench_pages_{size}: {len(pages)} pages", flush=True)
    finally:
        if not args.keep_copies:
            for size in copies:
                drop_database(args.server, f"bench_pages_{size}")
    section = report(results, command_line("pages.py", argv), profile, identical)
    accepted = all(ok for _name, ok in verdict(results)) and trivial_verdict(results)
    return conclude("pages", section, accepted, write_docs=args.write_docs)


if __name__ == "__main__":
    sys.exit(main())

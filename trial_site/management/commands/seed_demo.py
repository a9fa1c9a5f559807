"""Create the demo: the site "BSMMU Dhaka", one user per role (printing each new password once), and about
40 screened participants (24 eligible and confirmed, the others failing on different criteria or incomplete), an
allocation list in use, 20 of the confirmed participants randomised, and their visit schedules at different
stages (some through W24, some mid-way, one missed visit, one overdue, one withdrawn).

Safe to run again: existing users keep their passwords unless ``--reset-passwords`` is given, and participants
are added only to a site that has none.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from monitoring.demo import seed_monitoring_demo
from randomization.demo import seed_randomisation_demo
from reminders.demo import seed_reminders_demo
from safety.demo import seed_safety_demo
from screening.demo import seed_screening_demo
from trial_site.audit.actor import acting_as
from trial_site.models import Site
from trial_site.roles import Role
from trial_site.services import membership_grant, system_user
from visits.demo import seed_visits_demo

DEMO_SITE = {
    "code": "DHK",
    "name": "BSMMU Dhaka",
    "name_bn": "বিএসএমএমইউ ঢাকা",
    "country": "Bangladesh",
    "time_zone": "Asia/Dhaka",
    "phone": "+8809666700100",
}

DEMO_USERS: tuple[tuple[str, Role, str, str], ...] = (
    ("coordinator", Role.COORDINATOR, "Nasrin", "Akter"),
    ("investigator", Role.INVESTIGATOR, "Rafiq", "Islam"),
    ("assessor", Role.BLINDED_ASSESSOR, "Tahmina", "Haque"),
    ("monitor", Role.MONITOR, "Kamal", "Hossain"),
    ("datamanager", Role.DATA_MANAGER, "Shirin", "Rahman"),
    ("statistician", Role.STATISTICIAN, "Anisur", "Chowdhury"),
    ("admin", Role.ADMINISTRATOR, "Farida", "Begum"),
)


def demo_password() -> str:
    """A random 16-character password (letters and digits), well above the 12-character minimum."""
    return secrets.token_urlsafe(12)


class Command(BaseCommand):
    help = "Create the demo site and one user per role; print new passwords once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--reset-passwords", action="store_true", help="give every demo user a new password")

    @transaction.atomic
    def handle(self, *args: Any, reset_passwords: bool, **options: Any) -> None:
        user_model = get_user_model()
        system = system_user()
        with acting_as(system):
            site, created = Site.objects.get_or_create(code=DEMO_SITE["code"], defaults=DEMO_SITE)
        self.stdout.write(f"Site {site} {'created' if created else 'already there'}.")
        rows = []
        users = {}
        for username, role, first_name, last_name in DEMO_USERS:
            user, created = user_model.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first_name,
                    "last_name": last_name,
                    "email": f"{username}@example.org",
                },
            )
            password = ""
            if created or reset_passwords:
                password = demo_password()
                user.set_password(password)
                user.save(update_fields=["password"])
            membership_grant(user=user, site=site, role=role, by=system)
            users[role] = user
            rows.append((username, role.label, password or "(unchanged)"))
        screened = seed_screening_demo(
            site=site,
            coordinator=users[Role.COORDINATOR],
            investigator=users[Role.INVESTIGATOR],
            assessor=users[Role.BLINDED_ASSESSOR],
        )
        self.stdout.write(f"{screened} screened participants added." if screened else "Participants already there.")
        randomised = seed_randomisation_demo(
            site=site, statistician=users[Role.STATISTICIAN], investigator=users[Role.INVESTIGATOR]
        )
        if randomised:
            self.stdout.write(f"{randomised} participants randomised.")
        scheduled = seed_visits_demo(
            site=site,
            coordinator=users[Role.COORDINATOR],
            investigator=users[Role.INVESTIGATOR],
            assessor=users[Role.BLINDED_ASSESSOR],
        )
        if scheduled:
            self.stdout.write(f"{scheduled} visit schedules at different stages.")
        if seed_safety_demo(site=site, coordinator=users[Role.COORDINATOR]):
            self.stdout.write("Adverse events, two SAE reports (one overdue) and laboratory alerts added.")
        if seed_reminders_demo(site=site, coordinator=users[Role.COORDINATOR]):
            self.stdout.write(
                "Visit reminders planned; three go out at the first sweep (to var/outbox/sms.jsonl), one STOP reply."
            )
        if seed_monitoring_demo(
            site=site,
            monitor=users[Role.MONITOR],
            coordinator=users[Role.COORDINATOR],
            data_manager=users[Role.DATA_MANAGER],
        ):
            self.stdout.write(
                "Two data queries by the monitor (one answered), three verified forms, a locked casebook."
            )
        width = max(len(name) for name, _, _ in rows)
        self.stdout.write("Demo logins (passwords are shown only when set; keep them):")
        for username, role_label, password in rows:
            self.stdout.write(f"  {username.ljust(width)}  {password:<18}  {role_label}")

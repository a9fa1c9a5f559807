"""``manage.py check_invariants [--repair]``: report (and repair) what a crash left half done."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from trial_site.invariants import invariants_check
from trial_site.outbox import outbox_retry_failed


class Command(BaseCommand):
    help = (
        "Check the invariants a crash could break (every allocation has its schedule, every lab panel is "
        "assessed, every outbox message is delivered) and, with --repair, repair them (audited). Exits 1 while "
        "one does not hold."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repair", action="store_true", help="repair what is found (each repair audited)")
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="first give the outbox messages that failed for good their retries again (once what made them fail "
            "is fixed); they are not retried otherwise",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        broken = 0
        if options["retry_failed"]:
            retried = outbox_retry_failed()
            self.stdout.write(f"RETRY    {len(retried)} outbox message(s) that had failed given their retries again")
        for finding in invariants_check(repair=options["repair"]):
            mark = "OK " if not finding.problems else ("REPAIRED" if finding.holds else "BROKEN")
            self.stdout.write(f"{mark:8} {finding.invariant}: {len(finding.problems)} found")
            for problem in finding.problems:
                self.stdout.write(f"         - {problem}")
            for repair in finding.repaired:
                self.stdout.write(f"         + {repair}")
            broken += 0 if finding.holds else 1
        if broken:
            raise SystemExit(1)

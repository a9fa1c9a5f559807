"""Lock or unlock data from the command line (the database lock before the final analysis), through the same
services as the pages: the user named by ``--by`` needs the data manager's right to lock, and a reason.

    manage.py data_lock list
    manage.py data_lock database --by dana --reason "database lock before the final analysis"
    manage.py data_lock casebook DHK-S-0001 --by dana --reason "casebook reviewed"
    manage.py data_lock unlock 12 --by dana --reason "query on W24 labs"
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.models import DataLock
from monitoring.selectors.locks import lock_message, lock_target
from monitoring.services.locks import lock_data, unlock_data
from screening.models import Participant
from trial_site.audit.actor import acting_as


class Command(BaseCommand):
    help = "List, lock (the database or a casebook) and unlock data, as a data manager."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "database", "casebook", "unlock"])
        parser.add_argument("target", nargs="?", default="", help="screening number (casebook) or lock id (unlock)")
        parser.add_argument("--by", default="", help="username of the data manager")
        parser.add_argument("--reason", default="")

    def handle(self, *args: Any, action: str, target: str, by: str, reason: str, **options: Any) -> None:
        if action == "list":
            for lock in DataLock.objects.filter(unlocked_at__isnull=True).select_related(
                "locked_by", "participant", "visit", "content_type"
            ):
                self.stdout.write(f"{lock.pk}\t{lock_message(lock)}")
            return
        user = get_user_model().objects.filter(username=by, is_active=True).first()
        if user is None:
            raise CommandError("Name the data manager with --by <username>.")
        try:
            with acting_as(user):
                if action == "unlock":
                    lock = DataLock.objects.filter(pk=int(target) if target.isdigit() else None).first()
                    if lock is None:
                        raise CommandError(f"No lock {target!r}.")
                    unlock_data(lock=lock, by=user, reason=reason)
                    self.stdout.write(f"Unlocked: {lock_target(lock)}.")
                    return
                participant = None
                if action == "casebook":
                    participant = Participant.objects.filter(screening_number=target).first()
                    if participant is None:
                        raise CommandError(f"No participant {target!r}.")
                lock = lock_data(scope=action, by=user, reason=reason, participant=participant)
                self.stdout.write(f"Locked: {lock_target(lock)} (lock {lock.pk}).")
        except PermissionDenied as error:
            raise CommandError(f"{by} may not lock data.") from error
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error

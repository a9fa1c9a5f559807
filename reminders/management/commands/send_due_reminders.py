"""Run a reminder sweep now (beat runs one every REMINDER_SWEEP_SECONDS): hand every due reminder to the workers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from reminders.services import reminders_sweep


class Command(BaseCommand):
    help = "Hand every due visit reminder to the Celery workers now (what beat's sweep does every few minutes)."

    def handle(self, *args: Any, **options: Any) -> None:
        claimed = reminders_sweep()
        self.stdout.write(f"{len(claimed)} due reminders handed to the workers.")

"""Send a ping task to the Celery worker and wait for its answer: proof that broker and worker work."""

from __future__ import annotations

import time
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trial_site.tasks import ping


class Command(BaseCommand):
    help = "Send a ping task through the broker and wait for the worker's pong."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the worker")

    def handle(self, *args: Any, timeout: float, **options: Any) -> None:
        broker = settings.CELERY_BROKER_URL.split("@")[-1]
        started = time.monotonic()
        result = ping.delay(time.time())
        try:
            answer = result.get(timeout=timeout)
        except CeleryTimeoutError as error:
            raise CommandError(f"no Celery worker answered within {timeout:.0f} s (broker {broker})") from error
        elapsed_ms = (time.monotonic() - started) * 1000
        self.stdout.write(
            self.style.SUCCESS(
                f"Celery round-trip OK: pong from {answer['worker']} via {broker} in {elapsed_ms:.0f} ms"
            )
        )

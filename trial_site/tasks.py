"""Kernel tasks: a liveness round-trip and the beat heartbeat."""

from __future__ import annotations

import logging
import socket

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="trial_site.tasks.ping")
def ping(sent_at: float) -> dict[str, object]:
    """Answer a round-trip probe: the worker's host name and the sender's timestamp, unchanged."""
    logger.info("ping received from a sender at %.3f", sent_at)
    return {"pong": True, "worker": socket.gethostname(), "sent_at": sent_at}


@shared_task(name="trial_site.tasks.heartbeat")
def heartbeat() -> str:
    """Run by beat on its static schedule, so the log shows that beat and worker are alive."""
    logger.info("heartbeat: beat and worker are alive")
    return "alive"

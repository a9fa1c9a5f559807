"""The Django project and the shared kernel: protocol, audited base models, roles and site scoping."""

from trial_site.celery import app as celery_app

__all__ = ["celery_app"]

"""The Celery application: ``celery -A trial_site worker`` and ``celery -A trial_site beat``.

Configuration (broker, result store, the static beat schedule) lives in the Django settings under ``CELERY_``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial_site.settings.base")

app = Celery("trial_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

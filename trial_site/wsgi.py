"""WSGI entry point: ``gunicorn trial_site.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial_site.settings.base")

application = get_wsgi_application()

"""The settings of the gunicorn that the HTTP tests start: the test settings, with e-mail sent over SMTP when
``EMAIL_HOST`` is set. The test settings keep mail in memory (locmem), where a test cannot see what a server
process sent; base.py reads EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS and the credentials from the environment."""

from trial_site.settings.test import *  # noqa: F403
from trial_site.settings.test import EMAIL_HOST

if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

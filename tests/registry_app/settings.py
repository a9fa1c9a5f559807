"""The test settings with the test app that adds a form through the registry."""

from trial_site.settings.test import *  # noqa: F403
from trial_site.settings.test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.registry_app"]

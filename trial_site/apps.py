from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

logger = logging.getLogger("trial_site")


def _apply_role_permissions(sender: AppConfig, **kwargs: Any) -> None:
    from django.apps import apps

    from trial_site.services import role_groups_apply

    # post_migrate is sent once per app; the permissions of all apps exist after the last one.
    if sender is not list(apps.get_app_configs())[-1]:
        return

    # Django creates each app's permissions in its own post_migrate receiver, which may run after this one for
    # the last app: create them all first (idempotent), so that no role misses the permissions of the last app.
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"), apps=apps)
    missing = role_groups_apply()
    if missing:
        logger.info("role permissions not yet in the database (apps not migrated?): %s", ", ".join(missing))


class TrialSiteConfig(AppConfig):
    name = "trial_site"
    verbose_name = "Trial kernel"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trial_site import checks, receivers

        checks.register()
        receivers.connect()
        # After every migrate, the role groups are made to match trial_site.roles (idempotent).
        post_migrate.connect(_apply_role_permissions, dispatch_uid="trial_site.apply_role_permissions")

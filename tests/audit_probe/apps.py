from django.apps import AppConfig


class AuditProbeConfig(AppConfig):
    name = "tests.audit_probe"
    label = "audit_probe"
    default_auto_field = "django.db.models.BigAutoField"

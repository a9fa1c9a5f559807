from django.apps import AppConfig


class RegistryAppConfig(AppConfig):
    name = "tests.registry_app"
    label = "registry_app"
    default_auto_field = "django.db.models.BigAutoField"

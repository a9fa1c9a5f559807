"""The slots of an allocation list can never be changed or deleted, not even by raw SQL from the application's
database role: the append-only triggers of the audit history, on the slot table."""

from django.db import migrations

from trial_site.audit.operations import ProtectAppendOnly


class Migration(migrations.Migration):
    dependencies = [("randomization", "0001_initial")]

    operations = [ProtectAppendOnly("allocationslot")]

"""Fill the stored screening states of the participants already in the database.

The decision is the project's own rule (``clinical.eligibility`` through ``screening.selectors``), which historical
models cannot run, so this calls ``screening.status_store.states_fill`` with the application's models. Should a later
migration make that impossible on an old database, the rows are filled by ``manage.py check_invariants --repair``
(the invariant ``screening.status_store.states_current``) instead: this step may then be made a no-op.
"""

from django.db import migrations


def fill(apps, schema_editor):  # noqa: ANN001, ANN201
    from screening.models import Participant
    from screening.status_store import states_fill

    if Participant.objects.exists():
        states_fill()


class Migration(migrations.Migration):
    dependencies = [("screening", "0006_screening_state")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]

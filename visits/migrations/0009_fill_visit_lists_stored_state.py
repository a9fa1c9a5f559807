"""Fill the stored state of the visit lists (``VisitProgress``, ``RequiredForm.due_on``) for the visits made before
it existed, by the rules of ``visits.progress`` (its pure functions), in chunks."""

from collections import defaultdict

from django.db import migrations

CHUNK = 2000


def fill(apps, schema_editor):  # noqa: ANN001, ANN201
    from trial_site import registry
    from visits.progress import due_on, forms_progress

    Visit = apps.get_model("visits", "Visit")
    RequiredForm = apps.get_model("visits", "RequiredForm")
    VisitProgress = apps.get_model("visits", "VisitProgress")
    form_models = [(form.model.form_code, apps.get_model(form.model._meta.label)) for form in registry.visit_forms()]
    last = 0
    while True:
        visits = list(
            Visit.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "done_on", "latest", "missed", "cancelled")[:CHUNK]
        )
        if not visits:
            return
        ids = [visit[0] for visit in visits]
        last = ids[-1]
        required = defaultdict(dict)
        for visit_id, code, status in RequiredForm.objects.filter(visit_id__in=ids).values_list(
            "visit_id", "form", "status"
        ):
            required[visit_id][code] = status
        records = defaultdict(dict)
        for code, model in form_models:
            for visit_id, status in model.objects.filter(visit_id__in=ids).values_list("visit_id", "status"):
                records[visit_id][code] = status
        VisitProgress.objects.bulk_create(
            [VisitProgress(visit_id=pk, forms=forms_progress(required[pk], records[pk])) for pk, *_ in visits],
            ignore_conflicts=True,
        )
        by_day = defaultdict(list)
        for pk, done, latest, missed, cancelled in visits:
            by_day[due_on(done_on=done, latest=latest, missed=missed, cancelled=cancelled)].append(pk)
        for day, day_visits in by_day.items():
            if day is not None:
                RequiredForm.objects.filter(visit_id__in=day_visits).update(due_on=day)


class Migration(migrations.Migration):
    dependencies = [("visits", "0008_visit_lists_stored_state")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]

"""Fill what each visit counts (``VisitProgress.compliance``, ``forms_required``, ``forms_entered``) and the sites'
``VisitTally`` rows for the visits made before they existed, by the rules of ``visits.progress`` (its pure
functions), in chunks."""

from collections import Counter, defaultdict

from django.db import migrations

CHUNK = 2000


def fill(apps, schema_editor):  # noqa: ANN001, ANN201
    from visits.progress import TALLY_COUNTS, compliance, visit_counts

    Visit = apps.get_model("visits", "Visit")
    RequiredForm = apps.get_model("visits", "RequiredForm")
    VisitProgress = apps.get_model("visits", "VisitProgress")
    VisitTally = apps.get_model("visits", "VisitTally")
    tallies = defaultdict(Counter)
    last = 0
    while True:
        visits = list(
            Visit.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "site_id", "code", "done_on", "earliest", "latest", "missed", "cancelled")[:CHUNK]
        )
        if not visits:
            break
        ids = [visit[0] for visit in visits]
        last = ids[-1]
        required = defaultdict(dict)
        for visit_id, code, status in RequiredForm.objects.filter(visit_id__in=ids).values_list(
            "visit_id", "form", "status"
        ):
            required[visit_id][code] = status
        rows = []
        for pk, site_id, code, done, earliest, latest, missed, cancelled in visits:
            now = compliance(
                code=code, done_on=done, earliest=earliest, latest=latest, missed=missed, cancelled=cancelled
            )
            counted = visit_counts(compliance=now, done=done is not None, required=required[pk])
            tallies[site_id, code].update(counted)
            rows.append(
                VisitProgress(
                    visit_id=pk,
                    compliance=now,
                    forms_required=counted["forms_required"],
                    forms_entered=counted["forms_entered"],
                )
            )
        # Every visit has its progress row (0009 and the services): the conflict is the rule, the insert a fallback.
        VisitProgress.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["visit"],
            update_fields=["compliance", "forms_required", "forms_entered"],
        )
    VisitTally.objects.bulk_create(
        VisitTally(site_id=site_id, code=code, **{name: counts[name] for name in TALLY_COUNTS})
        for (site_id, code), counts in sorted(tallies.items())
    )


class Migration(migrations.Migration):
    dependencies = [("visits", "0012_visit_tally")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]

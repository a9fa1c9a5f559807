from django.db import models

from trial_site.audit.base import ClinicalRecord


class AuditProbe(ClinicalRecord):
    """A small clinical record: a coded value (with labels), a number and free text."""

    class Severity(models.IntegerChoices):
        MILD = 1, "mild"
        MODERATE = 2, "moderate"
        SEVERE = 3, "severe"

    label = models.CharField(max_length=50)
    severity = models.IntegerField(choices=Severity.choices)
    score = models.PositiveSmallIntegerField(default=0)
    note = models.TextField(blank=True)

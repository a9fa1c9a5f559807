"""Instruments shared by screening and the visits: the 17-area modified Rodnan skin score.

``MrssScores`` is an abstract model with one 0–3 field per area (names from ``clinical.mrss.MRSS_AREAS``);
the screening mRSS uses it now and the visit mRSS form reuses it.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from clinical.mrss import MRSS_AREAS, MRSS_MAX_AREA_SCORE, mrss_total


class SkinScore(models.IntegerChoices):
    NORMAL = 0, _("0 normal")
    MILD = 1, _("1 mild")
    MODERATE = 2, _("2 moderate")
    SEVERE = 3, _("3 severe")


def _area_field(label: str) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(
        label,
        choices=SkinScore.choices,
        validators=[MinValueValidator(0), MaxValueValidator(MRSS_MAX_AREA_SCORE)],
    )


class MrssScores(models.Model):
    """The 17 areas, each scored 0–3; the total (0–51) is computed, never typed."""

    class Meta:
        abstract = True

    @property
    def mrss_total(self) -> int | None:
        return mrss_total({code: getattr(self, code) for code, _label in MRSS_AREAS})


for _code, _label in MRSS_AREAS:
    MrssScores.add_to_class(_code, _area_field(_label))

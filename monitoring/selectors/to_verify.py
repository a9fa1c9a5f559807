"""The forms waiting for source data verification (the home page's "forms to verify"), counted and limited in SQL.

The SDV plan (``monitoring.selectors.sdv_plan``) is asked in the database: a form verified in full is to be verified
whenever it is entered; a sampled form only for the participants its stable sample draws (``sdv_in_sample``: the first
8 hex digits of SHA-256 of ``"<participant id>:<form>"`` modulo 100, below the sample percentage), computed by
``SampleDraw`` in SQL.

The cost does not grow with the trial: the count stops at ``COUNT_CAP`` (the page says "1,000+"), and the first rows
are read participant by participant in screening-number order (``FIRST_PARTICIPANTS`` numbers, then four times as
many, until the rows asked for are found), so the database reads the forms of a few participants through their
indexes instead of sorting every unverified form of the sites. Three queries when the first participants have the
rows asked for (the count, the first participants, their rows); two more per further step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import CharField, Exists, F, IntegerField, OuterRef, Value
from django.db.models.functions import Cast, Concat, StrIndex, Substr

from monitoring.models import SourceVerification
from monitoring.selectors.sdv_plan import form_name, sdv_forms, sdv_full
from screening.models import Participant
from trial_site.counting import COUNT_CAP  # the count stops here: more are shown as "1,000+"
from trial_site.permissions import site_ids_where
from trial_site.protocol import PROTOCOL

VERIFY_SOURCE = "monitoring.verify_source"
VIEW_VERIFICATION = "monitoring.view_sourceverification"
HEX = "0123456789abcdef"
FIRST_PARTICIPANTS = 25  # the screening numbers whose forms are read first; four times as many at each next step


class Sha256Hex(models.Func):
    """SHA-256 of a text as 64 lowercase hex digits (PostgreSQL's built-in ``sha256``; SQLite: Django's ``SHA256``
    function of every connection). Django's own ``SHA256`` needs the pgcrypto extension on PostgreSQL."""

    function = "SHA256"
    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler, connection, template="ENCODE(SHA256(CONVERT_TO(%(expressions)s, 'UTF8')), 'hex')", **extra
        )


class SampleDraw(models.Func):
    """``int(sha256(f"{participant_id}:{form}")[:8], 16) % 100`` in SQL (``sdv_plan.sdv_in_sample``), as one node.

    PostgreSQL reads the first 8 hex digits as a number in one cast (``x…::bit(64)::bigint``). Elsewhere (SQLite)
    each hex digit's value is its place in ``HEX`` (StrIndex: INSTR) minus one, and the remainder is carried from
    digit to digit, so the numbers stay small. One node, not the portable expression everywhere: the monitor's
    home page builds it for every sampled form of the plan twice a request, and Django cloned and compiled the
    eight nested levels in about 100 ms."""

    output_field = IntegerField()

    def __init__(self, participant_field: str, form: str) -> None:
        super().__init__(Concat(Cast(participant_field, CharField()), Value(f":{form}"), output_field=CharField()))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template="MOD(('x' || LPAD(LEFT(ENCODE(SHA256(CONVERT_TO(%(expressions)s, 'UTF8')), 'hex'), 8), 16, '0'))"
            "::bit(64)::bigint, 100)",
            **extra,
        )

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        digest = Sha256Hex(self.source_expressions[0])
        remainder: Any = Value(0, output_field=IntegerField())
        for place in range(8):  # the remainder modulo 100 digit by digit: never more than 1,600
            digit = StrIndex(Value(HEX), Substr(digest, place + 1, 1)) - 1
            remainder = models.ExpressionWrapper((remainder * 16 + digit) % 100, output_field=IntegerField())
        return compiler.compile(remainder.resolve_expression(compiler.query))


@dataclass(frozen=True)
class FormToVerify:
    screening_number: str
    name: str  # the form's name, with the visit's code for a visit form
    form: str  # app_label.model
    pk: int


def _sites(user: Any) -> list[int]:
    """The sites where the user may verify source data and read verifications."""
    return sorted(site_ids_where(user, VERIFY_SOURCE) & site_ids_where(user, VIEW_VERIFICATION))


def _pending(sites: list[int], participants: list[int] | None = None) -> models.QuerySet[Any]:
    """One UNION ALL of every SDV form's rows the plan requires and no verification in force covers, at ``sites``;
    with ``participants`` (ids) only theirs."""
    full = sdv_full()
    content_types = ContentType.objects.get_for_models(*sdv_forms())
    parts = []
    for order, model in enumerate(sdv_forms()):
        form = form_name(model)
        participant = model.participant_path  # type: ignore[attr-defined]  # ClinicalRecord's
        number = participant.removesuffix("_id") + "__screening_number"
        has_visit = any(model_field.name == "visit" for model_field in model._meta.fields)
        verified = SourceVerification.objects.filter(
            content_type_id=content_types[model].pk, object_id=OuterRef("pk"), cleared_at__isnull=True
        )
        rows = model.objects.filter(site_id__in=sites).filter(~Exists(verified))
        if participants is not None:
            rows = rows.filter(**{f"{participant}__in": participants})
        if form not in full:
            rows = rows.alias(draw=SampleDraw(participant, form)).filter(
                draw__lt=PROTOCOL.monitoring.sdv_sample_percent
            )
        parts.append(
            rows.annotate(
                number=F(number),
                visit_code=F("visit__code") if has_visit else Value("", output_field=CharField()),
                form_order=Value(order, output_field=IntegerField()),
            )
            .values_list("number", "form_order", "pk", "visit_code")
            .order_by()
        )
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def forms_to_verify(user: Any, *, limit: int, cap: int = COUNT_CAP) -> tuple[int, list[FormToVerify]]:
    """(how many, up to ``cap`` + 1 meaning "more than ``cap``"; the first ``limit``) of the forms to verify, by
    screening number, then the plan's order of forms, then the record's id."""
    sites = _sites(user)
    if not sites:
        return 0, []
    forms = sdv_forms()
    count = _pending(sites)[: cap + 1].count()
    rows: list[tuple[str, int, int, str]] = []
    after: str | None = None
    step = FIRST_PARTICIPANTS
    numbers = Participant.objects.filter(site_id__in=sites).order_by("screening_number")
    while len(rows) < limit and len(rows) < count:
        later = numbers if after is None else numbers.filter(screening_number__gt=after)
        batch = list(later.values_list("pk", "screening_number")[:step])
        if not batch:
            break
        found = _pending(sites, [pk for pk, _ in batch]).order_by("number", "form_order", "pk")[: limit - len(rows)]
        rows += list(found)
        after, step = batch[-1][1], step * 4
    return count, [
        FormToVerify(screening_number=number, name=_name(forms[order], visit_code), form=form_name(forms[order]), pk=pk)
        for number, order, pk, visit_code in rows
    ]


def _name(model: type[models.Model], visit_code: str | None) -> str:
    name = str(model._meta.verbose_name)
    name = name[:1].upper() + name[1:]
    return f"{name}, {visit_code}" if visit_code else name

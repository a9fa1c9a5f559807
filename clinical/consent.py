"""Re-consent: which consent form version a participant must sign now, explained.

A protocol amendment may bring a consent form version marked ``reconsent``: everyone still in the trial must sign it
(or a later version) once it is in effect, before the procedures it blocks. Someone who signed it already (or a
later version), at their first consent or at a re-consent, owes nothing; nor does someone no longer in the trial.

Versions are ``major.minor`` and compare as numbers (1.10 after 1.9). The caller gives the day (today at the site):
this module knows no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from clinical.versions import version_key


class ConsentVersionLike(Protocol):
    """A consent form version as the protocol declares it (``trial_site.protocol.ConsentFormVersion``)."""

    @property
    def version(self) -> str: ...
    @property
    def effective_from(self) -> date: ...
    @property
    def effective_to(self) -> date | None: ...
    @property
    def reconsent(self) -> bool: ...


class ReconsentReason(StrEnum):
    NONE_REQUIRED = "none_required"  # no version in effect by the day asks for re-consent
    NOT_IN_TRIAL = "not_in_trial"  # not consented, withdrawn, screen-failed or ended: nothing to sign
    UP_TO_DATE = "up_to_date"  # signed the version asked for, or a later one
    DUE = "due"  # must sign ``version`` before the blocked procedures


@dataclass(frozen=True)
class ReconsentDecision:
    """Whether the participant must re-consent, and why.

    ``version`` is the version to sign now (the latest in effect on the day, at least the one that asks for
    re-consent); ``required`` the version that asks for it, in effect ``since``; ``signed`` the latest version the
    participant signed (None if none)."""

    reason: ReconsentReason
    signed: str | None = None
    required: str | None = None
    version: str | None = None
    since: date | None = None

    @property
    def due(self) -> bool:
        return self.reason is ReconsentReason.DUE


def latest_signed(signed: Iterable[str]) -> str | None:
    versions = [version for version in signed if version]
    return max(versions, key=version_key) if versions else None


def reconsent_decision(
    *, signed: Iterable[str], versions: Iterable[ConsentVersionLike], in_trial: bool, day: date
) -> ReconsentDecision:
    """Which consent version (if any) the participant must sign on ``day``.

    ``signed``: the versions the participant signed (first consent and re-consents); ``versions``: the consent form
    versions of the protocol in force on ``day``; ``in_trial``: consented and not withdrawn, screen-failed or ended.

    The version that asks for re-consent is the highest version marked ``reconsent`` whose effective date is on or
    before ``day`` (before its effective date nobody owes it). Signing it or any later version settles it. The
    version to sign is the highest version in effect on ``day`` that is not older than it."""
    versions = list(versions)
    last = latest_signed(signed)
    asking = [form for form in versions if form.reconsent and form.effective_from <= day]
    if not asking:
        return ReconsentDecision(ReconsentReason.NONE_REQUIRED, signed=last)
    required = max(asking, key=lambda form: version_key(form.version))
    if not in_trial:
        return ReconsentDecision(
            ReconsentReason.NOT_IN_TRIAL, signed=last, required=required.version, since=required.effective_from
        )
    if last is not None and version_key(last) >= version_key(required.version):
        return ReconsentDecision(
            ReconsentReason.UP_TO_DATE, signed=last, required=required.version, since=required.effective_from
        )
    in_effect = [
        form
        for form in versions
        if form.effective_from <= day
        and (form.effective_to is None or day <= form.effective_to)
        and version_key(form.version) >= version_key(required.version)
    ]
    to_sign = max(in_effect, key=lambda form: version_key(form.version)) if in_effect else required
    return ReconsentDecision(
        ReconsentReason.DUE,
        signed=last,
        required=required.version,
        version=to_sign.version,
        since=required.effective_from,
    )

"""The protocol's versions: version 1.0 from the code and the registry of forms, each approved amendment from its row.

``protocol_on(day)`` is the version in force on a day (the latest approved version whose effective date is on or
before it); ``protocol_version(v)`` a named one. An amendment's ``content`` is the amendable protocol as a whole
(``amendable(protocol)``: the visit schedule with the forms of each visit, the safety follow-up, each arm's
laboratory hold rules, the eligibility thresholds and the consent form versions), so a version reads alone and two
versions compare field by field (``clinical.amendments.protocol_changes``).

A version is ``major.minor``; versions compare as numbers (1.10 after 1.9: ``clinical.versions.version_key``).

The approved versions are read from the database at most once per request, and with Redis not even that: their rows
are kept in the shared cache under a generation (``trial_site.generations``) that every write of a
``ProtocolVersion`` row replaces (``protocol_versions_changed``, at once and on commit), so every host reads a
new version on its next request. Without Redis (the demo: one cache per process) only the per-request memo.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import date
from functools import cache
from typing import Any

from asgiref.local import Local
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_delete, post_migrate, post_save
from django.utils import timezone

from clinical.eligibility import EligibilityRules
from clinical.safety import LabRule
from clinical.schedule import VisitRule, visit_schedule
from clinical.versions import version_key
from trial_site import registry
from trial_site.generations import MISSING, Generation
from trial_site.protocol import PROTOCOL, ConsentFormVersion, FollowUpDefinition, Protocol, VisitDefinition


@cache
def base_protocol() -> Protocol:
    """Version 1.0: ``PROTOCOL`` with each visit's forms from the registry (a form's ``visits``)."""
    return replace(
        PROTOCOL,
        visits=tuple(replace(visit, forms=_registry_forms(visit.code)) for visit in PROTOCOL.visits),
        follow_up=replace(PROTOCOL.follow_up, forms=_registry_forms(PROTOCOL.follow_up.code)),
    )


def _registry_forms(visit_code: str) -> tuple[str, ...]:
    return tuple(form.code for form in registry.visit_forms() if visit_code in form.spec.visits)


def amendable(protocol: Protocol) -> dict[str, Any]:
    """The parts of ``protocol`` an amendment may change, as JSON-ready data."""
    return {
        "visits": [_visit_data(visit) for visit in protocol.visits],
        "follow_up": _visit_data(protocol.follow_up),
        "lab_rules": {arm: [_rule_data(rule) for rule in rules] for arm, rules in protocol.lab_rules.items()},
        "eligibility": asdict(protocol.eligibility),
        "consent_forms": [
            {
                "version": form.version,
                "effective_from": form.effective_from.isoformat(),
                "effective_to": form.effective_to.isoformat() if form.effective_to else None,
                "reconsent": form.reconsent,
            }
            for form in protocol.consent_forms
        ],
    }


def _visit_data(visit: VisitDefinition | FollowUpDefinition) -> dict[str, Any]:
    data = asdict(visit)
    data["forms"] = list(visit.forms)
    return data


def _rule_data(rule: LabRule) -> dict[str, Any]:
    return {key: value for key, value in asdict(rule).items() if value is not None and value != ""}


def from_content(version: str, effective_from: date, content: dict[str, Any]) -> Protocol:
    """The protocol ``version`` whose amendable parts are ``content`` (the rest is version 1.0's).

    Raises ``ValueError`` naming what is wrong: an unknown visit form, an arm without rules, a malformed rule."""
    base = base_protocol()
    known_forms = {form.code for form in registry.visit_forms()}
    try:
        visits = tuple(_visit(VisitDefinition, item, known_forms) for item in content["visits"])
        follow_up = _visit(FollowUpDefinition, content["follow_up"], known_forms)
        lab_rules = {arm: tuple(LabRule(**rule) for rule in rules) for arm, rules in content["lab_rules"].items()}
        eligibility = EligibilityRules(**content["eligibility"])
        consent_forms = tuple(
            ConsentFormVersion(
                version=item["version"],
                effective_from=date.fromisoformat(item["effective_from"]),
                effective_to=date.fromisoformat(item["effective_to"]) if item.get("effective_to") else None,
                reconsent=bool(item.get("reconsent", False)),
            )
            for item in content["consent_forms"]
        )
    except KeyError as missing:
        raise ValueError(f"the amendment does not give {missing}") from None
    except TypeError as wrong:
        raise ValueError(f"the amendment is malformed: {wrong}") from None
    if set(lab_rules) != {arm.code for arm in base.arms}:
        raise ValueError(f"the laboratory rules must be given for the arms {', '.join(a.code for a in base.arms)}")
    codes = [visit.code for visit in visits]
    if len(set(codes)) != len(codes) or follow_up.code in codes:
        raise ValueError("two visits have the same code")
    try:  # windows must neither overlap nor be out of order: the same for every Day 1
        visit_schedule([VisitRule(v.code, v.target_day, v.days_before, v.days_after) for v in visits], date(2000, 1, 1))
    except ValueError as overlap:
        raise ValueError(str(overlap)) from None
    return replace(
        base,
        version=version,
        effective_from=effective_from,
        visits=visits,
        follow_up=follow_up,
        lab_rules=lab_rules,
        eligibility=eligibility,
        consent_forms=consent_forms,
    )


def _visit(kind: type, item: dict[str, Any], known_forms: set[str]) -> Any:
    unknown = [code for code in item.get("forms", ()) if code not in known_forms]
    if unknown:
        raise ValueError(f"visit {item.get('code')}: no visit form is called {', '.join(unknown)}")
    return kind(**{**item, "forms": tuple(item.get("forms", ()))})


# Replaced by every write of a ProtocolVersion row (post_save, post_delete), which is all the value reads.
VERSIONS = Generation("protocol_versions", fill_in_transactions=True)
ROWS_TIMEOUT = 60 * 60  # seconds: the rows are read again at least hourly (should a new generation not be written)
_local = Local()  # this thread's request memo
_parsed: dict[str, list[Protocol]] = {}  # this process's versions, by generation (the latest only)


def _approved() -> list[Any]:
    from trial_site.models.protocol_versions import ProtocolVersion

    return list(
        ProtocolVersion.objects.filter(status=ProtocolVersion.Status.APPROVED).values_list(
            "version", "effective_from", "content"
        )
    )


def _parse(rows: list[Any]) -> list[Protocol]:
    versions = [base_protocol()] + [from_content(v, day, content) for v, day, content in rows]
    return sorted(versions, key=lambda protocol: version_key(protocol.version))


def _read() -> list[Protocol]:
    token = VERSIONS.current()
    if token is None:  # no shared cache, or this transaction wrote a version: its own rows
        return _parse(_approved())
    if token in _parsed:
        return _parsed[token]
    rows = VERSIONS.get(token, "rows")
    if rows is MISSING:
        rows = _approved()
        VERSIONS.put(token, "rows", rows, ROWS_TIMEOUT)
    versions = _parse(rows)
    _parsed.clear()
    _parsed[token] = versions
    return versions


def approved_versions() -> list[Protocol]:
    """Version 1.0 and every approved amendment, in the order of their versions: read once per request (and with
    Redis once per write of a version, for every host)."""
    memo = getattr(_local, "request", None)
    if memo is not None:
        if "versions" not in memo:
            memo["versions"] = _read()
        return memo["versions"]
    return _read()


def protocol_versions_changed() -> None:
    """A ``ProtocolVersion`` row was written (or the database replaced): forget the versions read."""
    memo = getattr(_local, "request", None)
    if memo is not None:
        memo.clear()
    _parsed.clear()
    VERSIONS.bump()


def _version_written(sender: Any, **kwargs: Any) -> None:
    protocol_versions_changed()


def _request_started(**kwargs: Any) -> None:
    _local.request = {}


def _request_finished(**kwargs: Any) -> None:
    _local.request = None


def _connect() -> None:
    post_save.connect(_version_written, sender="trial_site.ProtocolVersion", dispatch_uid="protocol_versions_saved")
    post_delete.connect(_version_written, sender="trial_site.ProtocolVersion", dispatch_uid="protocol_versions_deleted")
    # A flush or a migration may replace the rows without saving them one by one (the tests' flush).
    post_migrate.connect(_version_written, dispatch_uid="protocol_versions_migrated")
    request_started.connect(_request_started, dispatch_uid="protocol_versions_request_started")
    request_finished.connect(_request_finished, dispatch_uid="protocol_versions_request_finished")


_connect()


def protocol_on(day: date, versions: list[Protocol] | None = None) -> Protocol:
    """The version in force on ``day``: the highest approved version in force by then. A list page passes the
    ``approved_versions()`` it read once, so that it does not read them again for each row."""
    in_force = [protocol for protocol in (versions or approved_versions()) if protocol.effective_from <= day]
    return in_force[-1] if in_force else base_protocol()


def protocol_today(time_zone: Any = None) -> Protocol:
    """The version in force today (in ``time_zone``, else the server's)."""
    now = timezone.localtime(timezone=time_zone) if time_zone else timezone.localtime()
    return protocol_on(now.date())


def protocol_version(version: str) -> Protocol | None:
    """The approved version ``version`` (1.0 included), or None."""
    return next((protocol for protocol in approved_versions() if protocol.version == version), None)


def consent_forms_all() -> tuple[ConsentFormVersion, ...]:
    """Every consent form version any approved protocol version names, in order of their versions."""
    found: dict[str, ConsentFormVersion] = {}
    for protocol in approved_versions():
        for form in protocol.consent_forms:
            found[form.version] = form
    return tuple(sorted(found.values(), key=lambda form: version_key(form.version)))

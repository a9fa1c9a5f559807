"""Protocol amendments from the command line, through the same services as the pages:

    manage.py protocol_amendment current > amendment.json      # the protocol in force, to edit
    manage.py protocol_amendment propose amendment.json --version 2.0 --effective 2027-01-15 \\
        --summary "Week 6 safety labs (EC approval 2026/14)" --by dana
    manage.py protocol_amendment show 2.0                       # its changes, its status and approval
    manage.py protocol_amendment approve 2.0 --by ivan --reason "approved by the ethics committee on 2026-12-01"

``--by`` names the user who proposes (a data manager) or approves (an investigator or another data manager; not
the proposer). Approving applies the amendment to the participants in the trial and prints what it did.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trial_site import amendments
from trial_site.audit.actor import acting_as
from trial_site.models.protocol_versions import ProtocolVersion
from trial_site.protocol_versions import amendable, base_protocol, protocol_today


def _messages(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Print the protocol in force, propose an amendment, show its changes, approve it."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # ``--version`` is the protocol version here, not Django's (which the shared parser adds).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["current", "propose", "show", "approve"])
        parser.add_argument("target", nargs="?", default="", help="the amendment file (propose) or version")
        parser.add_argument("--version", dest="protocol_version", default="", help="the new version (propose)")
        parser.add_argument("--effective", default="", help="in force from, YYYY-MM-DD (propose)")
        parser.add_argument("--summary", default="", help="what the amendment changes and why (propose)")
        parser.add_argument("--by", default="", help="username of who proposes or approves")
        parser.add_argument("--reason", default="", help="the reason for approval (approve)")

    def handle(self, *args: Any, action: str, target: str, **options: Any) -> None:
        if action == "current":
            protocol = protocol_today()
            self.stdout.write(json.dumps(amendable(protocol), indent=2, ensure_ascii=False))
            return
        if action == "show":
            self._show(target)
            return
        user = self._user(options["by"])
        try:
            with acting_as(user):
                if action == "propose":
                    self._propose(target, user, options)
                else:
                    self._approve(target, user, options["reason"])
        except PermissionDenied as error:
            raise CommandError(f"{user.get_username()} may not {action} a protocol amendment.") from error
        except ValidationError as error:
            raise CommandError(_messages(error)) from error

    def _user(self, username: str) -> Any:
        user = get_user_model().objects.filter(username=username, is_active=True).first() if username else None
        if user is None:
            raise CommandError(f"Name an active user with --by <username> (not {username!r}).")
        return user

    def _propose(self, target: str, user: Any, options: dict[str, Any]) -> None:
        if not target:
            raise CommandError("Give the amendment file: protocol_amendment propose FILE --version … --effective …")
        try:
            content = json.loads(Path(target).read_text(encoding="utf-8-sig"))
        except OSError as error:
            raise CommandError(f"Cannot read {target}: {error.strerror}.") from error
        except json.JSONDecodeError as error:
            raise CommandError(f"{target} is not valid JSON: {error}.") from error
        try:
            effective = date.fromisoformat(options["effective"])
        except ValueError:
            raise CommandError("Give the effective date as --effective YYYY-MM-DD.") from None
        record = amendments.protocol_version_propose(
            by=user,
            version=options["protocol_version"],
            effective_from=effective,
            summary=options["summary"],
            content=content,
        )
        self.stdout.write(f"Proposed: protocol version {record.version}, in force from {effective} once approved.")
        self._write_changes(record.version)

    def _approve(self, version: str, user: Any, reason: str) -> None:
        if not version:
            raise CommandError("Give the version to approve: protocol_amendment approve VERSION --by … --reason …")
        record = amendments.protocol_version_approve(version=version, by=user, reason=reason)
        self.stdout.write(f"Approved: protocol version {record.version}, in force from {record.effective_from}.")
        self.stdout.write("Applied to the participants: " + _counts(record.applied))

    def _show(self, version: str) -> None:
        if not version:
            raise CommandError("Give the version to show: protocol_amendment show VERSION")
        record = ProtocolVersion.objects.select_related("proposed_by", "approved_by").filter(version=version).first()
        if record is None:
            if version == base_protocol().version:
                self.stdout.write(f"Protocol version {version}: the protocol as first approved (in the code).")
                return
            raise CommandError(f"No protocol version {version!r}.")
        self.stdout.write(f"Protocol version {record.version}: {record.get_status_display()}")
        self.stdout.write(f"In force from {record.effective_from}")
        self.stdout.write(f"Summary: {record.summary}")
        self.stdout.write(f"Proposed by {record.proposed_by.get_username()} at {record.proposed_at:%Y-%m-%d %H:%M}")
        if record.approved_by is not None:
            self.stdout.write(
                f"Approved by {record.approved_by.get_username()} at {record.approved_at:%Y-%m-%d %H:%M}: "
                f"{record.approval_reason}"
            )
            self.stdout.write("Applied to the participants: " + _counts(record.applied))
        self._write_changes(record.version)

    def _write_changes(self, version: str) -> None:
        before, changes = amendments.changes_in(version)
        self.stdout.write(f"Changes from version {before}:")
        for change in changes:
            self.stdout.write(f"  {change.text}")
        if not changes:
            self.stdout.write("  none")


def _counts(applied: dict[str, Any]) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in applied.items()) or "nothing"

"""``permission_delegate``: delegate one of ``DELEGABLE_PERMISSIONS`` to a person, or end it, on the server.

Roles are the only source of permissions but for these (``trial_site/roles.py``): a coordinator allowed to
randomise, a reviewer of the audit trail (where they see the arm). Each change is in the account's history, with
the operator (``--by``, else the system user) and the reason.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trial_site.roles import DELEGABLE_PERMISSIONS
from trial_site.services import permission_delegate, system_user


class Command(BaseCommand):
    help = "Delegate a permission (or end a delegation) to one person, with a reason kept in their history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("permission", choices=sorted(DELEGABLE_PERMISSIONS))
        parser.add_argument("--reason", required=True, help="why: kept in the account's history")
        parser.add_argument("--end", action="store_true", help="take the delegation back")
        parser.add_argument("--by", default="", help="the username of the person doing it (default: the system)")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        try:
            user = users.get(username=options["username"])
            by = users.get(username=options["by"]) if options["by"] else system_user()
        except users.model.DoesNotExist as missing:
            raise CommandError(f"no such user: {missing}") from missing
        try:
            changed = permission_delegate(
                user=user, permission=options["permission"], by=by, reason=options["reason"], end=options["end"]
            )
        except ValidationError as refused:
            raise CommandError("; ".join(refused.messages)) from refused
        what = "ended" if options["end"] else "delegated"
        self.stdout.write(f"{options['permission']} {what} for {user.username}" if changed else "nothing to change")

"""Generate a permuted-block allocation list for every stratum (site × disease duration), as a statistician.

The seed is secret: a fresh random one, never printed or stored, unless ``--seed-file`` names a file holding
the statistician's own seed (to reproduce a list; keep that file away from the trial team).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from randomization.services import allocation_list_activate, allocation_list_generate
from trial_site.audit.actor import acting_as
from trial_site.protocol import PROTOCOL


class Command(BaseCommand):
    help = "Generate a concealed permuted-block allocation list (1:1, stratified by site and disease duration)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--statistician", required=True, help="username of the statistician generating it")
        parser.add_argument("--slots-per-stratum", type=int, default=PROTOCOL.planned_enrolment * 2)
        parser.add_argument("--block-sizes", default=",".join(map(str, PROTOCOL.block_sizes)))
        parser.add_argument("--seed-file", type=Path, help="a file holding a whole-number seed (to reproduce a list)")
        parser.add_argument("--activate", action="store_true", help="put the new list in use")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            statistician = get_user_model().objects.get(username=options["statistician"], is_active=True)
        except get_user_model().DoesNotExist as error:
            raise CommandError(f"no active user {options['statistician']!r}") from error
        seed = None
        if options["seed_file"]:
            try:
                seed = int(options["seed_file"].read_text().strip())
            except (OSError, ValueError) as error:
                raise CommandError(f"cannot read a whole-number seed from {options['seed_file']}") from error
        try:
            block_sizes = [int(part) for part in options["block_sizes"].split(",")]
        except ValueError as error:
            raise CommandError("--block-sizes takes whole numbers separated by commas, e.g. 2,4") from error
        with acting_as(statistician):
            try:
                allocation_list = allocation_list_generate(
                    name=options["name"],
                    slots_per_stratum=options["slots_per_stratum"],
                    block_sizes=block_sizes,
                    seed=seed,
                    by=statistician,
                )
                if options["activate"]:
                    allocation_list_activate(allocation_list=allocation_list, by=statistician)
            except ValidationError as error:
                raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"List {allocation_list.name}: {allocation_list.slots.count()} slots, checksum {allocation_list.checksum}"
            + (" (in use)" if options["activate"] else "")
        )

"""Allocation lists: generated here or imported, concealed from all but the statistician, verified."""

from __future__ import annotations

import html
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from clinical.allocation import PlannedSlot, allocation_checksum
from randomization.models import AllocationList, AllocationSlot
from tests.randomization.factories import list_in_use
from trial_site.roles import Role


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def stored_checksum(allocation_list: AllocationList) -> str:
    return allocation_checksum(
        PlannedSlot(s.stratum, s.sequence, s.block, s.block_size, s.arm) for s in allocation_list.slots.all()
    )


def test_a_generated_list_covers_every_stratum_and_its_checksum_verifies_it(site: Any, statistician: Any) -> None:
    allocation_list = list_in_use(statistician, slots_per_stratum=24)
    strata = set(allocation_list.slots.values_list("stratum", flat=True))
    assert strata == {"DHK/early", "DHK/late"}
    assert allocation_list.checksum == stored_checksum(allocation_list)
    assert not any("seed" in field.name for field in AllocationList._meta.get_fields())


def test_only_the_statistician_sees_the_lists(site: Any, statistician: Any, user_with_role: Any) -> None:
    allocation_list = list_in_use(statistician)
    for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER, Role.BLINDED_ASSESSOR):
        client = logged_in(user_with_role(role))
        assert client.get("/randomization/lists/").status_code == 403, role
        assert client.get(f"/randomization/lists/{allocation_list.pk}/").status_code == 403, role
    page = logged_in(statistician).get(f"/randomization/lists/{allocation_list.pk}/").content.decode()
    assert allocation_list.checksum in page and "DHK/early" in page


def test_generating_from_the_page(site: Any, statistician: Any) -> None:
    client = logged_in(statistician)
    response = client.post(
        "/randomization/lists/",
        {"action": "generate", "name": "main", "slots_per_stratum": 30, "block_sizes": "2, 4"},
    )
    assert response.status_code == 302
    allocation_list = AllocationList.objects.get(name="main")
    assert allocation_list.slots.filter(stratum="DHK/early").count() >= 30
    bad = client.post(
        "/randomization/lists/", {"action": "generate", "name": "odd", "slots_per_stratum": 30, "block_sizes": "3"}
    )
    assert "must be an even number" in bad.content.decode()


CSV_OK = "stratum,sequence,block,arm\nDHK/early,1,1,A\nDHK/early,2,1,B\nDHK/late,1,1,B\nDHK/late,2,1,A\n"


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        (CSV_OK.replace("DHK/early,2,1,B", "DHK/early,2,1,C"), 'unknown arm "C"'),
        (CSV_OK.replace("DHK/early,2,1,B", "DHK/early,1,1,B"), "appears twice"),
        (CSV_OK.replace("DHK/late,2,1,A", "DHK/late,2,1,B"), "a block must hold each arm equally"),
        (CSV_OK.replace("DHK/late", "XYZ/late"), "Unknown strata: XYZ/late"),
    ],
    ids=["unknown arm", "duplicate sequence", "unbalanced block", "unknown stratum"],
)
def test_import_errors_are_clear_and_import_nothing(site: Any, statistician: Any, csv_text: str, message: str) -> None:
    response = logged_in(statistician).post(
        "/randomization/lists/",
        {"action": "import", "name": "external", "csv_file": SimpleUploadedFile("list.csv", csv_text.encode())},
    )
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    assert not AllocationList.objects.exists() and not AllocationSlot.objects.exists()


def test_a_valid_import_is_stored_with_its_checksum(site: Any, statistician: Any) -> None:
    response = logged_in(statistician).post(
        "/randomization/lists/",
        {"action": "import", "name": "external", "csv_file": SimpleUploadedFile("list.csv", CSV_OK.encode())},
    )
    assert response.status_code == 302
    imported = AllocationList.objects.get()
    assert imported.method == "imported" and imported.slots.count() == 4
    assert imported.checksum == stored_checksum(imported)


def test_the_command_reproduces_a_list_from_the_statisticians_seed(
    site: Any, statistician: Any, tmp_path: Path
) -> None:
    seed_file = tmp_path / "seed"
    seed_file.write_text("20251124\n")
    outputs = []
    for name in ("first", "again"):
        out = StringIO()
        call_command("allocation_list_generate", name=name, statistician=statistician.username,
                     seed_file=seed_file, slots_per_stratum=24, stdout=out)  # fmt: skip
        outputs.append(out.getvalue())
    first, again = AllocationList.objects.get(name="first"), AllocationList.objects.get(name="again")
    assert first.checksum == again.checksum
    assert "20251124" not in "".join(outputs)
    fresh = StringIO()
    call_command("allocation_list_generate", name="fresh", statistician=statistician.username, stdout=fresh)
    assert AllocationList.objects.get(name="fresh").checksum != first.checksum


def test_lists_and_their_use_are_audited(site: Any, statistician: Any) -> None:
    allocation_list = list_in_use(statistician)
    rows = list(allocation_list.history.order_by("history_date").values_list("history_type", "is_active"))
    assert rows == [("+", False), ("~", True)]
    assert allocation_list.history.first().history_user == statistician

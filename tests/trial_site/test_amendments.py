"""Protocol amendments over the services and the command: a data manager proposes a version, someone else approves it
with a reason, and the participants already in the trial get its schedule."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import make_user
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.amendments import changes_in, protocol_version_approve, protocol_version_propose, versions
from trial_site.models.protocol_versions import ProtocolVersion
from trial_site.protocol_versions import amendable, base_protocol, protocol_on
from trial_site.roles import Role

W6 = {"code": "W6", "name": "Week 6 safety labs", "target_day": 43, "days_before": 3, "days_after": 3,
      "forms": ["labs"]}  # fmt: skip


def with_w6() -> dict[str, Any]:
    content = copy.deepcopy(amendable(base_protocol()))
    position = next(i for i, visit in enumerate(content["visits"]) if visit["code"] == "W8")
    content["visits"].insert(position, dict(W6))
    return content


@pytest.fixture
def data_manager(site: Any) -> Any:
    return make_user("dana", role=Role.DATA_MANAGER, site=site)


@pytest.fixture
def second_data_manager(site: Any) -> Any:
    return make_user("dora", role=Role.DATA_MANAGER, site=site)


def propose(by: Any, version: str = "2.0", content: Any = None, days: int = 0, summary: str = "W6 labs") -> Any:
    return protocol_version_propose(
        by=by,
        version=version,
        effective_from=timezone.localdate() + timedelta(days=days),
        summary=summary,
        content=with_w6() if content is None else content,
    )


def refusal(error: ValidationError) -> dict[str, list[str]]:
    return error.message_dict


def test_a_proposal_is_kept_with_who_and_when_and_is_not_in_force(data_manager: Any) -> None:
    record = propose(data_manager)
    assert (record.status, record.proposed_by, record.version) == ("proposed", data_manager, "2.0")
    assert protocol_on(timezone.localdate()).version == "1.0"
    assert [(row.version, row.status) for row in versions()] == [("2.0", "proposed"), ("1.0", "in_force")]
    before, changes = changes_in("2.0")
    assert before == "1.0"
    assert [change.text for change in changes] == ["Visit W6 (day 43, ±3 days) added with Laboratory panel"]


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.STATISTICIAN])
def test_only_a_data_manager_proposes(site: Any, role: Role) -> None:
    with pytest.raises(PermissionDenied):
        propose(make_user(f"someone-{role.value}", role=role, site=site))
    assert not ProtocolVersion.objects.exists()


def test_a_proposal_is_refused_field_by_field(data_manager: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        protocol_version_propose(
            by=data_manager, version="1.0", effective_from=timezone.localdate() - timedelta(days=1), summary=" ",
            content={"visits": []},
        )  # fmt: skip
    problems = refusal(raised.value)
    assert "higher than 1.0" in problems["version"][0]
    assert "past" in problems["effective_from"][0]
    assert problems["summary"]
    assert "does not give" in problems["content"][0]
    assert not ProtocolVersion.objects.exists()


def test_a_proposal_naming_an_unknown_form_or_overlapping_windows_is_refused(data_manager: Any) -> None:
    unknown = with_w6()
    unknown["visits"][3]["forms"] = ["labz"]
    with pytest.raises(ValidationError) as raised:
        propose(data_manager, content=unknown)
    assert "labz" in refusal(raised.value)["content"][0]
    overlapping = with_w6()
    overlapping["visits"][3]["days_before"] = 20
    with pytest.raises(ValidationError):
        propose(data_manager, content=overlapping)


def test_versions_only_go_up_and_a_proposal_must_change_something(data_manager: Any) -> None:
    propose(data_manager, "2.0")
    with pytest.raises(ValidationError) as raised:
        propose(data_manager, "1.9")
    assert "higher than 2.0" in refusal(raised.value)["version"][0]
    with pytest.raises(ValidationError) as raised:
        propose(data_manager, "2.1")  # the same content as 2.0
    assert "changes nothing" in refusal(raised.value)["content"][0]
    with pytest.raises(ValidationError) as raised:
        propose(data_manager, "two")
    assert refusal(raised.value)["version"]


def test_the_approver_is_not_the_proposer(data_manager: Any, second_data_manager: Any) -> None:
    propose(data_manager)
    with pytest.raises(ValidationError) as raised:
        protocol_version_approve(version="2.0", by=data_manager, reason="EC approval")
    assert "someone else" in raised.value.messages[0]
    record = protocol_version_approve(version="2.0", by=second_data_manager, reason="EC approval 2026/14")
    assert (record.status, record.approved_by, record.approval_reason) == ("approved", second_data_manager,
                                                                           "EC approval 2026/14")  # fmt: skip
    assert protocol_on(timezone.localdate()).version == "2.0"


def test_approval_needs_a_reason_and_the_permission(data_manager: Any, investigator: Any, coordinator: Any) -> None:
    propose(data_manager)
    with pytest.raises(ValidationError) as raised:
        protocol_version_approve(version="2.0", by=investigator, reason="  ")
    assert refusal(raised.value)["reason"]
    with pytest.raises(PermissionDenied):
        protocol_version_approve(version="2.0", by=coordinator, reason="looks fine")
    assert ProtocolVersion.objects.get().status == "proposed"


def test_a_second_approval_is_refused_clearly(data_manager: Any, investigator: Any, second_data_manager: Any) -> None:
    propose(data_manager)
    protocol_version_approve(version="2.0", by=investigator, reason="EC approval")
    with pytest.raises(ValidationError) as raised:
        protocol_version_approve(version="2.0", by=second_data_manager, reason="EC approval")
    assert "approved already" in raised.value.messages[0]
    assert ProtocolVersion.objects.get().approved_by == investigator
    assert ProtocolVersion.history.filter(status="approved").values("history_id").count() == 2  # approved, applied


def test_an_amendment_whose_date_passed_unapproved_cannot_be_approved(data_manager: Any, investigator: Any) -> None:
    record = propose(data_manager)
    record.effective_from = timezone.localdate() - timedelta(days=1)
    record.save(by=data_manager, reason="test: time passed")
    with pytest.raises(ValidationError) as raised:
        protocol_version_approve(version="2.0", by=investigator, reason="EC approval")
    assert "has passed" in raised.value.messages[0]


def test_approving_a_new_visit_gives_it_to_the_randomised_participant(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, data_manager: Any
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    assert not participant.visits.filter(code="W6").exists()
    propose(data_manager)
    record = protocol_version_approve(version="2.0", by=investigator, reason="EC approval 2026/14")
    w6 = participant.visits.get(code="W6")
    day1 = participant.visits.get(code="D1").target_date
    assert (w6.target_date - day1).days == 42
    assert list(w6.required_forms.values_list("form", flat=True)) == ["labs"]
    assert record.applied["visits_added"] == 1
    assert record.applied["participants"] == 1
    assert ProtocolVersion.objects.get().applied == record.applied


# The command ---------------------------------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command("protocol_amendment", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_proposes_shows_and_approves(data_manager: Any, investigator: Any, tmp_path: Any) -> None:
    current = json.loads(run("current"))
    assert current == amendable(base_protocol())
    current["visits"].insert(3, dict(W6))
    amendment = tmp_path / "amendment.json"
    amendment.write_text(json.dumps(current), encoding="utf-8")
    effective = (timezone.localdate() + timedelta(days=30)).isoformat()
    out = run("propose", str(amendment), "--version", "2.0", "--effective", effective, "--summary", "W6 labs",
              "--by", "dana")  # fmt: skip
    assert "Proposed: protocol version 2.0" in out
    assert "Visit W6 (day 43, ±3 days) added with Laboratory panel" in out
    shown = run("show", "2.0")
    assert "Proposed" in shown and "W6" in shown and "Changes from version 1.0" in shown
    approved = run("approve", "2.0", "--by", investigator.username, "--reason", "EC approval 2026/14")
    assert "Approved: protocol version 2.0" in approved
    assert "Applied to the participants: participants 0" in approved
    assert f"Approved by {investigator.username}" in run("show", "2.0")


def test_the_command_refuses_bad_input_clearly(data_manager: Any, investigator: Any, tmp_path: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CommandError, match="not valid JSON"):
        run("propose", str(bad), "--version", "2.0", "--effective", "2099-01-01", "--summary", "x", "--by", "dana")
    with pytest.raises(CommandError, match="Cannot read"):
        run("propose", str(tmp_path / "missing.json"), "--version", "2.0", "--effective", "2099-01-01",
            "--by", "dana")  # fmt: skip
    good = tmp_path / "good.json"
    good.write_text(json.dumps(with_w6()), encoding="utf-8")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run("propose", str(good), "--version", "2.0", "--effective", "soon", "--summary", "x", "--by", "dana")
    with pytest.raises(CommandError, match="--by"):
        run("propose", str(good), "--version", "2.0", "--effective", "2099-01-01", "--summary", "x", "--by", "nobody")
    with pytest.raises(CommandError, match="may not propose"):
        run("propose", str(good), "--version", "2.0", "--effective", "2099-01-01", "--summary", "x",
            "--by", investigator.username)  # fmt: skip
    with pytest.raises(CommandError, match=r"version: .*higher"):
        run("propose", str(good), "--version", "0.9", "--effective", "2099-01-01", "--summary", "x", "--by", "dana")
    with pytest.raises(CommandError, match="No protocol version"):
        run("show", "7.0")
    with pytest.raises(CommandError, match=r"No protocol version 7\.0 has been proposed"):
        run("approve", "7.0", "--by", investigator.username, "--reason", "x")

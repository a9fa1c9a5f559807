"""The protocol pages: the versions, a version's changes (added in green, removed in red), proposing an amendment
(the file uploaded or the JSON pasted) and approving it with a reason and the password."""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.factories import make_user
from tests.trial_site.test_amendments import propose, with_w6
from trial_site.models import AccessEvent
from trial_site.models.protocol_versions import ProtocolVersion
from trial_site.protocol_versions import amendable, base_protocol
from trial_site.roles import Role


@pytest.fixture
def data_manager(site: Any) -> Any:
    return make_user("dana", role=Role.DATA_MANAGER, site=site)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def key_of(page: str) -> str:
    return re.search(r'name="submission_key" value="([^"]+)"', page)[1]  # type: ignore[index]


def proposal(**overrides: Any) -> dict[str, Any]:
    body = {
        "version": "2.0",
        "effective_from": (timezone.localdate() + timedelta(days=7)).isoformat(),
        "summary": "Week 6 safety labs, EC approval 2026/14",
        "content_text": json.dumps(with_w6()),
    }
    return {**body, **overrides}


def test_a_data_manager_proposes_on_the_page_and_sees_the_changes(data_manager: Any) -> None:
    client = logged_in(data_manager)
    listing = client.get("/protocol/").content.decode()
    assert 'data-testid="protocol-propose"' in listing
    body = {**proposal(), "submission_key": key_of(client.get("/protocol/propose/").content.decode())}
    response = client.post("/protocol/propose/", body)
    assert response.status_code == 302 and response["Location"] == "/protocol/2.0/"
    assert client.post("/protocol/propose/", body).status_code == 302  # sent twice: proposed once
    assert ProtocolVersion.objects.count() == 1
    page = client.get("/protocol/2.0/").content.decode()
    added = re.search(r'<tr class="table-success" data-testid="change-visit_added" data-subject="W6">(.*?)</tr>',
                      page, re.S)  # fmt: skip
    assert added is not None and "day 43, ±3 days" in added[1]
    assert "Changes from version 1.0" in page
    assert 'data-testid="approval-own"' in page  # the proposer may not approve
    assert 'data-testid="approve-form"' not in page


def test_an_uploaded_file_is_read_as_well(data_manager: Any) -> None:
    content = with_w6()
    del content["visits"][-1]  # W24 removed too
    upload = SimpleUploadedFile("amendment.json", json.dumps(content).encode(), content_type="application/json")
    response = logged_in(data_manager).post("/protocol/propose/", {**proposal(content_text=""), "content_file": upload})
    assert response.status_code == 302
    page = logged_in(data_manager).get("/protocol/2.0/").content.decode()
    assert '<tr class="table-danger" data-testid="change-visit_removed" data-subject="W24">' in page


def test_errors_are_shown_next_to_their_fields(data_manager: Any) -> None:
    client = logged_in(data_manager)
    refused = client.post("/protocol/propose/", proposal(content_text="{not json"))
    assert refused.status_code == 400
    assert "This is not valid JSON (line 1" in refused.content.decode()
    refused = client.post("/protocol/propose/", proposal(version="1.0", effective_from="2020-01-01"))
    page = refused.content.decode()
    assert refused.status_code == 400
    assert re.search(r'id="error_1_id_version"[^>]*>.*higher than 1\.0', page, re.S)
    assert re.search(r'id="error_1_id_effective_from"[^>]*>.*in the past', page, re.S)
    unknown = with_w6()
    unknown["visits"][3]["forms"] = ["labz"]
    refused = client.post("/protocol/propose/", proposal(content_text=json.dumps(unknown)))
    assert re.search(r'id="error_1_id_content_text"[^>]*>.*labz', refused.content.decode(), re.S)
    assert not ProtocolVersion.objects.exists()


def test_only_data_managers_may_propose_and_a_refusal_is_logged(site: Any, coordinator: Any, investigator: Any) -> None:
    for user in (coordinator, investigator):
        client = logged_in(user)
        assert client.get("/protocol/").status_code == 200
        assert 'data-testid="protocol-propose"' not in client.get("/protocol/").content.decode()
        assert client.get("/protocol/propose/").status_code == 403
        assert client.post("/protocol/propose/", proposal()).status_code == 403
        assert client.get("/protocol/current.json").status_code == 403
    assert AccessEvent.objects.filter(kind="access_denied", path="/protocol/propose/").exists()
    assert not ProtocolVersion.objects.exists()


def test_the_protocol_in_force_downloads_as_the_start_of_an_amendment(data_manager: Any) -> None:
    response = logged_in(data_manager).get("/protocol/current.json")
    assert response.status_code == 200
    assert "protocol-1.0.json" in response["Content-Disposition"]
    assert json.loads(response.content) == json.loads(json.dumps(amendable(base_protocol())))


def test_an_investigator_approves_with_a_reason_and_the_password(
    data_manager: Any, investigator: Any, password: str, user_with_role: Any
) -> None:
    propose(data_manager, days=7)
    client = logged_in(investigator)
    page = client.get("/protocol/2.0/").content.decode()
    assert 'data-testid="approve-form"' in page
    wrong = client.post("/protocol/2.0/", {"reason": "EC approval", "password": "not mine",
                                           "submission_key": key_of(page)})  # fmt: skip
    assert wrong.status_code == 400
    assert "That password is not right: nothing was approved." in wrong.content.decode()
    assert ProtocolVersion.objects.get().status == "proposed"
    body = {"reason": "EC approval 2026/14", "password": password, "submission_key": key_of(page)}
    approved = client.post("/protocol/2.0/", body)
    assert approved.status_code == 302
    assert client.post("/protocol/2.0/", body).status_code == 302  # a double click: approved once
    record = ProtocolVersion.objects.get()
    assert (record.status, record.approved_by, record.approval_reason) == ("approved", investigator,
                                                                           "EC approval 2026/14")  # fmt: skip
    assert ProtocolVersion.history.filter(approval_reason="EC approval 2026/14").count() == 2  # approved, applied
    shown = client.get("/protocol/2.0/").content.decode()
    assert 'data-testid="approved-by"' in shown and 'data-testid="applied"' in shown
    assert 'data-testid="approve-form"' not in shown
    listing = client.get("/protocol/").content.decode()
    assert 'data-version="2.0" data-status="approved"' in listing  # in force from next week
    assert 'data-version="1.0" data-status="in_force"' in listing


def test_a_second_approver_from_another_page_is_told_it_is_approved_already(
    data_manager: Any, investigator: Any, password: str, user_with_role: Any
) -> None:
    propose(data_manager)
    other = user_with_role(Role.INVESTIGATOR, username="second-investigator")
    first, second = logged_in(investigator), logged_in(other)
    first_page, second_page = (c.get("/protocol/2.0/").content.decode() for c in (first, second))
    assert first.post("/protocol/2.0/", {"reason": "EC", "password": password,
                                         "submission_key": key_of(first_page)}).status_code == 302  # fmt: skip
    late = second.post("/protocol/2.0/", {"reason": "EC", "password": password, "submission_key": key_of(second_page)})
    assert late.status_code == 400
    assert "is approved already (by" in late.content.decode()
    assert ProtocolVersion.objects.get().approved_by == investigator


def test_approving_without_the_permission_is_a_logged_403(data_manager: Any, coordinator: Any, password: str) -> None:
    propose(data_manager)
    client = logged_in(coordinator)
    page = client.get("/protocol/2.0/").content.decode()
    assert 'data-testid="approve-form"' not in page
    assert client.post("/protocol/2.0/", {"reason": "x", "password": password}).status_code == 403
    assert AccessEvent.objects.filter(kind="access_denied", path="/protocol/2.0/").exists()
    assert ProtocolVersion.objects.get().status == "proposed"


def test_blinded_staff_do_not_see_the_laboratory_rules_that_name_the_drugs(data_manager: Any, assessor: Any) -> None:
    content = copy.deepcopy(with_w6())
    content["lab_rules"]["A"][0]["threshold"] = 0.4
    content["lab_rules"]["A"][0]["text"] = "ALC < 0.4 ×10⁹/L: hold baricitinib"
    propose(data_manager, content=content)
    blinded = logged_in(assessor).get("/protocol/2.0/").content.decode()
    assert 'data-subject="W6"' in blinded
    assert 'data-testid="hidden-changes"' in blinded
    assert "BARI" not in blinded and "baricitinib" not in blinded.lower()
    unblinded = logged_in(data_manager).get("/protocol/2.0/").content.decode()
    assert 'data-subject="A: BARI_ALC"' in unblinded


def test_the_list_is_for_every_role_in_the_menu_and_reads_in_few_queries(
    data_manager: Any, user_with_role: Any, django_assert_max_num_queries: Any
) -> None:
    propose(data_manager, "2.0")
    propose(data_manager, "2.1", content={**with_w6(), "eligibility": {**with_w6()["eligibility"], "min_mrss": 12}})
    for role in Role:
        client = logged_in(user_with_role(role, username=f"reader-{role.value}"))
        assert 'href="/protocol/"' in client.get("/").content.decode()
        with django_assert_max_num_queries(12):
            page = client.get("/protocol/")
        assert page.status_code == 200
        assert 'data-version="2.1" data-status="proposed"' in page.content.decode()
    assert logged_in(data_manager).get("/protocol/9.9/").status_code == 404
    assert logged_in(data_manager).get("/protocol/1.0/").status_code == 200

"""The one wording of a criterion's result: "inclusion met / not met", "exclusion present / absent"; green only
for what speaks for eligibility."""

from __future__ import annotations

import pytest

from clinical.display import criterion_reading
from clinical.eligibility import CriterionStatus
from clinical.eligibility_criteria import CRITERIA


@pytest.mark.parametrize(
    ("kind", "status", "words", "in_favour"),
    [
        ("inclusion", CriterionStatus.MET, "inclusion met", True),
        ("inclusion", CriterionStatus.FAILED, "inclusion not met", False),
        ("inclusion", CriterionStatus.UNKNOWN, "not yet known", None),
        ("exclusion", CriterionStatus.MET, "exclusion absent", True),
        ("exclusion", CriterionStatus.FAILED, "exclusion present", False),
        ("exclusion", CriterionStatus.UNKNOWN, "not yet known", None),
    ],
)
def test_each_kind_and_result_reads_as_it_means(
    kind: str, status: CriterionStatus, words: str, in_favour: bool | None
) -> None:
    reading = criterion_reading(kind, status)
    assert (reading.words, reading.in_favour) == (words, in_favour)


def test_an_absent_exclusion_never_reads_met_and_a_present_one_never_reads_as_in_favour() -> None:
    assert "met" not in criterion_reading("exclusion", "met").words
    assert criterion_reading("exclusion", "failed").in_favour is False


def test_every_criterion_of_the_protocol_has_a_wording_for_every_result() -> None:
    for criterion in CRITERIA:
        for status in CriterionStatus:
            assert criterion_reading(criterion.kind, status).words


@pytest.mark.parametrize(("kind", "status"), [("inclusion", "passed"), ("exclusions", "met"), ("", "")])
def test_an_unknown_kind_or_status_is_refused_not_guessed(kind: str, status: str) -> None:
    with pytest.raises(ValueError, match="no wording"):
        criterion_reading(kind, status)

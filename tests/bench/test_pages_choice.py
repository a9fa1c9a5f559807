"""The pages benchmark shows the same participant's pages at every size where it can (``bench/pages.py``):
``choose_participants`` gives every size a participant, also when no profile is found at all three sizes."""

from __future__ import annotations

from bench.pages import choose_participants


def test_every_size_gets_the_participant_with_the_common_profile() -> None:
    rich, poor = {"visits.visit": 9, "safety.adverseevent": 1}, {"visits.visit": 2}
    profiles = {100: {"A-2": poor, "A-1": rich}, 5000: {"B-1": poor, "B-7": rich}, 50000: {"C-3": rich}}
    assert choose_participants(profiles) == ({100: "A-1", 5000: "B-7", 50000: "C-3"}, rich, True)


def test_without_a_profile_at_every_size_each_size_still_gets_the_closest_participant() -> None:
    profiles = {
        100: {"A-1": {"visits.visit": 9, "safety.adverseevent": 1}},
        5000: {"B-1": {"visits.visit": 2}, "B-2": {"visits.visit": 9}},
        50000: {"C-1": {"visits.visit": 9, "safety.adverseevent": 2}},
    }
    chosen, profile, identical = choose_participants(profiles)
    assert chosen == {100: "A-1", 5000: "B-2", 50000: "C-1"}
    assert profile == profiles[100]["A-1"] and identical is False

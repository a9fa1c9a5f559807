"""The protocol as data: the one place that names the trial, its version and its arms.

Later features add the visit schedule, required forms and thresholds here (``../shared/TRIAL.md`` is the
source). Every clinical record stores ``PROTOCOL.version``, the version it was made under.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arm:
    code: str
    drug: str
    dose: str
    frequency: str


@dataclass(frozen=True)
class Protocol:
    version: str
    short_title: str
    title: str
    registration: str
    sponsor: str
    arms: tuple[Arm, ...]
    planned_enrolment: int


PROTOCOL = Protocol(
    version="1.0",
    short_title="Baricitinib vs methotrexate in dcSSc",
    title=(
        "Safety and Efficacy of Baricitinib on Skin Tightening in Diffuse Cutaneous Systemic Sclerosis: "
        "A Comparative Study With Methotrexate"
    ),
    registration="NCT06936215",
    sponsor="Bangabandhu Sheikh Mujib Medical University, Department of Rheumatology",
    arms=(
        Arm(code="A", drug="baricitinib", dose="4 mg orally", frequency="once daily"),
        Arm(
            code="B",
            drug="methotrexate",
            dose="25 mg orally (plus folic acid 5 mg weekly)",
            frequency="once weekly",
        ),
    ),
    planned_enrolment=24,
)

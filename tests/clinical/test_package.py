"""The clinical package stays pure: standard library only, nothing from Django or the project."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import clinical
from clinical.display import number, number_against

PACKAGE = Path(clinical.__file__).parent
DOCS = PACKAGE.parent / "docs" / "eligibility.md"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_clinical_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"clinical", "__future__"}
    for path in sorted(PACKAGE.glob("*.py")):
        outside = imported_modules(path) - allowed
        assert not outside, f"{path.name} imports {sorted(outside)}"


def test_shown_values_never_seem_to_cross_a_threshold() -> None:
    assert number_against(59.96, 60) == "59.96"
    assert number_against(89.69313009207339, 60) == "89.7"
    assert number_against(0.7499, 0.75) == "0.7499"
    assert number_against(7.9, 8) == "7.9"
    assert number_against(8.0, 8) == "8"
    assert number(0.75) == "0.75" and number(100.0) == "100" and number(3) == "3"


def test_investigator_guide_covers_every_criterion() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code in ("I1", "I2", "I3", "I4", *(f"E{n}" for n in range(1, 18))):
        assert re.search(rf"\|\s*{code}\s*\|", text), f"{code} missing from {DOCS.name}"
    assert "PROTOCOL.eligibility" in text

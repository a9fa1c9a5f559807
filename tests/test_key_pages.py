"""The user guides' pictures: each key page is taken by the browser test named for it, embedded by a guide, and on
disk in ``docs/screenshots/`` (so ``make screenshots`` renews every picture a guide shows, and none is left out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.screenshots import KEY_PAGE_TAKERS, PROJECT_ROOT

GUIDES = sorted((PROJECT_ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize(("name", "taker"), sorted(KEY_PAGE_TAKERS.items()))
def test_each_key_page_is_taken_by_its_test_embedded_by_a_guide_and_on_disk(name: str, taker: str) -> None:
    source = (PROJECT_ROOT / taker).read_text(encoding="utf-8")
    assert f'"{name}"' in source, f"{taker} does not take {name!r}"
    embedded = [guide.name for guide in GUIDES if f"screenshots/{name}.png" in guide.read_text(encoding="utf-8")]
    assert embedded, f"no guide in docs/ shows screenshots/{name}.png"
    assert (PROJECT_ROOT / "docs" / "screenshots" / f"{name}.png").is_file()


def test_make_screenshots_runs_every_test_that_takes_a_key_page() -> None:
    makefile = Path(PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    for taker in set(KEY_PAGE_TAKERS.values()):
        assert taker in makefile, f"make screenshots does not run {taker}"

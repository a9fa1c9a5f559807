"""Screenshots of the key pages for the user guides (``make screenshots``).

The browser flows call ``Camera.shoot(page, name)`` at the moment a page shows what the guides describe. A picture
is written to ``$SCREENSHOTS_DIR/<name>.png`` (full page, the browser's 1280 px width) only when that variable is
set; the names are recorded either way, so a test can check that its flows reach every key page even when no
picture is written (in CI), and ``make screenshots`` cannot silently leave one out.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The pictures the user guides embed as ``screenshots/<name>.png``: the one list of them, each with the browser test
# that takes it. ``make screenshots`` runs these tests; each test checks that it took its own pictures, and
# tests/test_structure.py that every picture here is taken by the test named and embedded by a guide.
TRIAL_DAY = "tests/e2e/test_trial_flows.py"
KEY_PAGE_TAKERS: dict[str, str] = {
    "home-coordinator": TRIAL_DAY,
    "screening-log": TRIAL_DAY,
    "screening-participant": TRIAL_DAY,
    "eligibility-confirm": TRIAL_DAY,
    "randomised": TRIAL_DAY,
    "visit-schedule": TRIAL_DAY,
    "crf-mrss": TRIAL_DAY,
    "missing-forms": TRIAL_DAY,
    "sae-report": TRIAL_DAY,
    "safety-summary": TRIAL_DAY,
    "query": TRIAL_DAY,
    "audit-trail": TRIAL_DAY,
    "verification": TRIAL_DAY,
    "export-centre": TRIAL_DAY,
    "export-odm-ready": TRIAL_DAY,
    "consort": TRIAL_DAY,
    "reminders": TRIAL_DAY,
    "visit-forms": "tests/e2e/test_enter_a_visit.py",  # a visit's forms and their states
    "crf-phone": "tests/e2e/test_enter_a_visit.py",  # a form's first screen at 390 px
    "participant-phone": "tests/e2e/test_phone_widths.py",  # at 390 px
    "screening-log-phone": "tests/e2e/test_phone_widths.py",  # at 390 px
    "home-investigator": "tests/e2e/test_home_todos.py",
    "home-monitor": "tests/e2e/test_home_todos.py",
    "home-coordinator-phone": "tests/e2e/test_home_todos.py",  # at 390 px
    "crf-branching": "tests/e2e/test_forms_fit.py",  # the study drug form, its dependent fields shown
    "search-results": "tests/e2e/test_search_and_calendar.py",
    "calendar": "tests/e2e/test_search_and_calendar.py",
    "calendar-phone": "tests/e2e/test_search_and_calendar.py",  # at 390 px
    "record-status-dashboard": "tests/e2e/test_dashboard.py",
    "record-status-dashboard-phone": "tests/e2e/test_dashboard.py",  # at 390 px
    "eligibility-words": "tests/e2e/test_confirmations.py",  # the confirmation page, criteria in plain words
    "randomise-confirm": "tests/e2e/test_confirmations.py",  # the stratum shown before randomising
    "query-raise": "tests/e2e/test_reachable.py",  # the participant, form, field and value a query is about
}
KEY_PAGES: tuple[str, ...] = tuple(KEY_PAGE_TAKERS)


def screenshots_dir() -> Path | None:
    """Where pictures go: ``$SCREENSHOTS_DIR`` (relative to the project when not absolute), or None if unset."""
    folder = os.environ.get("SCREENSHOTS_DIR", "").strip()
    if not folder:
        return None
    path = Path(folder)
    return path if path.is_absolute() else PROJECT_ROOT / path


class Camera:
    """Takes the key pages' pictures and remembers which were taken."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.taken: list[str] = []

    def shoot(self, page: Page, name: str, *, full_page: bool = True) -> None:
        """Picture ``page`` as ``name``: the whole page, or only the first screen (1280 × 800) of a long list."""
        if name not in KEY_PAGES:
            raise ValueError(f"{name!r} is not one of the key pages: {KEY_PAGES}")
        self.taken.append(name)
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # Web fonts (the Bengali one) load lazily; the picture should show the page as a person sees it.
        page.evaluate("document.fonts.ready.then(() => true)")
        page.screenshot(path=self.folder / f"{name}.png", full_page=full_page, animations="disabled")

    def missing(self, taker: str = TRIAL_DAY) -> list[str]:
        """The key pages ``taker`` (a test file) is to take that this camera has not taken."""
        return [name for name, by in KEY_PAGE_TAKERS.items() if by == taker and name not in self.taken]

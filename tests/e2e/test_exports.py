"""The export centre in a real browser: a data manager asks for an export that runs as a job, watches the
progress bar reach "ready", downloads the file and finds the SHA-256 the page shows."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from exports.models import ExportJob
from tests.e2e.conftest import SCREENSHOT_DIR
from tests.screening.factories import register
from trial_site.roles import Role

pytestmark = pytest.mark.e2e


@pytest.fixture
def people(site: Any, user_with_role: Any, settings: Any, tmp_path: Path) -> None:
    settings.EXPORT_ROOT = tmp_path / "exports"
    coordinator = user_with_role(Role.COORDINATOR, username="rahima")
    user_with_role(Role.DATA_MANAGER, username="dana")
    for _ in range(3):
        register(site, coordinator)


def test_a_data_manager_exports_watches_the_progress_and_downloads_the_file(
    page: Page, live_server: Any, log_in: Any, people: None, tmp_path: Path
) -> None:
    log_in(page, "dana")
    page.get_by_test_id("nav-sections").get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", name="Export centre")).to_be_visible()
    page.get_by_label("CSV, one file per form").check()
    page.get_by_label("Dates shifted per participant").check()
    page.get_by_label("Labels", exact=True).check()
    page.get_by_role("button", name="Export").click()

    expect(page).to_have_url(re.compile(r"/exports/jobs/\d+/$"))
    progress = page.get_by_test_id("export-progress")
    expect(progress.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(progress).to_contain_text("ready")
    job = ExportJob.objects.get()
    expect(progress).to_contain_text(job.sha256)
    page.screenshot(path=SCREENSHOT_DIR / "export_job_ready.png", full_page=True)

    with page.expect_download() as waiting:
        progress.get_by_role("link", name="Download").click()
    download = waiting.value
    assert download.suggested_filename == job.file_name
    saved = tmp_path / "downloaded.zip"
    download.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == job.sha256

    page.get_by_role("link", name="Back to the export centre").click()
    row = page.get_by_test_id("export-log").locator(f'tr[data-job="{job.pk}"]')
    expect(row).to_contain_text("dana".title())
    expect(row).to_contain_text(job.sha256)
    expect(row).to_contain_text("ready")

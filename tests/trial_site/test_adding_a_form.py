"""Adding a form is its model with a ``form_spec`` and ``makemigrations``: the test app ``tests/registry_app`` does
exactly that, and its tests (``found_everywhere.py``) find the form in the roles, the required forms, its page, the
monitoring plan, the exports and the dictionary. They run in a process of their own with the test settings plus the
test app, so that the trial of the main suite does not gain a form."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.needs_postgres
def test_a_form_added_through_the_registry_alone_is_found_everywhere() -> None:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.registry_app.settings"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "--create-db",
         "tests/registry_app/found_everywhere.py"],
        cwd=ROOT, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip
    report = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert re.search(r"\b8 passed\b", run.stdout), report

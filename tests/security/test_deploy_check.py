"""Django's deployment check on the production settings passes with no warning at all (``--fail-level WARNING``),
as CI's last step runs it (``.ci/run``); here it runs with the tests, in a separate process with its own
environment. A weaker setting is caught: the same check fails when HSTS is switched off.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.processes import CONFIGURATION_VARIABLES, PROJECT_ROOT


def deploy_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION_VARIABLES}
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "trial_site.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "trial.example.org",
            "VAR_DIR": str(tmp_path),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_production_settings_pass_the_deployment_check_without_a_warning(tmp_path: Path) -> None:
    result = deploy_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deployment_check_catches_a_weakened_setting(tmp_path: Path) -> None:
    result = deploy_check(tmp_path, SECURE_HSTS_SECONDS="0")
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr

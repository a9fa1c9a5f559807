"""Settings from the environment, security headers, languages and time zones, error pages."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from tests.processes import read_settings
from trial_site.roles import Role
from trial_site.views import server_error

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings_in_subprocess(expression: str, **env: str) -> str:
    result = read_settings(expression, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_demo_defaults_sqlite_under_var_debug_off_and_a_secret_key_generated_once(tmp_path: Path) -> None:
    env = {"VAR_DIR": str(tmp_path)}
    first = settings_in_subprocess("settings.SECRET_KEY", **env)
    second = settings_in_subprocess("settings.SECRET_KEY", **env)
    assert len(first) >= 50 and first == second
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert settings_in_subprocess("settings.DEBUG", **env) == "False"
    database = settings_in_subprocess(
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME']", **env
    )
    assert database == f"django.db.backends.sqlite3 {tmp_path / 'trial.sqlite3'}"
    assert settings_in_subprocess("settings.CELERY_BROKER_URL", **env).startswith("filesystem://")


def test_environment_overrides_database_redis_debug_and_secret(tmp_path: Path) -> None:
    env = {
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://trial:pw@db.internal:5432/trial",
        "REDIS_URL": "redis://cache.internal:6379/2",
        "DEBUG": "true",
        "SECRET_KEY": "s" * 60,
    }
    values = settings_in_subprocess(
        "settings.DATABASES['default']['HOST'], settings.CELERY_BROKER_URL, settings.DEBUG, "
        "settings.SECRET_KEY == 's' * 60, settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]",
        **env,
    )
    assert values == "db.internal redis://cache.internal:6379/2 True True RedisCache"
    assert not (tmp_path / "secret_key").exists()


def test_a_bad_yes_no_value_is_a_clear_error(tmp_path: Path) -> None:
    result = read_settings("settings.DEBUG", VAR_DIR=str(tmp_path), DEBUG="maybe")
    assert result.returncode != 0 and "DEBUG='maybe' is not a yes/no value" in result.stderr


def test_times_are_stored_in_utc_and_shown_in_dhaka_time(settings: Any) -> None:
    assert settings.USE_TZ and settings.TIME_ZONE == "Asia/Dhaka"
    assert [code for code, _ in settings.LANGUAGES] == ["en", "bn"]


def test_pages_carry_the_security_headers(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_bootstrap_comes_from_our_own_static_files(client: Client) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" in page
    assert "cdn" not in page.lower()
    assert client.get("/static/vendor/bootstrap/css/bootstrap.min.css").status_code == 200


def test_switching_to_bangla_translates_the_pages(client: Client, user_with_role: Any) -> None:
    client.force_login(user_with_role(Role.COORDINATOR))
    response = client.post("/i18n/setlang/", {"language": "bn", "next": "/"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert '<html lang="bn">' in page
    assert "স্ক্রিনিং" in page  # "Screening"
    assert "লগ আউট" in page  # "Log out"
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Log out" in client.get("/").content.decode()


def test_times_are_shown_in_the_time_zone_of_the_users_site(
    client: Client, user_with_role: Any, other_site: Any
) -> None:
    from tests.factories import make_site, make_user

    make_site(code="LON", name="London", time_zone="Europe/London", phone="+442070000000")
    from trial_site.models import Site

    london_user = make_user("londoner", role=Role.MONITOR, site=Site.objects.get(code="LON"))
    client.force_login(london_user)
    client.get("/")
    assert timezone.get_current_timezone_name() == "Europe/London"
    client.force_login(user_with_role(Role.MONITOR))
    client.get("/")
    assert timezone.get_current_timezone_name() == "Asia/Dhaka"


def test_unknown_pages_are_a_friendly_404(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_the_500_page_needs_no_database_and_reassures() -> None:
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Nothing you saved before this page is lost" in response.content.decode()


@pytest.mark.parametrize("path", ["/", "/sites/", "/access-log/", "/screening/"])
def test_every_page_needs_a_login(client: Client, path: str, db: Any) -> None:
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_sentence_starts_keep_abbreviations() -> None:
    from trial_site.text import sentence_start

    assert sentence_start("mRSS") == "mRSS"
    assert sentence_start("vital signs") == "Vital signs"

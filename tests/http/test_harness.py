"""The HTTP harness itself: gunicorn's workers are separate processes on the test database, a login is a real
login, requests in flight together are served by different workers, and a killed worker is replaced."""

from __future__ import annotations

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import requests

from tests.faults.support import backends_waiting_for_locks, table_locked
from tests.http.server import (
    SETTINGS_MODULE,
    WAIT_SECONDS,
    GunicornServer,
    fire_together,
    form_fields,
    server_environment,
    wait_for,
)
from tests.processes import PROJECT_ROOT
from trial_site.roles import Role


def nav_user(response: requests.Response) -> str:
    """Who the page's header says is logged in."""
    found = lxml.html.fromstring(response.text).xpath("//*[@data-testid='nav-user']")
    return " ".join(found[0].text_content().split()) if found else ""


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_login_over_http_opens_the_pages_as_that_user(live_gunicorn: GunicornServer, user_with_role: Any) -> None:
    rahima = user_with_role(Role.COORDINATOR, username="rahima")
    karim = user_with_role(Role.INVESTIGATOR, username="karim")

    anonymous = live_gunicorn.session().get("/")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/accounts/login/")

    as_rahima, as_karim = live_gunicorn.login(rahima), live_gunicorn.login(karim)
    home = as_rahima.get("/")
    assert home.status_code == 200
    assert nav_user(home).startswith("Rahima") and "Coordinator" in nav_user(home)
    assert nav_user(as_karim.get("/")).startswith("Karim")
    assert as_rahima.http.cookies["sessionid"] != as_karim.http.cookies["sessionid"]
    assert nav_user(as_rahima.twin().get("/")).startswith("Rahima")  # a second tab: the same login

    assert as_karim.post("/accounts/logout/").status_code == 302  # the CSRF token from the cookie
    assert as_karim.get("/").status_code == 302
    assert as_rahima.get("/").status_code == 200
    with pytest.raises(AssertionError, match="login as karim failed"):
        live_gunicorn.session().login("karim", "not-the-password")


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_requests_in_flight_together_are_served_by_different_workers(
    live_gunicorn: GunicornServer, coordinator: Any
) -> None:
    tabs = [live_gunicorn.login(coordinator) for _ in range(3)]
    # While the user table is locked every logged-in request waits at its first query (the session comes from
    # Redis, the user from the database): three requests waiting at once are in three processes, since a sync
    # worker serves one request at a time.
    with ThreadPoolExecutor(1) as pool:
        with table_locked("auth_user") as granted:
            assert granted.wait(WAIT_SECONDS), "the session table was not locked"
            pending = pool.submit(fire_together, [lambda tab=tab: tab.get("/") for tab in tabs])
            wait_for(lambda: backends_waiting_for_locks() == 3, "three requests waiting at the user table")
        responses = pending.result(WAIT_SECONDS)
    assert all(isinstance(r, requests.Response) and r.status_code == 200 for r in responses), responses
    served_by = {live_gunicorn.worker_pid_of(r) for r in responses if isinstance(r, requests.Response)}
    assert len(served_by) == 3 and served_by <= set(live_gunicorn.worker_pids())
    assert live_gunicorn.master_pid not in served_by


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_is_replaced_and_the_site_still_answers(
    live_gunicorn: GunicornServer, coordinator: Any
) -> None:
    session = live_gunicorn.login(coordinator)
    before = live_gunicorn.worker_pids()
    assert len(before) == 3
    victim = live_gunicorn.worker_pid_of(session.get("/"))

    live_gunicorn.kill_worker(victim, signal.SIGKILL)
    after = live_gunicorn.wait_for_workers(3, without=[victim])

    assert set(after) - set(before) and set(before) - set(after) == {victim}
    assert f"Worker (pid:{victim}) was sent SIGKILL" in live_gunicorn.log_text()
    assert session.get("/").status_code == 200  # still logged in: the session is in the database


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_server_that_cannot_start_fails_with_its_log(start_gunicorn: Any) -> None:
    with pytest.raises(AssertionError, match=r"gunicorn exited with code \d+(.|\n)*no_such_settings"):
        start_gunicorn(workers=1, env={"DJANGO_SETTINGS_MODULE": "no_such_settings"})


def in_server_process(expression: str, env: dict[str, str]) -> str:
    """``expression`` evaluated by a process with exactly the server's environment (and so its settings)."""
    code = f"import django; django.setup(); from django.conf import settings; print(repr(({expression})))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_server_has_the_test_settings_its_own_configuration_and_smtp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMAIL_HOST", "smtp.example.org")
    monkeypatch.setenv("SECRET_KEY", "the-developer-s-key")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    database = "postgres://u@127.0.0.1:5432/test_x"
    env = server_environment(database_url=database, var_dir=tmp_path, redis_url="redis://127.0.0.1:6379/14")
    assert env["SECRET_KEY"] != "the-developer-s-key" and "EMAIL_HOST" not in env
    assert env["DJANGO_SETTINGS_MODULE"] == SETTINGS_MODULE
    expression = (
        "settings.EMAIL_BACKEND, settings.CELERY_TASK_ALWAYS_EAGER, settings.TWO_FACTOR_REQUIRED, settings.DEBUG, "
        "settings.REDIS_URL, settings.DATABASES['default']['NAME']"
    )
    assert in_server_process(expression, env) == repr(
        ("django.core.mail.backends.locmem.EmailBackend", True, False, False, "redis://127.0.0.1:6379/14", "test_x")
    )


def test_the_server_sends_mail_over_smtp_to_the_test(
    tmp_path: Path, smtp_address: tuple[str, int], smtp_inbox: Any
) -> None:
    env = server_environment(database_url="postgres://u@127.0.0.1:5432/test_x", var_dir=tmp_path, smtp=smtp_address)
    sent = "send_mail('Hello', 'From the server', None, ['karim@example.org'])"
    assert in_server_process(f"__import__('django.core.mail').core.mail.{sent}", env) == "1"
    assert [m["Subject"] for m in smtp_inbox.messages] == ["Hello"]
    assert smtp_inbox.messages[0]["X-Envelope-To"] == "karim@example.org"


PAGE = """<html><body><nav><form method="post" action="/accounts/logout/"><button>Log out</button></form></nav>
<main><form method="post" action="/x/?y=1">
  <input type="hidden" name="csrfmiddlewaretoken" value="tok"><input type="hidden" name="version" value="7">
  <input name="code" value="A1"><input type="checkbox" name="agree"><input type="checkbox" name="c" value="1" checked>
  <input type="checkbox" name="c" value="2" checked><input name="off" value="z" disabled>
  <select name="arm"><option value="a">A</option><option value="b">B</option></select>
  <select name="many" multiple><option selected>p</option><option>q</option></select>
  <textarea name="note">hello</textarea>
  <button type="submit" name="action" value="save">Save</button><button name="action" value="sign">Sign</button>
</form></main></body></html>"""


def test_form_fields_are_what_a_browser_posts() -> None:
    assert form_fields(PAGE) == {
        "csrfmiddlewaretoken": "tok",
        "version": "7",
        "code": "A1",
        "c": ["1", "2"],
        "arm": "a",
        "many": "p",
        "note": "hello",
        "action": "save",
    }
    assert form_fields(PAGE, "//main//form", button="sign")["action"] == "sign"
    assert form_fields(PAGE, "//nav/form") == {}

"""The README's first command, as a new user runs it: bin/demo brings up web, worker and beat on embedded
defaults (no DATABASE_URL, no REDIS_URL), shows a Celery round-trip, and every printed login works."""

from __future__ import annotations

import ast
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_in(base_url: str, username: str, password: str) -> str:
    """Log in through the real login form (with its CSRF token); return the page the browser lands on."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{base_url}/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password})
    request = urllib.request.Request(  # noqa: S310 (an http:// address of our own server)
        f"{base_url}/accounts/login/", data=data.encode(), headers={"Referer": base_url}
    )
    with opener.open(request) as response:
        return response.geturl() + "\n" + response.read().decode()


def test_bin_demo_runs_web_worker_and_beat_and_each_role_can_log_in(tmp_path: Path) -> None:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env.update({"PORT": str(port), "VAR_DIR": str(tmp_path / "var")})
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            ["bin/demo"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while "[demo] running at" not in log_path.read_text():
            assert demo.poll() is None, "bin/demo stopped:\n" + log_path.read_text()
            assert time.monotonic() < deadline, "bin/demo never came up:\n" + log_path.read_text()
            time.sleep(0.5)
        output = log_path.read_text()
        assert "Celery round-trip OK: pong from" in output
        assert re.search(r"\[worker\] .*celery@\S+ ready", output), "the worker did not start"
        assert "[beat] " in output and "beat: Starting" in output, "beat did not start"
        assert "Task trial_site.tasks.ping" in output, "the worker's log does not show the round-trip"

        logins = dict(re.findall(r"^  (\w+)\s+(\S+)\s+\S", output, flags=re.MULTILINE))
        assert set(logins) == {
            "coordinator",
            "investigator",
            "assessor",
            "monitor",
            "datamanager",
            "statistician",
            "admin",
        }
        for username, password in logins.items():
            landed = log_in(f"http://127.0.0.1:{port}", username, password)
            assert landed.startswith(f"http://127.0.0.1:{port}/\n"), f"{username} did not reach the home page"
            assert "Welcome" in landed
        assert (tmp_path / "var" / "trial.sqlite3").exists(), "the demo did not use its embedded SQLite database"

        # The three reminders the demo asks to go now are handed to the worker as soon as it starts; by day they
        # reach the SMS outbox, at night (21:00 to 08:00 in Dhaka) they are held until the morning.
        assert re.search(r"\[demo\] \d+ due reminders handed to the workers\.", log_path.read_text())
        # The sweep hands them out as one message of a batch of reminders (send_reminders): its outcomes by count.
        succeeded = r"Task reminders.tasks.send_reminders\[[^]]+\] succeeded in [^:]+: (\{[^}]*\})"

        def outcomes() -> Counter[str]:
            found: Counter[str] = Counter()
            for counts in re.findall(succeeded, log_path.read_text()):
                found.update(ast.literal_eval(counts))
            return found

        while sum(outcomes().values()) < 3:
            assert time.monotonic() < deadline, "the worker did not deliver the reminders:\n" + log_path.read_text()
            time.sleep(0.5)
        outbox = tmp_path / "var" / "outbox" / "sms.jsonl"
        assert outcomes() in (Counter(sent=3), Counter(held=3)), outcomes()
        assert (outbox.exists() and len(outbox.read_text().splitlines()) == 3) == (outcomes() == Counter(sent=3))
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in the terminal
        demo.wait(timeout=60)
    # Ctrl-C stops everything the demo started (children finish their shutdown on their own).
    deadline = time.monotonic() + 60
    while leftovers := subprocess.run(["pgrep", "-a", "-s", str(demo.pid)], capture_output=True, text=True).stdout:
        assert time.monotonic() < deadline, f"processes left running after the demo stopped:\n{leftovers}"
        time.sleep(0.5)

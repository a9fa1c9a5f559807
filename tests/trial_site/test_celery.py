"""A real Celery worker and beat, started as the demo and production start them, on both brokers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from trial_site.celery import app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAIT_FOR_WORKER_SECONDS = 90


def service_env(var_dir: Path, *, redis_url: str = "", **extra: str) -> dict[str, str]:
    """The environment of a separate process: base settings, its own var/ folder, the chosen broker."""
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    env.update({"DJANGO_SETTINGS_MODULE": "trial_site.settings.base", "VAR_DIR": str(var_dir), **extra})
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@contextmanager
def celery_process(kind: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "celery", "-A", "trial_site", kind, "--loglevel", "INFO"]
    if kind == "worker":
        command += ["--concurrency", "1", "--hostname", f"test-{os.getpid()}@%h"]
    if kind == "beat":
        command += ["--schedule", str(Path(env["VAR_DIR"]) / "beat-schedule")]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def round_trip(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "celery_roundtrip", "--timeout", str(WAIT_FOR_WORKER_SECONDS)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_round_trip_on_the_embedded_broker_without_redis(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    with celery_process("worker", env, tmp_path / "worker.log"):
        result = round_trip(env)
    assert result.returncode == 0, result.stderr
    assert "Celery round-trip OK: pong from" in result.stdout and "filesystem://" in result.stdout
    assert "Task trial_site.tasks.ping" in (tmp_path / "worker.log").read_text()


@pytest.mark.needs_redis
def test_round_trip_through_redis(tmp_path: Path) -> None:
    env = service_env(tmp_path, redis_url=os.environ["REDIS_URL"])
    with celery_process("worker", env, tmp_path / "worker.log"):
        result = round_trip(env)
    assert result.returncode == 0, result.stderr
    assert "Celery round-trip OK" in result.stdout and "6379" in result.stdout


def test_round_trip_reports_clearly_when_no_worker_runs(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "celery_roundtrip", "--timeout", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "no Celery worker answered within 2 s" in result.stderr


def test_beat_runs_the_static_schedule_on_a_real_worker(tmp_path: Path) -> None:
    env = service_env(tmp_path, CELERY_HEARTBEAT_SECONDS="2")
    worker_log = tmp_path / "worker.log"
    with celery_process("worker", env, worker_log), celery_process("beat", env, tmp_path / "beat.log"):
        deadline = time.monotonic() + WAIT_FOR_WORKER_SECONDS
        while "heartbeat: beat and worker are alive" not in worker_log.read_text():
            assert time.monotonic() < deadline, "beat's heartbeat never reached the worker:\n" + worker_log.read_text()
            time.sleep(0.5)
    assert "Scheduler: Sending due task heartbeat" in (tmp_path / "beat.log").read_text()


def test_the_beat_schedule_is_static_and_names_registered_tasks() -> None:
    app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE, "the beat schedule is empty"
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name} names an unknown task {entry['task']}"

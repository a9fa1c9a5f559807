"""Run calls on real threads that start at the same moment, each with its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def run_together(calls: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Start every call at once (a barrier), wait for all; return their results and the errors raised."""
    start = threading.Barrier(len(calls))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        try:
            start.wait()
            result = call()
            with lock:
                results.append(result)
        except BaseException as error:  # collected; the test asserts on them
            with lock:
                errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors

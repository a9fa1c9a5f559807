"""Placeholder while this part is being built."""

from typing import Any


def verification_clear_for_change(record: Any, *, by: Any, reason: str) -> None:
    return None


def verification_panel(request: Any, record: Any) -> str:
    return ""

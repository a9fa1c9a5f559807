"""Placeholder while this part is being built."""

from typing import Any


def signatures_invalidate_for_change(record: Any, *, by: Any, reason: str, created: bool) -> None:
    return None


def signature_panel(request: Any, record: Any) -> str:
    return ""

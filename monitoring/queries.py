"""Placeholder while this part is being built."""

from typing import Any


def queries_link_correction(record: Any, *, by: Any, reason: str) -> None:
    return None


def query_panel(request: Any, record: Any) -> str:
    return ""


def query_field_flags(request: Any, record: Any, field_name: str) -> str:
    return ""

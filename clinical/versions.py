"""Versions of the protocol and of its consent forms: ``major.minor`` numbers, compared as numbers."""

from __future__ import annotations


def version_key(version: str) -> tuple[int, ...]:
    """``"1.10"`` → ``(1, 10)``, so that 1.10 comes after 1.9; ``""`` → ``()``, before every version.

    Raises ``ValueError`` for anything but numbers with dots."""
    if not version:
        return ()
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise ValueError(f"a version is numbers with dots, such as 2.0, not {version!r}") from None

"""Small text helpers for what pages show."""

from __future__ import annotations

from django.utils.text import capfirst


def sentence_start(text: object) -> str:
    """Capitalise the first letter for the start of a sentence, but leave abbreviations such as "mRSS" alone."""
    value = str(text)
    if len(value) > 1 and value[1].isupper():
        return value
    return capfirst(value)

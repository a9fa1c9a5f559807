"""Every word in Bangla: every string the code and templates mark for translation has a Bangla translation in
``locale/bn/LC_MESSAGES/django.po`` that is neither missing nor fuzzy (a guess ``makemessages`` made)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = Path("locale/bn/LC_MESSAGES/django.po")


def test_every_marked_string_has_a_bangla_translation(tmp_path: Path) -> None:
    """``makemessages`` on a copy of the tracked sources (so the checkout is left alone), then no msgid of the
    catalogue without a translation and none fuzzy."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    copy = tmp_path / "src"
    for name in tracked.splitlines():
        source = ROOT / name
        if not source.is_file():
            continue
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy / name)
    made = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "bn", "--no-location", "-i", "tests", "-i", "bench"],
        cwd=copy,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    catalogue = copy / CATALOGUE
    untranslated = subprocess.run(
        ["msgattrib", "--untranslated", "--no-obsolete", str(catalogue)], capture_output=True, text=True, check=True
    ).stdout
    fuzzy = subprocess.run(
        ["msgattrib", "--only-fuzzy", "--no-obsolete", str(catalogue)], capture_output=True, text=True, check=True
    ).stdout
    missing = [line for line in untranslated.splitlines() if line.startswith("msgid ") and line != 'msgid ""']
    guessed = [line for line in fuzzy.splitlines() if line.startswith("msgid ") and line != 'msgid ""']
    assert missing == [], f"strings without Bangla in {CATALOGUE}: {missing}"
    assert guessed == [], f"fuzzy (unchecked) Bangla in {CATALOGUE}: {guessed}"

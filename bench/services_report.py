"""The services benchmark's section of ``docs/benchmarks.md`` and its verdicts, from the measured results.

Pure functions of the results dictionary ``bench/services.py`` gathers (one entry per scenario, or
``{"error": …}`` where a scenario failed), so the report can be checked without running anything.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from bench import services_crf
from bench.common import ratio, table

# The criteria (docs/benchmarks.md explains each).
EXPORT_MAX_RATIO = 3.0  # CSV export time ÷ COPY time of the same rows (#21)
ODM_MIN_RATIO = 0.5  # ODM rows/s ÷ CSV export rows/s (#21)
SWEEP_MAX_OVER_CLAIM = 3.0  # sweep time ÷ the claim UPDATE … RETURNING of the same rows alone
RANDOMISE_MIN_RATIO = 1.0  # concurrent randomisations/s ÷ sequential ones, over HTTP: must be above (faster)


@dataclass(frozen=True)
class Verdict:
    scenario: str
    criterion: str
    measured: str
    passed: bool


def per_second(count: float, seconds: float) -> float:
    return count / seconds if seconds else 0.0


def _n(value: float, places: int = 0) -> str:
    return f"{value:,.{places}f}"


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def _failed(results: dict[str, Any], name: str) -> str:
    found = results.get(name)
    if found is None:
        return ""
    return f"**Not measured: {found['error']}**\n" if "error" in found else ""


def export_report(results: dict[str, Any]) -> str:
    found = results["export"]
    seconds, rows = found["seconds"], found["rows"]
    odm = found["odm"]
    csv_rate = per_second(rows["export"], seconds["export"])
    lines = [
        f"**1. Full CSV export against `COPY`** ({found['participants']:,} participants, all sites, de-identified "
        f"with study days; median of {found['repetitions']} runs; ODM once)\n",
        table(
            ["", "time (s)", "rows", "rows/s", "file", "÷ COPY"],
            [
                [
                    "CSV export (export centre: one CSV per form, ZIP)",
                    f"{seconds['export']:.2f}",
                    _n(rows["export"]),
                    _n(csv_rate),
                    _mib(found["export_bytes"]),
                    ratio(seconds["export"], seconds["copy"]),
                ],
                [
                    "**baseline**: `COPY … TO STDOUT WITH CSV`, one file per table",
                    f"{seconds['copy']:.2f}",
                    _n(rows["copy"]),
                    _n(per_second(rows["copy"], seconds["copy"])),
                    _mib(found["copy_bytes"]),
                    1.0,
                ],
                [
                    "reference: the same `COPY` into a deflated ZIP",
                    f"{seconds['copy_zip']:.2f}",
                    _n(rows["copy_zip"]),
                    _n(per_second(rows["copy_zip"], seconds["copy_zip"])),
                    "",
                    ratio(seconds["copy_zip"], seconds["copy"]),
                ],
            ],
            align="lrrrrr",
        ),
        table(
            [
                "",
                "time (s)",
                "rows (`ItemGroupData`, one per version of a record)",
                "rows/s",
                "file",
                "rows/s ÷ CSV export's",
            ],
            [
                [
                    "ODM 1.3.2 writer",
                    f"{odm['seconds']:.1f}",
                    _n(odm["rows"]),
                    _n(per_second(odm["rows"], odm["seconds"])),
                    _mib(odm["bytes"]),
                    ratio(per_second(odm["rows"], odm["seconds"]), csv_rate),
                ]
            ],
            align="lrrrrr",
        ),
        "Peak memory as the trial grows: see [Export memory](#export-memory) (5,000 and 50,000 participants).\n",
    ]
    return "\n".join(lines)


def sweep_report(results: dict[str, Any]) -> str:
    found = results["sweep"]
    due = found["due"]
    rows = [
        [
            f"sweep: beat's task run once ({found['claims']} claims, {found['messages']} broker messages of ≤ "
            f"{found['message_batch']} reminders)",
            f"{found['sweep_seconds']:.2f}",
            _n(found["handed_out"]),
            _n(per_second(due, found["sweep_seconds"])),
            ratio(found["sweep_seconds"], found["claim_seconds"]),
        ],
        [
            "**baseline**: the claim alone, `UPDATE … SET status = 'sending' WHERE id IN (SELECT … FOR UPDATE SKIP "
            "LOCKED) RETURNING id` of the same rows, committed",
            f"{found['claim_seconds']:.4f}",
            _n(found["claim_rows"]),
            _n(per_second(due, found["claim_seconds"])),
            1.0,
        ],
    ]
    if found.get("handoff_seconds"):
        rows.append(
            [
                "reference: queueing the same messages on the broker, nothing else",
                f"{found['handoff_seconds']:.2f}",
                _n(due),
                _n(per_second(due, found["handoff_seconds"])),
                ratio(found["handoff_seconds"], found["claim_seconds"]),
            ]
        )
    check = (
        "one sweep call handed out each due reminder once, marked sending, each in exactly one message on the "
        "broker; a second sweep found nothing due"
    )
    return "\n".join(
        [
            f"**2. Reminder sweep over {due:,} due reminders** ({found['other_reminders']:,} other reminders, sent, in "
            f"the table; median of {found['repetitions']} runs)\n",
            table(["", "time (s)", "reminders", "reminders/s", "÷ claim"], rows, align="lrrrr"),
            f"Check: {'PASS, ' + check if not found['problems'] else 'FAIL: ' + '; '.join(found['problems'])}.\n",
        ]
    )


def _randomise_figures(found: dict[str, Any]) -> dict[str, float]:
    count = found["randomisations"]
    return {
        mode: per_second(count, statistics.median(run["seconds"] for run in found["runs"][mode]))
        for mode in ("concurrent", "sequential")
    }


def randomise_report(results: dict[str, Any]) -> str:
    found = results["randomise"]
    rates = _randomise_figures(found)
    count, workers = found["randomisations"], found.get("workers", 4)
    problems = [problem for runs in found["runs"].values() for run in runs for problem in run["problems"]]
    runs = len(found["runs"]["concurrent"])
    return "\n".join(
        [
            f"**3. {count} randomisations at once over HTTP** (gunicorn, {workers} sync workers; the investigator's "
            f"POST of the confirmation page; median of {runs} runs of each, each on a fresh copy of the same "
            "participants)\n",
            table(
                ["", "time (s)", "randomisations/s", "÷ sequential"],
                [
                    [
                        f"{count} requests at once (one client thread each)",
                        f"{count / rates['concurrent']:.2f}",
                        f"{rates['concurrent']:.1f}",
                        ratio(rates["concurrent"], rates["sequential"]),
                    ],
                    [
                        "**baseline**: the same requests one after another",
                        f"{count / rates['sequential']:.2f}",
                        f"{rates['sequential']:.1f}",
                        1.0,
                    ],
                ],
                align="lrrr",
            ),
            "Correctness (every run): "
            + (
                "PASS — every request answered with the redirect to the participant's page, every participant "
                "exactly one allocation, no slot used twice, each stratum's first slots "
                "in sequence with the list's arms, consecutive randomisation numbers per site, one creation "
                "history row per allocation, every visit schedule made, no error.\n"
                if not problems
                else "FAIL — " + "; ".join(dict.fromkeys(problems)) + "\n"
            ),
        ]
    )


def crf_report(results: dict[str, Any]) -> str:
    return services_crf.crf_report(results["crf"], table, ratio)


SECTIONS = (("export", export_report), ("sweep", sweep_report), ("randomise", randomise_report), ("crf", crf_report))


def report(results: dict[str, Any]) -> str:
    """The Markdown of every scenario measured, then the verdicts."""
    parts = []
    for name, write in SECTIONS:
        if name not in results:
            continue
        parts.append(_failed(results, name) or write(results))
    found = verdicts(results)
    parts.append(
        table(
            ["scenario", "criterion", "measured", "verdict"],
            [[v.scenario, v.criterion, v.measured, "PASS" if v.passed else "**FAIL**"] for v in found],
        )
    )
    if "minutes" in results:
        parts.append(f"The whole run took {results['minutes']} minutes.\n")
    return "\n".join(parts)


def verdicts(results: dict[str, Any]) -> list[Verdict]:
    """Each criterion of each scenario measured: passed or not, with the figure it was judged on."""
    found = []

    def failed(name: str) -> bool:
        if "error" in results.get(name, {}):
            found.append(Verdict(name, "runs", results[name]["error"][:80], False))
            return True
        return name not in results

    if not failed("export"):
        export = results["export"]
        seconds, rows, odm = export["seconds"], export["rows"], export["odm"]
        over_copy = ratio(seconds["export"], seconds["copy"]) or 0.0
        same_rows = rows["export"] == rows["copy"]
        found.append(Verdict("export", "same rows as COPY", f"{rows['export']:,} and {rows['copy']:,}", same_rows))
        found.append(
            Verdict("export", f"time ÷ COPY ≤ {EXPORT_MAX_RATIO:g}", str(over_copy), over_copy <= EXPORT_MAX_RATIO)
        )
        odm_ratio = ratio(per_second(odm["rows"], odm["seconds"]), per_second(rows["export"], seconds["export"])) or 0.0
        found.append(
            Verdict(
                "export", f"ODM rows/s ÷ CSV rows/s ≥ {ODM_MIN_RATIO:g}", str(odm_ratio), odm_ratio >= ODM_MIN_RATIO
            )
        )
    if not failed("sweep"):
        sweep = results["sweep"]
        found.append(
            Verdict(
                "sweep",
                "each due reminder handed out once",
                "; ".join(sweep["problems"]) or "all",
                not sweep["problems"],
            )
        )
        over_claim = ratio(sweep["sweep_seconds"], sweep.get("claim_seconds") or 0.0)
        found.append(
            Verdict(
                "sweep",
                f"sweep ÷ claim UPDATE … RETURNING alone ≤ {SWEEP_MAX_OVER_CLAIM:g}",
                str(over_claim),
                over_claim is not None and over_claim <= SWEEP_MAX_OVER_CLAIM,
            )
        )
    if not failed("randomise"):
        randomise = results["randomise"]
        problems = [p for runs in randomise["runs"].values() for run in runs for p in run["problems"]]
        found.append(
            Verdict(
                "randomise", "correct allocations (every run)", "; ".join(problems)[:120] or "all checks", not problems
            )
        )
        rates = _randomise_figures(randomise)
        speed = ratio(rates["concurrent"], rates["sequential"]) or 0.0
        found.append(
            Verdict(
                "randomise",
                f"concurrent ÷ sequential rate > {RANDOMISE_MIN_RATIO:g} (faster)",
                str(speed),
                speed > RANDOMISE_MIN_RATIO,
            )
        )
    if not failed("crf"):
        found += [Verdict("crf", *verdict) for verdict in services_crf.crf_verdicts(results["crf"], ratio)]
    return found

"""The permission matrix: what every URL of the project answers to each role, and to anonymous visitors.

How to read it
    One line per URL (its ``namespace:name``), one column per role, plus ``anon`` for someone not logged in.
    Each cell is the HTTP status of a GET of the URL's sample address (``SAMPLE_PATHS`` in ``conftest.py``: one
    participant, visit, adverse event, … of the DHK site, opened by a user who holds that role at DHK):

    200  the page opens              302  redirected (anonymous: to the login page)
    403  refused: the role may not   404  not found (an export asked for by someone else)
    405  the method is not taken: a GET of a URL that takes only POST (logging out, the SMS webhook, the actions),
         or a POST of one that takes only GET (an export's pages; a participant's schedule and a visit, whose forms
         post to their actions)

    ``A/B`` means GET answers A and a POST answers B: a role that may read a page but not change it (a monitor on a
    case report form) is refused (403) when it sends the very form a permitted user would send.
    Every GET 403 implies a POST 403 as well, and every anonymous 302 a POST 302 to the login page; the tests
    check both, that nothing was written, and that each refusal is in the access log.

How to add a URL
    Add a line here, and a sample address in ``conftest.sample_paths``. Until both exist the matrix test fails and
    names the URL. The statuses must agree with ``docs/roles.md`` (the role table) and ``trial_site/navigation.py``
    (a section not in a role's menu answers 403).

Left out: ``admin/`` (the Django admin checks its own permissions; tests/trial_site covers who may enter it) and
``i18n/`` (``set_language`` only sets a language cookie, for anyone).

Notes on what may look surprising
    - The administrator reads forms on the source-verification page (``monitoring:verification_mark`` shows every
      field of the form) and in the audit trail; the screening and visit pages are not in its menu (403).
    - Statisticians see allocations (they keep the lists, so they are unblinded) but no clinical page.
    - ``exports:job`` and its status and download are the requester's own: another role that may export gets 404,
      as if there were no such export (and the attempt is logged).
    - ``randomization:unblind`` is for the blinded assessor only: the unblinded roles see the arm already.
    - The blinded assessor gets 403 on the sample participant's screening mRSS (randomised: an earlier score) and
      on the concomitant medications (folic acid names the arm): ``trial_site/blinding.py``.
    - The Staff pages (``staff_*``) are the administrator's, for the accounts at the administrator's sites; another
      site's account or role is 404 (logged). ``password_set`` (the one-time link's page) is open to anyone: without
      a valid link it only says so. ``password_change`` is everyone's own.
    - ``protocol_*``: every role reads the protocol and its amendments; the sample is version 1.0, which has no
      approval form, so who may approve (a POST) is shown in tests/trial_site/test_amendments_pages.py instead.
"""

from __future__ import annotations

from typing import NamedTuple

# Column headings of MATRIX, in the order of PRINCIPALS in conftest.py (anonymous, then trial_site.roles.Role).
COLUMNS = ("anon", "coord", "inv", "blind", "mon", "dm", "stat", "admin")

MATRIX = """
URL name                      anon      coord    inv      blind    mon      dm       stat     admin
home                          302       200      200      200      200      200      200      200
login                         200       302      302      302      302      302      302      302
logout                        405       405      405      405      405      405      405      405
two_factor_setup              302       200      200      200      200      200      200      200
two_factor_verify             302       302      302      302      302      302      302      302
site_list                     302       200      200      200      200      200      200      200
site_detail                   302       200      200      200      200      200      200      200
lab_range_list                302       200      200      200      200      200      200      200
lab_range_add                 302       403      403      403      403      200      403      200
lab_range_edit                302       403      403      403      403      200      403      200
access_log                    302       403      403      403      200      403      403      200
staff_list                    302       403      403      403      403      403      403      200
staff_create                  302       403      403      403      403      403      403      200
staff_detail                  302       403      403      403      403      403      403      200
staff_edit                    302       403      403      403      403      403      403      200
staff_grant                   302       403      403      403      403      403      403      405
staff_active                  302       403      403      403      403      403      403      405
staff_password_link           302       403      403      403      403      403      403      405
staff_role_end                302       403      403      403      403      403      403      405
password_change               302       200      200      200      200      200      200      200
password_set                  200       200      200      200      200      200      200      200
protocol_list                 302       200      200      200      200      200      200      200
protocol_propose              302       403      403      403      403      200      403      403
protocol_current_json         302       403      403      403      403      200      403      403
protocol_version              302       200      200      200      200      200      200      200
search                        302       200/405  200/405  200/405  200/405  200/405  200/405  200/405

screening:index               302       200      200      200      200      200      403      403
screening:register            302       200      200      403      403      403      403      403
screening:participant         302       200      200      200      200      200      403      403
screening:details             302       200      200      403      403      403      403      403
screening:form                302       200      200      403      200/403  200/403  403      403
screening:confirm             302       403      200      403      403      403      403      403
screening:screen_failure      302       405      405      403      403      403      403      403
screening:withdraw            302       200      200      403      403      403      403      403
screening:rescreen            302       200      200      403      403      403      403      403
screening:reconsent_due       302       200      200      403      403      403      403      403
screening:reconsent           302       200      200      403      403      403      403      403

randomization:index           302       200      200      200      200      200      200      200
randomization:lists           302       403      403      403      403      403      200      403
randomization:list            302       403      403      403      403      403      200      403
randomization:list_activate   302       403      403      403      403      403      405      403
randomization:participant     302       200      200      200      200      200      200      200
randomization:randomise       302       403      200      403      403      403      403      403
randomization:flag_error      302       403      405      403      403      403      403      403
randomization:unblind         302       403      403      200      403      403      403      403

visits:index                  302       200      200      200      200      200      403      403
visits:missing_forms          302       200      200      200      200      200      403      403
visits:calendar               302       200/405  200/405  200/405  200/405  200/405  403      403
visits:dashboard              302       200/405  200/405  200/405  200/405  200/405  403      403
visits:participant            302       200/405  200/405  200/405  200/405  200/405  403      403
visits:unscheduled_visit_add  302       405      405      403      403      403      403      403
visits:follow_up_schedule     302       405      405      403      403      403      403      403
visits:end_of_study_record    302       405      405      403      403      403      403      403
visits:medications            302       200/405  200/405  403      200/405  200/405  403      403
visits:medication_add         302       405      405      403      403      403      403      403
visits:medication_stop        302       405      405      403      403      403      403      403
visits:visit                  302       200/405  200/405  200/405  200/405  200/405  403      403
visits:visit_done             302       405      405      403      403      403      403      403
visits:visit_missed           302       405      405      403      403      403      403      403
visits:visit_reschedule       302       405      405      403      403      403      403      403
visits:crf                    302       200      200      403      200/403  200/403  403      403

safety:index                  302       200      200      403      200      200      403      403
safety:summary                302       200      200      403      200      200      403      403
safety:participant            302       200      200      403      200/403  200/403  403      403
safety:event                  302       200      200      403      200/403  200/403  403      403
safety:report_follow_up       302       405      405      403      403      403      403      403
safety:report_submit          302       405      405      403      403      403      403      403
safety:report_sign            302       405      405      403      403      403      403      403
safety:acknowledge            302       403      405      403      403      403      403      403

reminders:index               302       200      200      403      200      200      403      200
reminders:participant         302       200      200      403      200      200      403      200
reminders:send_now            302       405      405      403      403      403      403      403
reminders:delivery            302       403      403      403      403      403      403      200
reminders:inbound_sms         405/403   405/403  405/403  405/403  405/403  405/403  405/403  405/403

monitoring:index              302       200      200      403      200      200      403      200
monitoring:audit_recent       302       403      200      403      200      200      403      200
monitoring:audit_export       302       403      200      403      200      200      403      200
monitoring:audit_participant  302       403      200      403      200      200      403      200
monitoring:audit_field        302       403      200      403      200      200      403      200
monitoring:queries            302       200      200      403      200      200      403      200
monitoring:query_raise        302       403      403      403      200      200      403      403
monitoring:query              302       200      200      403      200/403  200/403  403      200/403
monitoring:verification       302       200      200      403      200      200      403      200
monitoring:verification_mark  302       200/403  200/403  403      200      200/403  403      200/403
monitoring:signatures         302       200      200      403      200      200      403      200
monitoring:sign               302       403      200      403      403      403      403      403
monitoring:locks              302       200      200      403      200      200      403      200
monitoring:lock_new           302       403      403      403      403      200      403      403
monitoring:lock_unlock        302       403      403      403      403      200      403      403

exports:index                 302       403      403      403      403      200      200      200
exports:job                   302/405   403/405  403/405  403/405  403/405  200      404      404
exports:job_status            302/405   403/405  403/405  403/405  403/405  200      404      404
exports:download              302/405   403/405  403/405  403/405  403/405  200      404      404
exports:reports               302       200      200      200      200      200      200      200
exports:consort               302       200      200      200      200      200      200      200
exports:consort_svg           302       200      200      200      200      200      200      200
exports:enrolment             302       200      200      200      200      200      200      200
exports:primary_endpoint      302       200      200      403      200      200      200      200
"""

# What a permitted user fills in before sending these forms (the rendered form leaves them empty), so that the
# POST of a role without the permission is refused for the permission, not for a missing answer.
POST_FILLED_IN: dict[str, dict[str, str]] = {
    "safety:event": {"reason_for_change": "grade corrected from the source"},
    "monitoring:query": {"text": "Checked against the clinic notes."},
}


class Expected(NamedTuple):
    get: int
    post: int | None  # None: the POST is not checked beyond what GET implies


def parse_matrix(text: str = MATRIX) -> dict[str, dict[str, Expected]]:
    """URL name → column → expected statuses. Raises ValueError on a malformed line, naming it."""
    rows: dict[str, dict[str, Expected]] = {}
    for line in text.strip().splitlines()[1:]:
        if not line.strip():
            continue
        name, *cells = line.split()
        if len(cells) != len(COLUMNS) or name in rows:
            raise ValueError(f"matrix line for {name!r}: {len(cells)} cells for {len(COLUMNS)} columns, or repeated")
        row = {}
        for column, cell in zip(COLUMNS, cells, strict=True):
            get, _slash, post = cell.partition("/")
            row[column] = Expected(int(get), int(post) if post else None)
        rows[name] = row
    return rows

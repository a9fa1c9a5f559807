"""Fuzzing every form: hypothesis builds POST bodies for every form of the project and no body ever gives a server
error. The answer is a refusal (4xx), the form again with its messages, or a redirect when the data were valid.

The forms are found on the walked pages (``conftest.walk``): every POST form of every page, as the first role
(in the order of ``Role``) that can send it sees it, and the login form for anonymous visitors. Field names and
choices come from the rendered form, so a field added later is fuzzed without editing this test. Values: text of
any script (Bangla included), NUL bytes, very long text, numbers of every size and spelling, dates of every shape,
nothing at all, and several values for one field. Each body starts from the form as the page shows it and
changes any number of its fields (or leaves them out), so the fuzzing reaches past the first invalid field; the
form's hidden fields (which of the page's forms it is) are kept. Each example runs in a savepoint rolled back
after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import ANONYMOUS, PRINCIPALS, World, client_as, url_routes
from tests.security.html_forms import FormField, PostForm

# × about 50 kinds of form: the CI budget of the security tests (120 s) sets this. Set SECURITY_FUZZ_EXAMPLES for a
# longer run by hand (a failure prints the body that caused it; 30 per form ran clean in 92 s).
EXAMPLES_PER_FORM = int(os.environ.get("SECURITY_FUZZ_EXAMPLES", "5"))

JUNK_TEXT = ["", " ", "\x00", "a\x00b", "x" * 5000, "বাংলা লেখা ১২৩", "null", "None", "-1", "🙂" * 50,
             "' OR '1'='1", "<script>alert(1)</script>", "%s%s%n{0}", "../../../../etc/passwd"]  # fmt: skip
NUMBERS = ["0", "-0", "-1", "1e309", "-1e309", "nan", "inf", "99999999999999999999999999", "1,5", "0x1F",
           "১২", "12.000000000000000001", "+7", " 42 "]  # fmt: skip
DATES = ["2026-02-30", "2026-13-01", "0000-00-00", "0001-01-01", "9999-12-31", "31/12/2026", "12/31/2026",
         "2026-1-1", "২০২৬-০১-০১", "yesterday", "2026-01-01T25:61", "20260101", "-2026-01-01"]  # fmt: skip

text = st.text(max_size=60) | st.sampled_from(JUNK_TEXT)
numbers = (
    st.integers(min_value=-(10**40), max_value=10**40).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.sampled_from(NUMBERS)
)
dates = st.dates(min_value=date(1, 1, 1)).map(date.isoformat) | st.sampled_from(DATES)
datetimes = st.builds(lambda day, hour, minute: f"{day}T{hour:02d}:{minute:02d}", dates,
                      st.integers(0, 30), st.integers(0, 70))  # fmt: skip


def values_for(field: FormField) -> st.SearchStrategy[Any]:
    """Anything a client could send for ``field``: its own kind of value, or junk, or several values at once."""
    own = {
        "number": numbers,
        "date": dates,
        "datetime-local": datetimes,
        "checkbox": st.sampled_from(["on", "", "0", "1", "false", field.value]),
        "radio": st.sampled_from([*field.options, field.value, ""]),
        "select": st.sampled_from(field.options or ("",)),
    }.get(field.kind, text)
    single = own | text
    return single | st.lists(single, min_size=2, max_size=3)


LEFT_OUT = object()  # the field is not sent at all


def bodies(form: PostForm) -> st.SearchStrategy[dict[str, Any]]:
    """The form as the page shows it, with any number of its fields changed to something else or left out."""
    shown = form.browser_body()
    changes = st.fixed_dictionaries(
        {}, optional={field.name: values_for(field) | st.just(LEFT_OUT) for field in form.editable}
    )

    def applied(changed: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {**shown, **changed, **form.fixed}
        return {name: value for name, value in body.items() if value is not LEFT_OUT}

    return changes.map(applied)


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


ANSWER_MARKS = ("is-invalid", "invalid-feedback", "errorlist", "alert-block alert-danger", 'role="alert"')


def answered_sensibly(response: Any, body: dict[str, Any]) -> bool:
    """A refusal (4xx), a redirect, a download, or the form again with a message: an error next to a field
    (crispy's ``is-invalid`` / ``invalid-feedback``), a form error, or a notice of the messages framework. An
    empty body is the form shown again (Django's ``request.POST or None`` takes an empty POST for a first visit)."""
    if 400 <= response.status_code < 500 or response.status_code == 302:
        return True
    if response.status_code != 200:
        return False
    if response.streaming:
        return True
    page = response.content.decode()
    return any(mark in page for mark in ANSWER_MARKS) or (not body and "<form" in page)


def namespace_of(path: str) -> str:
    return resolve(path.partition("?")[0]).namespace or "kernel"


def _kind_of(form: PostForm) -> tuple[str, ...]:
    """What makes two forms the same for the fuzzing: the view they post to, which of its forms (the hidden
    ``action``, the kind of record), and their fields; not the record's id (one reminder's "send now" is enough)."""
    fixed = form.fixed
    return (
        resolve(form.action.partition("?")[0]).view_name,
        fixed.get("action", ""),
        fixed.get("form", ""),
        repr(sorted(name for name in fixed if not name.startswith("initial-"))),
        repr(sorted(field.name for field in form.editable)),
    )


def form_targets(forms_seen: dict[tuple[str, str], list[PostForm]]) -> dict[tuple[str, ...], tuple[str, PostForm]]:
    """Every distinct form (see ``_kind_of``) → the first principal who can send it (roles in the order of
    ``Role``; anonymous only for what only anonymous visitors see)."""
    targets: dict[tuple[str, ...], tuple[str, PostForm]] = {}
    for principal in (*PRINCIPALS[1:], ANONYMOUS):
        for (seen_by, _page), forms in sorted(forms_seen.items()):
            if seen_by != principal:
                continue
            for form in forms:
                if not form.editable:
                    continue  # a read-only form (the fields disabled): its POST is refused, see the matrix
                targets.setdefault(_kind_of(form), (principal, form))
    return targets


def fuzz(form: PostForm, client: Client, principal: str) -> None:
    """Post ``EXAMPLES_PER_FORM`` bodies to ``form``, each in a savepoint rolled back after it."""

    @settings(max_examples=EXAMPLES_PER_FORM, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(body=bodies(form))
    def post(body: dict[str, Any]) -> None:
        with rolled_back():
            response = client.post(form.action, body)
        assert response.status_code < 500, (principal, form.action, body)
        assert answered_sensibly(response, body), (principal, form.action, response.status_code, body)

    post()


NAMESPACES = sorted({"kernel" if ":" not in name else name.split(":")[0] for name in url_routes()})


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_no_post_body_to_any_form_gives_a_server_error(namespace: str, world: World, forms_seen: Any) -> None:
    targets = [target for target in form_targets(forms_seen).values() if namespace_of(target[1].action) == namespace]
    assert targets, f"no form of {namespace} was found on the walked pages"
    clients: dict[str, Client] = {}
    for principal, form in targets:
        fuzz(form, clients.setdefault(principal, client_as(world.user(principal))), principal)


def test_every_kind_of_form_is_fuzzed(forms_seen: Any) -> None:
    """The fuzzing reaches the forms that matter: registration with consent, every screening and visit form, the
    adverse event, the query conversation, the lock, the export, the allocation list and the login."""
    actions = {form.action.partition("?")[0] for _principal, form in form_targets(forms_seen).values()}
    assert len(actions) >= 30, sorted(actions)
    for fragment in ("/screening/register/DHK/", "/forms/mrss/", "/forms/labs/", "/forms/drug/", "/forms/conmeds/",
                     "/safety/participants/", "/safety/reports/", "/monitoring/queries/", "/monitoring/locks/new/",
                     "/exports/", "/randomization/lists/", "/accounts/login/", "/reminders/"):  # fmt: skip
        assert any(fragment in action for action in actions), fragment


def test_a_username_longer_than_any_account_is_a_failed_login_not_a_server_error(world: World) -> None:
    """Found by the fuzzing: Django's login form does not limit the username's length and django-axes keeps 255
    characters of it, so a longer one was a server error on PostgreSQL (now cut by ``AXES_USERNAME_CALLABLE``)."""
    from axes.models import AccessAttempt

    long_name = "x" * 300
    for login_page in ("/accounts/login/", "/admin/login/"):
        client = Client()
        response = client.post(login_page, {"username": long_name, "password": "wrong-password-1"})
        assert response.status_code == 200 and "_auth_user_id" not in client.session, login_page  # the form again
    assert AccessAttempt.objects.get().username == long_name[:255]

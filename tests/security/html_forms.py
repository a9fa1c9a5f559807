"""The POST forms of a rendered page, read the way a browser reads them: where each posts, its fields (inputs,
selects, textareas and named submit buttons) with the values the page carries, and the body a browser would send.

The CSRF, permission-matrix and fuzzing tests build their POST bodies from these, so a field added to a form is
posted (and fuzzed) without editing the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.html

# Forms every page carries in its header: logging out and choosing the language. They are tested on their own URLs.
SHELL_ACTIONS = ("/accounts/logout/", "/i18n/setlang/")

FORM_TAG = re.compile(r"<form\b[^>]*>", re.IGNORECASE)


def has_post_form(html: str) -> bool:
    """Whether ``html`` has a POST form besides the header's (a quick look before parsing the page)."""
    return any(
        'method="post"' in tag.lower() and not any(action in tag for action in SHELL_ACTIONS)
        for tag in FORM_TAG.findall(html)
    )


@dataclass(frozen=True)
class FormField:
    name: str
    kind: str  # the input's type ("text", "date", "number", "checkbox", "hidden", …), or "select", "textarea", "submit"
    value: str
    options: tuple[str, ...] = ()
    checked: bool = False
    disabled: bool = False
    multiple: bool = False


@dataclass(frozen=True)
class PostForm:
    page: str
    action: str  # the path it posts to, with its query string
    fields: tuple[FormField, ...]

    @property
    def editable(self) -> tuple[FormField, ...]:
        """The fields a person can change (not hidden, not disabled, not a submit button)."""
        return tuple(f for f in self.fields if not f.disabled and f.kind not in {"hidden", "submit", "file"})

    @property
    def fixed(self) -> dict[str, str]:
        """The hidden inputs and the first named submit button: what says which form of the page this is."""
        values = {f.name: f.value for f in self.fields if f.kind == "hidden" and not f.disabled}
        button = next((f for f in self.fields if f.kind == "submit"), None)
        if button is not None:
            values.setdefault(button.name, button.value)
        return values

    def browser_body(self) -> dict[str, list[str]]:
        """What a browser posts when the form is sent as the page shows it (the first named button pressed)."""
        body: dict[str, list[str]] = {}
        for field in self.fields:
            if field.disabled or field.kind in {"submit", "file"}:
                continue
            if field.kind in {"checkbox", "radio"}:
                if field.checked:
                    body.setdefault(field.name, []).append(field.value)
            elif field.kind == "select" and field.multiple:
                body[field.name] = [value for value in field.value.split("\n") if value]
            else:
                body.setdefault(field.name, []).append(field.value)
        return {**body, **{name: [value] for name, value in self.fixed.items()}}


def _field(element: lxml.html.HtmlElement) -> FormField | None:
    name = element.get("name")
    if not name or name == "csrfmiddlewaretoken":
        return None
    disabled = element.get("disabled") is not None
    if element.tag == "select":
        options = tuple(option.get("value", option.text_content()) for option in element.iter("option"))
        chosen = [option.get("value", option.text_content()) for option in element.iter("option")
                  if option.get("selected") is not None]  # fmt: skip
        multiple = element.get("multiple") is not None
        value = "\n".join(chosen) if multiple else (chosen[0] if chosen else (options[0] if options else ""))
        return FormField(name, "select", value, options, disabled=disabled, multiple=multiple)
    if element.tag == "textarea":
        return FormField(name, "textarea", element.text_content(), disabled=disabled)
    kind = (element.get("type") or ("submit" if element.tag == "button" else "text")).lower()
    if kind in {"submit", "image", "button", "reset"}:
        return FormField(name, "submit", element.get("value", ""), disabled=disabled) if kind == "submit" else None
    value = element.get("value", "on" if kind in {"checkbox", "radio"} else "")
    return FormField(name, kind, value, checked=element.get("checked") is not None, disabled=disabled)


def post_forms(page: str, html: str) -> list[PostForm]:
    """The POST forms of ``html`` (the page at path ``page``), the header's shell forms left out."""
    if not html.strip():
        return []
    document = lxml.html.fromstring(html)
    forms = []
    for form in document.iter("form"):
        if (form.get("method") or "get").lower() != "post":
            continue
        target = urlsplit(urljoin(page, form.get("action") or page))
        action = target.path + (f"?{target.query}" if target.query else "")
        if action.startswith(SHELL_ACTIONS):
            continue
        fields = tuple(
            field
            for element in form.iter("input", "select", "textarea", "button")
            if (field := _field(element)) is not None
        )
        forms.append(PostForm(page=page, action=action, fields=fields))
    return forms

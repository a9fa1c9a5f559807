"""Every page on a phone (390 × 844) and, as a sanity check, on a desktop (1280 × 800).

Each URL of the project is opened once, at its sample address in the security tests' world (a small trial: two
sites, a randomised participant with visits, forms, an SAE, a query, a lock, an export), as the first role the
permission matrix lets open it. On a phone the page must not scroll sideways (a wide table scrolls inside its own
box) and every visible button, nav link, pagination link and form field must be at least 44 px tall, a finger's
width; on a desktop the page must not scroll sideways either. The failure names every offending page.

One browser, one context per role, logged in by a session cookie (``force_login``), not by the login form.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser

from tests.e2e.screenshots import Camera, screenshots_dir
from tests.security.conftest import ANONYMOUS, COLUMN_OF, PRINCIPALS, World, _build_world
from tests.security.permission_matrix import parse_matrix

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TOUCH_TARGET_PX = 44

# The page's width, the elements sticking out past the window (not inside a box that scrolls on its own), and the
# visible touch targets smaller than a finger.
MEASURE = """
(minimum) => {
  const describe = (element) => {
    const text = (element.innerText || element.value || element.getAttribute('aria-label') || '').trim();
    const classes = typeof element.className === 'string' ? element.className.trim().split(/\\s+/).join('.') : '';
    return `<${element.tagName.toLowerCase()}${classes ? '.' + classes : ''}> "${text.slice(0, 30)}"`;
  };
  const scrollsOnItsOwn = (element) => {
    // An absolutely placed element (a .visually-hidden label) is held by its containing block, not its parent.
    const placed = ['absolute', 'fixed'].includes(getComputedStyle(element).position);
    const first = placed ? element.offsetParent : element.parentElement;
    if (placed && first && first !== document.body && getComputedStyle(first).overflowX !== 'visible') return true;
    for (let parent = first; parent && parent !== document.body; parent = parent.parentElement) {
      const overflow = getComputedStyle(parent).overflowX;
      if (overflow === 'auto' || overflow === 'scroll' || overflow === 'hidden') return true;
    }
    return false;
  };
  const width = window.innerWidth;
  const sticking = [];
  for (const element of document.body.querySelectorAll('*')) {
    const box = element.getBoundingClientRect();
    if (box.right > width + 0.5 && box.width > 0 && !scrollsOnItsOwn(element)) {
      const inner = [...element.children].some((child) => child.getBoundingClientRect().right > width + 0.5);
      if (!inner) sticking.push(`${describe(element)} ends at ${Math.round(box.right)} px`);
    }
  }
  const targets = 'button, input[type=submit], input[type=button], input[type=reset], .btn, .nav-link, '
    + '.navbar-toggler, .page-link, .dropdown-item, .form-control, .form-select, td a, th a';
  const small = [];
  for (const element of document.querySelectorAll(targets)) {
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (box.width <= 1 || box.height <= 1 || style.visibility === 'hidden' || element.closest('[hidden]')) continue;
    if (box.height < minimum - 0.5) small.push(`${describe(element)} ${Math.round(box.height)} px tall`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, sticking: sticking.slice(0, 4), small};
}
"""


def _pages_by_principal(world: World) -> dict[str, list[str]]:
    """Each HTML page of the project (one address per URL), under the first principal that may open it.

    The permission matrix says who may (a GET answering 200); the test client confirms the answer is an HTML
    page (the CSV, JSON and SVG addresses and the downloads are left to their own tests). A URL the matrix does
    not know yet is tried as every principal in turn.
    """
    matrix = parse_matrix()
    clients: dict[str, Client] = {}
    pages: dict[str, list[str]] = {}
    for name, path in sorted(world.samples.items()):
        row = matrix.get(name)
        candidates = [p for p in PRINCIPALS if row is None or row[COLUMN_OF[p]].get == 200]
        for principal in candidates:
            if principal not in clients:
                clients[principal] = Client()
                if principal != ANONYMOUS:
                    clients[principal].force_login(world.user(principal))
            response = clients[principal].get(path)
            if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
                pages.setdefault(principal, []).append(path)
                break
    return pages


def _context_for(browser: Browser, live_server: Any, world: World, principal: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, locale="en-US")
    if principal != ANONYMOUS:
        client = Client()
        client.force_login(world.user(principal))
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    return context


@pytest.fixture
def small_trial(transactional_db: Any, settings: Any, tmp_path: Any) -> World:
    settings.EXPORT_ROOT = tmp_path / "exports"
    return _build_world()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_page_fits_the_screen_with_touch_targets_a_finger_can_hit(
    browser: Browser, live_server: Any, small_trial: World, viewport: dict[str, int]
) -> None:
    world = small_trial
    phone = viewport == PHONE
    camera = Camera(screenshots_dir())
    pages = _pages_by_principal(world)
    opened = 0
    too_wide: list[str] = []
    too_small: list[str] = []
    for principal, paths in pages.items():
        context = _context_for(browser, live_server, world, principal, viewport)
        tab = context.new_page()
        try:
            for path in paths:
                response = tab.goto(f"{live_server.url}{path}")
                assert response is not None and response.status == 200, (principal, path, response and response.status)
                opened += 1
                found = tab.evaluate(MEASURE, TOUCH_TARGET_PX)
                if found["scrollWidth"] > viewport["width"]:
                    too_wide.append(f"{path} as {principal}: {found['scrollWidth']} px; {found['sticking']}")
                if phone and found["small"]:
                    too_small.append(f"{path} as {principal}: {found['small'][:5]}")
                if phone and principal == "coordinator":
                    if path == world.samples["visits:participant"]:
                        camera.shoot(tab, "participant-phone")
                    elif path == world.samples["screening:index"]:
                        camera.shoot(tab, "screening-log-phone")
        finally:
            context.close()

    assert opened >= 60, pages  # every page of the project, not a handful
    problems = []
    if too_wide:
        problems += [f"{len(too_wide)} pages scroll sideways at {viewport['width']} px:", *too_wide]
    if too_small:
        problems += [f"{len(too_small)} pages with touch targets under {TOUCH_TARGET_PX} px:", *too_small]
    assert not problems, "\n".join(problems)
    if phone:
        assert sorted(camera.taken) == ["participant-phone", "screening-log-phone"]

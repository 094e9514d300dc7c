"""The shell and the list pages in a real browser: axe-core's checks, the records list
without its server, long names and narrow screens, the skip link, titles, focus after a
page change, the header's focus ring, and the README's pictures."""

from __future__ import annotations

import struct
from typing import Any

from browsing import SCREENSHOTS, axe_violations, needs_browser, open_page, screenshot
from playwright.sync_api import Page, expect
from serving import Server, graphql_as

from server.services.seed import DEMO_PASSWORD

pytestmark = needs_browser
# The machine may be busy: wait as long for assertions as for actions.
expect.set_options(timeout=10_000)

CREATE = """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
  __typename ... on Error { message } } }"""

LONG_NAME = "W" * 200

# WCAG's contrast ratio of the focused element's outline against the header's background.
RING_CONTRAST = """element => {
  const rgb = (color) => color.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const luminance = (color) => {
    const [r, g, b] = rgb(color).map((c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(element);
  const ring = luminance(style.outlineColor);
  const ground = luminance(getComputedStyle(document.querySelector(".top")).backgroundColor);
  return {
    contrast: (Math.max(ring, ground) + 0.05) / (Math.min(ring, ground) + 0.05),
    style: style.outlineStyle,
    width: parseFloat(style.outlineWidth),
  };
}"""


def view_heading(page: Page) -> Any:
    return page.locator("#view h1")


def loaded(page: Page, heading: str) -> None:
    """The view shows its heading and its status line says it is done loading."""
    expect(view_heading(page)).to_have_text(heading)
    expect(page.locator("#view .status").first).not_to_have_text("Loading…")


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def widest_right(page: Page, selector: str) -> float:
    """The rightmost edge of the elements `selector` finds, in CSS pixels."""
    return float(
        page.evaluate(
            "s => Math.max(...[...document.querySelectorAll(s)]"
            ".map((e) => e.getBoundingClientRect().right))",
            selector,
        )
    )


def png_size(path: Any) -> tuple[int, int]:
    with open(path, "rb") as image:
        header = image.read(24)
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_axe_finds_nothing_serious_on_sign_in_records_users_and_tokens(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(browser, server.url + "/", user=None)
    expect(view_heading(page)).to_have_text("Sign in to Stageflow")
    assert axe_violations(page) == []

    page, errors = open_page(browser, server.url + "/#/records", user="admin")
    loaded(page, "Records")
    expect(page.locator("tr[data-record]")).to_have_count(3)
    assert axe_violations(page) == []

    page.goto(server.url + "/#/users")
    loaded(page, "Users")
    expect(page.locator("tr[data-user]").first).to_be_visible()
    assert axe_violations(page) == []

    page.goto(server.url + "/#/tokens")
    expect(view_heading(page)).to_have_text("API tokens")
    page.get_by_label("Label").fill("Reporting")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("tr[data-token]", has_text="Reporting")).to_be_visible()
    assert axe_violations(page) == []
    # The helper answers what axe finds: a control without a name is a critical violation.
    page.evaluate("document.getElementById('view').append(document.createElement('select'))")
    assert "select-name" in {v["id"] for v in axe_violations(page)}
    assert errors == []


def test_a_filter_changed_offline_shows_none_of_the_old_rows_and_recovers(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(browser, server.url + "/#/records")
    rows = page.locator("tr[data-record]")
    expect(rows).to_have_count(3)

    page.route("**/graphql", lambda route: route.abort())
    page.get_by_label("Search").fill("Contoso")
    status = page.locator("#view .status")
    expect(status).to_contain_text("Could not load records")
    # Fabrikam and Northwind were found for no search: they do not pass for Contoso's rows.
    expect(rows).to_have_count(0)
    retry = page.get_by_role("button", name="Try again")
    retry.focus()
    retry.press("Enter")
    expect(status).to_contain_text("Could not load records")
    expect(rows).to_have_count(0)

    page.unroute("**/graphql")
    retry.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Contoso - 50 laptops")
    expect(status).to_have_text("1 record")
    expect(retry).to_be_hidden()
    # The button went away under the keyboard: focus stays in the view, on the count.
    expect(status).to_be_focused()
    assert errors == []


def test_a_long_unbroken_name_stays_inside_the_window(server: Server, browser: Any) -> None:
    created = graphql_as(server, "demo", CREATE, input={"entity": "opportunity", "name": LONG_NAME})
    assert created["createRecord"]["__typename"] == "RecordCreated", created
    page, errors = open_page(browser, server.url + "/#/records")
    name = page.get_by_role("link", name=LONG_NAME)
    expect(name).to_be_visible()
    for width in (1280, 320):
        page.set_viewport_size({"width": width, "height": 800})
        assert page_width(page) <= width
        # No column pushed off screen: every header and cell ends inside the window.
        assert widest_right(page, "table.records th, table.records td") <= width
        box = name.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
        # The name wraps rather than being cut: it takes more than one line.
        assert box["height"] > 2 * float(
            page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        )
    # Every text input of the page carries the server's length limit for what it sends.
    limits = page.evaluate(
        "[...document.querySelectorAll('#view input:not([type=checkbox])')]"
        ".map(i => [i.id, i.maxLength])"
    )
    assert limits and all(limit == 200 for _, limit in limits), limits
    assert errors == []


def test_the_skip_link_comes_first_and_takes_focus_to_the_view(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(browser, server.url + "/#/records")
    loaded(page, "Records")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main#view")).to_be_focused()
    assert page.evaluate("location.hash") == "#/records"
    loaded(page, "Records")
    # The next Tab is in the view, past the header.
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('view').contains(document.activeElement)")
    assert errors == []


def test_signing_in_and_each_page_change_title_announce_and_focus_the_page(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(browser, server.url + "/#/records", user=None)
    expect(page).to_have_title("Sign in · Stageflow")
    page.get_by_label("Name").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    loaded(page, "Records")
    expect(page).to_have_title("Records · Stageflow")
    expect(view_heading(page)).to_be_focused()
    expect(page.locator("#announcer")).to_have_text("Records page")

    nav = page.get_by_role("navigation", name="Main")
    for link, heading, title in (
        ("Users", "Users", "Users · Stageflow"),
        ("API tokens", "API tokens", "API tokens · Stageflow"),
        ("Records", "Records", "Records · Stageflow"),
    ):
        nav.get_by_role("link", name=link, exact=True).press("Enter")
        expect(view_heading(page)).to_have_text(heading)
        expect(page).to_have_title(title)
        expect(view_heading(page)).to_be_focused()
        expect(page.locator("#announcer")).to_have_text(f"{link} page")

    page.goto(server.url + "/#/nowhere")
    expect(view_heading(page)).to_have_text("Not found")
    expect(page).to_have_title("Not found · Stageflow")
    expect(view_heading(page)).to_be_focused()
    # From the focused heading, the next Tab goes on in the view.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Back to records")).to_be_focused()
    assert errors == []


def test_a_page_left_while_loading_does_not_draw_over_the_next(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(browser, server.url + "/#/tokens")
    expect(view_heading(page)).to_have_text("API tokens")
    nav = page.get_by_role("navigation", name="Main")
    held: list[Any] = []

    def hold_catalog(route: Any) -> None:
        if "entities { key name }" in (route.request.post_data or ""):
            held.append(route)
        else:
            route.fallback()

    # The records page waits for its catalog; meanwhile the user goes back to their tokens.
    page.route("**/graphql", hold_catalog)
    with page.expect_request(lambda r: "entities { key name }" in (r.post_data or "")):
        nav.get_by_role("link", name="Records").click()
    nav.get_by_role("link", name="API tokens").click()
    expect(view_heading(page)).to_have_text("API tokens")
    expect(page.get_by_text("You have no API tokens.")).to_be_visible()
    assert len(held) == 1
    # The records page goes on to ask for its rows once it has drawn itself.
    with page.expect_request(lambda r: "records(entity" in (r.post_data or "")):
        held[0].continue_()
    expect(page.locator("#view h1")).to_have_count(1)
    expect(view_heading(page)).to_have_text("API tokens")
    expect(page).to_have_title("API tokens · Stageflow")
    expect(page.locator("#view table.records")).to_have_count(0)
    assert errors == []


def test_the_focus_ring_on_the_header_stands_out(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, server.url + "/#/records", user="admin")
    loaded(page, "Records")
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        inside = page.evaluate("() => !!document.activeElement.closest('.top, .skip')")
        if not inside:
            break
        ring = focused.evaluate(RING_CONTRAST)
        seen.append(focused.text_content())
        assert ring["style"] != "none" and ring["width"] >= 2, (seen[-1], ring)
        assert ring["contrast"] >= 3, (seen[-1], ring)
    # The skip link, the brand, seven links and the sign-out button.
    assert seen == [
        "Skip to content",
        "Stageflow",
        "Records",
        "Board",
        "Insights",
        "Designer",
        "Webhooks",
        "Users",
        "API tokens",
        "Sign out",
    ]
    assert errors == []


def test_sign_in_records_users_and_tokens_reflow_at_320_px(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, server.url + "/", user=None)
    page.set_viewport_size({"width": 320, "height": 640})
    expect(view_heading(page)).to_have_text("Sign in to Stageflow")
    assert page_width(page) <= 320

    page, errors = open_page(browser, server.url + "/#/records", user="admin")
    page.set_viewport_size({"width": 320, "height": 640})
    for route, heading in (("records", "Records"), ("users", "Users"), ("tokens", "API tokens")):
        page.goto(f"{server.url}/#/{route}")
        expect(view_heading(page)).to_have_text(heading)
        if route == "tokens":
            label = "A label with a long word " + "x" * 60
            page.get_by_label("Label").fill(label)
            page.get_by_role("button", name="Create token").click()
            expect(page.locator("tr[data-token]", has_text=label)).to_be_visible()
        else:
            expect(page.locator("tbody tr").first).to_be_visible()
        assert page_width(page) <= 320, route
        assert widest_right(page, "#view *") <= 320, route
        # The header's links wrap onto more lines instead of running off the screen.
        nav = page.get_by_role("navigation", name="Main")
        assert nav.evaluate("n => n.scrollWidth <= n.clientWidth"), route
        assert widest_right(page, ".top nav a") <= 320, route
        tops = nav.locator("a").evaluate_all(
            "links => links.map((a) => a.getBoundingClientRect().top)"
        )
        assert max(tops) > min(tops), route
        # Nor does a tablet's width make the page scroll sideways.
        for width in (720, 1024):
            page.set_viewport_size({"width": width, "height": 640})
            assert page_width(page) <= width, (route, width)
        page.set_viewport_size({"width": 320, "height": 640})
    assert errors == []


def test_screenshots_of_sign_in_and_records_fit_their_width(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, server.url + "/", user=None)
    for width, suffix in ((1280, ""), (390, "-390")):
        page.set_viewport_size({"width": width, "height": 860})
        expect(view_heading(page)).to_have_text("Sign in to Stageflow")
        screenshot(page, f"signin{suffix}")
        assert png_size(SCREENSHOTS / f"signin{suffix}.png")[0] == width

    page, errors = open_page(browser, server.url + "/#/records")
    for width, suffix in ((1280, ""), (390, "-390")):
        page.set_viewport_size({"width": width, "height": 860})
        loaded(page, "Records")
        expect(page.locator("tr[data-record]")).to_have_count(3)
        screenshot(page, f"records{suffix}")
        # A page wider than the window would make a wider picture.
        assert png_size(SCREENSHOTS / f"records{suffix}.png")[0] == width
    assert errors == []

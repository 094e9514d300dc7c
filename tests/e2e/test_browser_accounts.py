"""Accounts in a real browser: admins manage users, everyone manages their API tokens, and
designers choose who may run a process."""

from __future__ import annotations

from typing import Any

from browsing import needs_browser, open_page
from playwright.sync_api import Page, expect
from serving import Server, graphql, post

pytestmark = needs_browser
# The machine may be busy: wait as long for assertions as for actions.
expect.set_options(timeout=10_000)

HOSTILE = "<img src=x onerror=alert(1)>"
CY_PASSWORD = "cy-password-2024"

USERS = "{ users { id name role roles active } }"
PROCESS_NAMES = "{ processes { name } }"
ROLES = "{ processes { name roles } }"


def user_named(server: Server, name: str) -> dict[str, Any] | None:
    users = graphql(server, USERS)["users"]
    return next((u for u in users if u["name"] == name), None)  # type: ignore[union-attr]


def nav_link(page: Page, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def status(page: Page) -> Any:
    """The view's status line (the header's live state is a status too)."""
    return page.locator("#view").get_by_role("status")


def test_an_admin_creates_a_user_who_signs_in_until_made_inactive(
    server: Server, browser: Any
) -> None:
    admin, admin_errors = open_page(browser, server.url + "/#/users", user="admin")
    expect(nav_link(admin, "Users")).to_be_visible()
    expect(admin.locator("table.users tbody tr th", has_text="ana")).to_be_visible()
    # The demo users are listed with their roles as the server keeps them.
    ana_row = admin.locator("tr[data-user]", has=admin.get_by_role("rowheader", name="ana"))
    expect(ana_row.get_by_label("Team roles of ana")).to_have_value("sales")
    expect(ana_row.get_by_label("Base role of ana")).to_have_value("USER")

    form = admin.get_by_role("form", name="New user")
    # A name that is taken: the server's refusal shows next to the form.
    form.get_by_label("Name").fill("ana")
    form.get_by_label("Password").fill(CY_PASSWORD)
    form.get_by_role("button", name="Create user").click()
    expect(form.get_by_role("alert")).to_have_text("name: a user named 'ana' exists")

    form.get_by_label("Name").fill("cy")
    form.get_by_label("Password").fill(CY_PASSWORD)
    form.get_by_label("Base role").select_option("USER")
    form.get_by_label("Team roles").fill(" support ,")
    form.get_by_role("button", name="Create user").click()
    expect(status(admin)).to_have_text("Created cy.")
    expect(form.locator(".form-message")).to_be_empty()
    expect(admin.get_by_label("Team roles of cy")).to_have_value("support")
    created = user_named(server, "cy")
    assert created is not None
    assert (created["role"], created["roles"], created["active"]) == ("USER", ["support"], True)

    # cy signs in through the form, in a browser of their own, and works.
    cy, cy_errors = open_page(browser, server.url + "/#/records", user=None)
    cy.get_by_label("Name").fill("cy")
    cy.get_by_label("Password").fill(CY_PASSWORD)
    cy.get_by_role("button", name="Sign in").click()
    expect(cy.locator("#user-name")).to_have_text("cy (user)")
    expect(cy.locator("table.records tbody tr").first).to_be_visible()
    expect(nav_link(cy, "Users")).to_be_hidden()
    nav_link(cy, "API tokens").click()
    expect(cy.get_by_role("heading", name="API tokens")).to_be_visible()

    # The admin makes cy inactive.
    cy_row = admin.locator("tr[data-user]", has=admin.get_by_role("rowheader", name="cy"))
    cy_row.get_by_label("Active").uncheck()
    cy_row.get_by_role("button", name="Save cy").click()
    expect(status(admin)).to_have_text("Saved cy.")
    expect(cy_row).to_have_class("inactive")
    assert user_named(server, "cy")["active"] is False  # type: ignore[index]

    # cy's open page finds the session over by itself (the server closes its socket):
    # back to the sign-in form, without a click.
    expect(cy.locator("form.sign-in")).to_be_visible()
    expect(cy.locator(".top nav")).to_be_hidden()
    expect(cy.locator("#user-name")).to_have_text("")
    # Nor can cy sign in again.
    cy.get_by_label("Name").fill("cy")
    cy.get_by_label("Password").fill(CY_PASSWORD)
    cy.get_by_role("button", name="Sign in").click()
    expect(cy.get_by_role("alert")).to_have_text("wrong name or password")

    # Active again, with a new password: the old one no longer works, the new one does.
    cy_row.get_by_label("Active").check()
    cy_row.get_by_label("New password for cy").fill("a-new-password-for-cy")
    cy_row.get_by_role("button", name="Save cy").click()
    expect(status(admin)).to_have_text("Saved cy, with a new password.")
    expect(cy_row.get_by_label("New password for cy")).to_have_value("")
    expect(cy_row).not_to_have_class("inactive")
    cy.get_by_label("Name").fill("cy")
    cy.get_by_label("Password").fill("a-new-password-for-cy")
    cy.get_by_role("button", name="Sign in").click()
    expect(cy.locator("#user-name")).to_have_text("cy (user)")

    # A refusal of a change shows in the row; nothing changes.
    cy_row.get_by_label("Team roles of cy").fill("Support Team")
    cy_row.get_by_role("button", name="Save cy").click()
    expect(cy_row.get_by_role("alert")).to_contain_text("roles: 'Support Team'")
    assert user_named(server, "cy")["roles"] == ["support"]  # type: ignore[index]

    # A new base role: cy designs now.
    cy_row.get_by_label("Team roles of cy").fill("support, finance")
    cy_row.get_by_label("Base role of cy").select_option("DESIGNER")
    cy_row.get_by_role("button", name="Save cy").click()
    expect(status(admin)).to_have_text("Saved cy.")
    expect(cy_row.locator(".form-message")).to_be_empty()
    saved = user_named(server, "cy")
    assert (saved["role"], saved["roles"]) == ("DESIGNER", ["finance", "support"])  # type: ignore[index]

    # The admin may not lock themselves out from this page.
    me = admin.locator("tr[data-user]", has=admin.get_by_role("rowheader", name="admin"))
    expect(me.get_by_label("Active")).to_be_disabled()
    expect(me.get_by_label("Base role of admin")).to_be_disabled()
    assert admin_errors == []
    assert cy_errors == []


def test_only_admins_see_the_users_page(server: Server, browser: Any) -> None:
    for name in ("designer", "demo"):
        page, errors = open_page(browser, server.url + "/#/users", user=name)
        expect(page.get_by_role("alert")).to_have_text("Only admins manage users.")
        expect(page.locator("#user-name")).to_contain_text(name)
        expect(nav_link(page, "Users")).to_be_hidden()
        expect(nav_link(page, "API tokens")).to_be_visible()
        assert page.locator("table.users").count() == 0
        assert errors == []
        page.context.close()


def test_a_user_creates_uses_and_revokes_an_api_token(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, server.url + "/#/records", user="ben")
    nav_link(page, "API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(page.get_by_text("You have no API tokens.")).to_be_visible()

    page.get_by_label("Label").fill(HOSTILE)
    page.get_by_role("button", name="Create token").click()
    secret_input = page.get_by_label(f"Secret of {HOSTILE}")
    expect(secret_input).to_be_visible()
    expect(secret_input).not_to_be_editable()
    expect(page.locator(".secret")).to_contain_text("it is not shown again")
    secret = secret_input.input_value()
    assert secret.startswith("sf_")
    rows = page.locator("table.tokens tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").first).to_have_text(HOSTILE)  # as text, not markup
    assert page.locator("img[src=x]").count() == 0

    answer = post(server, "{ me { name } processes { name } }", token=secret)
    assert "errors" not in answer, answer
    assert answer["data"]["me"] == {"name": "ben"}

    # Back on the page later: the token is listed, its secret is not shown again.
    page.reload()
    expect(rows).to_have_count(1)
    expect(page.locator(".secret")).to_be_hidden()
    assert secret not in page.content()

    page.get_by_role("button", name=f"Revoke {HOSTILE}").click()
    expect(status(page)).to_have_text(f"Revoked {HOSTILE}: it no longer works.")
    expect(rows).to_have_count(0)
    answer = post(server, PROCESS_NAMES, token=secret)
    assert answer.get("data") is None, answer
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert errors == []


def test_a_designer_chooses_who_may_run_a_process(server: Server, browser: Any) -> None:
    ana_token = server.token_of("ana")

    def ana_sees() -> list[str]:
        answer = post(server, PROCESS_NAMES, token=ana_token)
        assert "errors" not in answer, answer
        return [p["name"] for p in answer["data"]["processes"]]

    assert "Enterprise Deal" in ana_sees()
    ana, ana_errors = open_page(browser, server.url + "/#/records", user="ana")
    offered = ana.locator("#new-process option")
    expect(offered.filter(has_text="Enterprise Deal")).to_have_count(1)

    page, errors = open_page(browser, server.url + "/#/designer", user="designer")
    row = page.locator("tr[data-process]", has=page.get_by_role("link", name="Enterprise Deal"))
    expect(row.locator(".d-roles-now")).to_have_text("Everyone")
    roles = row.get_by_label("Roles that may run Enterprise Deal")
    set_roles = row.get_by_role("button", name="Set who may run Enterprise Deal")

    # A role the server does not accept: its refusal, and no change.
    roles.fill("Finance Team")
    set_roles.click()
    expect(status(page)).to_contain_text("Enterprise Deal: roles: 'Finance Team'")
    expect(row.locator(".d-roles-now")).to_have_text("Everyone")

    roles.fill("finance")
    set_roles.click()
    expect(status(page)).to_have_text("Enterprise Deal may now be run by: finance.")
    expect(row.locator(".d-roles-now")).to_have_text("finance")
    stored = {p["name"]: p["roles"] for p in graphql(server, ROLES)["processes"]}  # type: ignore[index]
    assert stored["Enterprise Deal"] == ["finance"]
    assert stored["Opportunity Sales"] == []

    # ana (team role sales) no longer sees it, in the API nor in the page.
    assert "Enterprise Deal" not in ana_sees()
    assert "Opportunity Sales" in ana_sees()
    ana.reload()
    expect(offered.filter(has_text="Opportunity Sales")).to_have_count(1)
    expect(offered.filter(has_text="Enterprise Deal")).to_have_count(0)

    # The list shows what was saved. The designer, not in finance, may no longer run it, so
    # may not open it again (that would let them read its records): an admin may.
    page.reload()
    expect(row.locator(".d-roles-now")).to_have_text("finance")
    expect(roles).to_have_value("finance")
    roles.fill("")
    set_roles.click()
    expect(status(page)).to_contain_text("only an admin, or a designer who may run the process")
    expect(row.locator(".d-roles-now")).to_have_text("finance")
    assert "Enterprise Deal" not in ana_sees()

    admin, admin_errors = open_page(browser, server.url + "/#/designer", user="admin")
    row = admin.locator("tr[data-process]", has=admin.get_by_role("link", name="Enterprise Deal"))
    row.get_by_label("Roles that may run Enterprise Deal").fill("")
    row.get_by_role("button", name="Set who may run Enterprise Deal").click()
    expect(status(admin)).to_have_text("Enterprise Deal may now be run by everyone.")
    expect(row.locator(".d-roles-now")).to_have_text("Everyone")
    assert "Enterprise Deal" in ana_sees()
    assert errors == []
    assert ana_errors == []
    assert admin_errors == []

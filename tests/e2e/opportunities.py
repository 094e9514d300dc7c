"""Opportunities made through the API for the browser tests, and the run as the server
holds it."""

from __future__ import annotations

from typing import Any

from browsing import open_page
from playwright.sync_api import Page, expect
from serving import Server, graphql, graphql_as

CREATE = """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
  ... on RecordCreated { record { id } } ... on Error { message } } }"""
START = """mutation($input: StartInstanceInput!) { startInstance(input: $input) {
  ... on InstanceStarted { instance { id } } ... on Error { message } } }"""
SET = """mutation($input: CompleteStepInput!) { completeStep(input: $input) {
  __typename ... on Error { message } } }"""
ADVANCE = """mutation($input: InstanceInput!) { advanceStage(input: $input) {
  __typename ... on Error { message } } }"""
TRAIL = """query($id: ID!) { instance(id: $id) {
  version status path { key } events { kind actor } record { values } } }"""

# Every required step of Qualify and Develop is done: two advances in a row would succeed.
READY_TO_PROPOSE = {
    "estimated_budget": 12000,
    "decision_maker_identified": True,
    "customer_need": "Twelve printers for the new office",
}


def new_opportunity(
    server: Server, name: str, values: dict[str, Any], *, advances: int = 0
) -> tuple[str, str]:
    """A record of ana's on Opportunity Sales, advanced `advances` times: (record, instance)."""
    created = graphql_as(
        server, "ana", CREATE, input={"entity": "opportunity", "name": name, "values": values}
    )
    record_id = created["createRecord"]["record"]["id"]
    started = graphql_as(server, "ana", START, input={"recordId": record_id})
    instance_id = started["startInstance"]["instance"]["id"]
    for _ in range(advances):
        answer = graphql_as(server, "ana", ADVANCE, input={"instanceId": instance_id})
        assert answer["advanceStage"]["__typename"] == "StageAdvanced", answer
    return record_id, instance_id


def trail(server: Server, instance_id: str) -> dict[str, Any]:
    """The instance as the server holds it: version, status, path keys, event kinds, values."""
    instance: dict[str, Any] = graphql(server, TRAIL, id=instance_id)["instance"]  # type: ignore[assignment]
    return {
        "version": instance["version"],
        "status": instance["status"],
        "path": [stage["key"] for stage in instance["path"]],
        "events": [event["kind"] for event in instance["events"]],
        "values": instance["record"]["values"],
    }


def open_record(server: Server, browser: Any, record_id: str) -> tuple[Page, list[str]]:
    page, errors = open_page(browser, f"{server.url}/#/records/{record_id}", user="ana")
    page.wait_for_selector("ol.bar > li[aria-current='step']")
    page.wait_for_selector("#live-state[data-state='open']")
    return page, errors


def wait_for_active(page: Page, name: str) -> None:
    expect(page.locator("ol.bar > li[aria-current='step'] .name")).to_have_text(name)

"""The webhook registry: designers and admins register, change, pause, resume and remove
webhooks, renew secrets and send deliveries again; each change is one event, the secret is
answered once and never stored in an event or logged; bad input changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from deliveries import make_delivery
from graphql_client import GraphQL
from starlette.applications import Starlette
from users import make_user

from server.app import create_app
from server.db.models import EventRow, WebhookDeliveryRow, WebhookRow
from server.domain.access import BaseRole
from server.services.seed import seed
from server.settings import Settings

FIELDS = """id url description topics processIds stages entities status pausedReason
  consecutiveFailures version createdBy createdAt updatedAt"""
_SELECTED = {
    "InvalidValue": "field reason",
    "NotFound": "kind id",
    "VersionConflict": "currentVersion expectedVersion",
    "InvalidTransition": "code",
}


def _errors(*members: str) -> str:
    """The error members of a result union, with their data."""
    return "... on Error { message } " + " ".join(
        f"... on {m} {{ {_SELECTED[m]} }}" for m in members
    )


STALE = _errors("NotFound", "VersionConflict")
CREATE = f"""mutation($input: CreateWebhookInput!) {{ createWebhook(input: $input) {{
  __typename ... on WebhookCreated {{ secret webhook {{ {FIELDS} }} }} {_errors("InvalidValue")} }} }}"""
UPDATE = f"""mutation($input: UpdateWebhookInput!) {{ updateWebhook(input: $input) {{
  __typename ... on WebhookSaved {{ webhook {{ {FIELDS} }} }}
  {_errors("InvalidValue", "NotFound", "VersionConflict")} }} }}"""
RENEW = f"""mutation($input: WebhookInput!) {{ renewWebhookSecret(input: $input) {{
  __typename ... on WebhookSecretRenewed {{ secret webhook {{ {FIELDS} }} }} {STALE} }} }}"""
DELETE = f"""mutation($input: WebhookInput!) {{ deleteWebhook(input: $input) {{
  __typename ... on WebhookDeleted {{ webhook {{ {FIELDS} }} }} {STALE} }} }}"""
DELIVERY = """id seq kind topics instanceId state attempts nextAt createdAt deliveredAt lastStatus
  lastError lastDurationMs lastAttemptAt tries { n at status error durationMs }"""
REDELIVER = f"""mutation($input: RedeliverDeliveryInput!) {{ redeliverDelivery(input: $input) {{
  __typename ... on DeliveryScheduled {{ delivery {{ {DELIVERY} }} }}
  {_errors("NotFound", "InvalidTransition")} }} }}"""
WEBHOOKS = f"{{ webhooks {{ {FIELDS} }} }}"
WEBHOOK = f"query($id: ID!) {{ webhook(id: $id) {{ {FIELDS} }} }}"
DELIVERIES = f"""query($id: ID!, $first: Int!, $after: String, $state: DeliveryState) {{
  webhook(id: $id) {{ deliveries(first: $first, after: $after, state: $state) {{ totalCount
    pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {DELIVERY} }} }} }} }} }}"""
EVENTS = """query($after: Int!) { events(afterSeq: $after, first: 100) {
  seq kind actor before after } }"""
URL = "https://hooks.example.com/stageflow"


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    """The app without its webhook sender: these tests write deliveries of their own, which
    no sender should try."""
    application = create_app(Settings(database_url=database_url, webhook_sender=False))
    async with application.router.lifespan_context(application):
        await seed(application.state.runtime)
        yield application


def _status(name: str) -> str:
    return f"""mutation($input: WebhookInput!) {{ {name}(input: $input) {{
      __typename ... on WebhookSaved {{ webhook {{ {FIELDS} }} }} {STALE} }} }}"""


PAUSE, RESUME = _status("pauseWebhook"), _status("resumeWebhook")


async def _create(gql: Any, user: str = "demo", **input: Any) -> dict[str, Any]:
    given = {"url": URL, "topics": ["STAGE_ENTERED"], **input}
    answer: dict[str, Any] = (await gql.execute(CREATE, {"input": given}, user=user))[
        "createWebhook"
    ]
    return answer


async def _made(gql: Any, **input: Any) -> dict[str, Any]:
    answer = await _create(gql, **input)
    assert answer["__typename"] == "WebhookCreated", answer
    return answer


async def _call(gql: Any, document: str, **input: Any) -> dict[str, Any]:
    data = await gql.execute(document, {"input": input})
    return next(iter(data.values()))  # type: ignore[no-any-return]


async def _seq(gql: Any) -> int:
    return int((await gql.execute("{ lastEventSeq }"))["lastEventSeq"])


async def _events_after(gql: Any, seq: int) -> list[dict[str, Any]]:
    return list((await gql.execute(EVENTS, {"after": seq}))["events"])


async def _processes(gql: Any) -> dict[str, str]:
    found = await gql.execute("{ processes { id key } }")
    return {p["key"]: p["id"] for p in found["processes"]}


async def test_a_webhook_is_registered_and_its_secret_answered_once(gql: Any) -> None:
    before = await _seq(gql)
    made = await _made(gql, description="CRM sync", topics=["STAGE_LEFT", "FINISHED"])
    webhook = made["webhook"]
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 30
    assert webhook["url"] == URL
    assert webhook["description"] == "CRM sync"
    assert webhook["topics"] == ["FINISHED", "STAGE_LEFT"]
    assert (webhook["status"], webhook["pausedReason"], webhook["version"]) == ("ACTIVE", None, 1)
    assert webhook["createdBy"] == "demo"
    row = await WebhookRow.get(id=int(webhook["id"]))
    assert row.secret == made["secret"]
    # It hears of what commits once it exists: its own creation is past its horizon.
    assert row.since_seq == before
    listed = (await gql.execute(WEBHOOKS))["webhooks"]
    assert listed == [webhook]
    assert (await gql.execute(WEBHOOK, {"id": webhook["id"]}))["webhook"] == webhook
    # No read of a webhook answers its secret: the type has none.
    asked = await gql.post("{ webhooks { id secret } }")
    assert "'secret'" in asked.json()["errors"][0]["message"]


async def test_filters_name_processes_stages_and_entities_that_exist(gql: Any) -> None:
    ids = await _processes(gql)
    sales, cases = ids["opportunity-sales"], ids["phone-to-case"]
    made = await _made(gql, processIds=[sales], stages=["develop"], entities=["opportunity"])
    assert made["webhook"]["processIds"] == [sales]
    assert made["webhook"]["stages"] == ["develop"]
    # Without processes, a stage of any process will do.
    assert (await _create(gql, stages=["research"]))["__typename"] == "WebhookCreated"
    refusals = [
        ({"processIds": ["999999"]}, "processIds"),
        ({"processIds": ["not-an-id"]}, "processIds"),
        ({"entities": ["spaceship"]}, "entities"),
        ({"stages": ["nowhere"]}, "stages"),
        ({"stages": ["develop"], "processIds": [cases]}, "stages"),  # not a stage of cases
        ({"stages": [""]}, "stages"),
        ({"topics": []}, "topics"),
    ]
    count, seq = await WebhookRow.all().count(), await _seq(gql)
    for input, field in refusals:
        answer = await _create(gql, **input)
        assert (answer["__typename"], answer["field"]) == ("InvalidValue", field), input
    assert await WebhookRow.all().count() == count
    assert await _seq(gql) == seq


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "https://user:secret@hooks.example.com/x",
        "https://hooks.example.com/a b",
        " https://hooks.example.com/x",
        "https://hooks.example.com/" + "a" * 3000,
        "https://hooks.example.com/\x00",
        "https://hooks.example.com/x#part",
        "https:///nohost",
        "hooks.example.com/x",
        "javascript:alert(1)",
        "https://hooks.example.com:0/x",
        "",
    ],
)
async def test_a_bad_url_is_refused_and_changes_nothing(gql: Any, url: str) -> None:
    seq = await _seq(gql)
    answer = await _create(gql, url=url)
    assert answer["__typename"] == "InvalidValue", answer
    assert answer["field"] == "url"
    assert await WebhookRow.all().count() == 0
    assert await _seq(gql) == seq
    made = await _made(gql)
    changed = await _call(gql, UPDATE, id=made["webhook"]["id"], url=url)
    assert (changed["__typename"], changed["field"]) == ("InvalidValue", "url")
    assert (await WebhookRow.get(id=int(made["webhook"]["id"]))).url == URL


async def test_an_update_changes_what_is_given_and_refuses_a_stale_version(gql: Any) -> None:
    made = (await _made(gql, description="first"))["webhook"]
    saved = await _call(
        gql, UPDATE, id=made["id"], expectedVersion=1, topics=["FINISHED"], entities=["case"]
    )
    assert saved["__typename"] == "WebhookSaved"
    webhook = saved["webhook"]
    assert (webhook["topics"], webhook["entities"], webhook["version"]) == (
        ["FINISHED"],
        ["case"],
        2,
    )
    assert (webhook["url"], webhook["description"]) == (URL, "first")  # left out: kept
    seq = await _seq(gql)
    stale = await _call(gql, UPDATE, id=made["id"], expectedVersion=1, description="late")
    assert stale["__typename"] == "VersionConflict"
    assert (stale["currentVersion"], stale["expectedVersion"]) == (2, 1)
    assert (await WebhookRow.get(id=int(made["id"]))).description == "first"
    # The same values again change nothing: no new version, no event.
    same = await _call(gql, UPDATE, id=made["id"], topics=["FINISHED"])
    assert same["webhook"]["version"] == 2
    assert await _seq(gql) == seq
    missing = await _call(gql, UPDATE, id="999999", description="x")
    assert (missing["__typename"], missing["kind"]) == ("NotFound", "Webhook")


async def test_thirty_updates_of_one_version_at_once_make_one_change(gql: Any) -> None:
    made = (await _made(gql))["webhook"]
    seq = await _seq(gql)

    async def update(n: int) -> str:
        answer = await _call(
            gql, UPDATE, id=made["id"], expectedVersion=1, description=f"writer {n}"
        )
        return str(answer["__typename"])

    answers = await asyncio.gather(*(update(n) for n in range(30)))
    assert answers.count("WebhookSaved") == 1
    assert answers.count("VersionConflict") == 29
    events = await _events_after(gql, seq)
    assert [e["kind"] for e in events] == ["WEBHOOK_UPDATED"]
    row = await WebhookRow.get(id=int(made["id"]))
    assert row.version == 2
    assert events[0]["after"]["description"] == row.description


async def test_pause_holds_deliveries_and_resume_sends_what_waits_at_once(gql: Any) -> None:
    made = (await _made(gql))["webhook"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    waiting = await make_delivery(made["id"], seq=1, state="PENDING", next_at=later)
    done = await make_delivery(made["id"], seq=2, state="DELIVERED", next_at=later)
    paused = await _call(gql, PAUSE, id=made["id"])
    assert paused["webhook"]["status"] == "PAUSED"
    assert paused["webhook"]["pausedReason"] == "Paused by demo"
    seq = await _seq(gql)
    again = await _call(gql, PAUSE, id=made["id"])  # paused already: nothing to do
    assert again["webhook"]["version"] == paused["webhook"]["version"]
    assert await _seq(gql) == seq
    # Paused after failures in a row, as the sender does.
    await WebhookRow.filter(id=int(made["id"])).update(
        failures=8, paused_reason="8 failures in a row"
    )
    before_resume = dt.datetime.now(dt.UTC)
    resumed = (await _call(gql, RESUME, id=made["id"]))["webhook"]
    assert (resumed["status"], resumed["pausedReason"]) == ("ACTIVE", None)
    assert resumed["consecutiveFailures"] == 0
    assert (await WebhookDeliveryRow.get(id=waiting.id)).next_at <= dt.datetime.now(dt.UTC)
    assert (await WebhookDeliveryRow.get(id=waiting.id)).next_at >= before_resume
    assert (await WebhookDeliveryRow.get(id=done.id)).next_at == later
    kinds = [e["kind"] for e in await _events_after(gql, seq)]
    assert kinds == ["WEBHOOK_RESUMED"]
    stale = await _call(gql, PAUSE, id=made["id"], expectedVersion=1)
    assert stale["__typename"] == "VersionConflict"


async def test_a_removed_webhook_gives_up_what_waits_and_is_gone(gql: Any) -> None:
    made = (await _made(gql))["webhook"]
    waiting = await make_delivery(made["id"], seq=1, state="PENDING")
    done = await make_delivery(made["id"], seq=2, state="DELIVERED", statuses=(200,))
    gone = await _call(gql, DELETE, id=made["id"])
    assert gone["__typename"] == "WebhookDeleted"
    row = await WebhookDeliveryRow.get(id=waiting.id)
    assert (row.state, row.last_error) == ("FAILED", "webhook removed")
    assert (await WebhookDeliveryRow.get(id=done.id)).state == "DELIVERED"
    assert (await gql.execute(WEBHOOKS))["webhooks"] == []
    assert (await gql.execute(WEBHOOK, {"id": made["id"]}))["webhook"] is None
    assert (await WebhookRow.get(id=int(made["id"]))).deleted_at is not None  # the log stays
    seq = await _seq(gql)
    for document in (DELETE, PAUSE, RESUME, RENEW):
        answer = await _call(gql, document, id=made["id"])
        assert answer["__typename"] == "NotFound", document
    refused = await _call(gql, REDELIVER, id=done.uid)
    assert refused["__typename"] == "NotFound"
    assert await _seq(gql) == seq


async def test_a_renewed_secret_is_answered_once_and_signs_from_now_on(gql: Any) -> None:
    made = await _made(gql)
    renewed = await _call(gql, RENEW, id=made["webhook"]["id"], expectedVersion=1)
    assert renewed["__typename"] == "WebhookSecretRenewed"
    assert renewed["secret"].startswith("whsec_") and renewed["secret"] != made["secret"]
    assert renewed["webhook"]["version"] == 2
    assert (await WebhookRow.get(id=int(made["webhook"]["id"]))).secret == renewed["secret"]
    stale = await _call(gql, RENEW, id=made["webhook"]["id"], expectedVersion=1)
    assert stale["__typename"] == "VersionConflict"
    assert (await WebhookRow.get(id=int(made["webhook"]["id"]))).secret == renewed["secret"]


async def test_a_delivered_or_failed_delivery_is_sent_again_with_its_id(gql: Any) -> None:
    made = (await _made(gql))["webhook"]
    failed = await make_delivery(
        made["id"], seq=5, state="FAILED", statuses=(500, None, 503), last_status=503
    )
    delivered = await make_delivery(made["id"], seq=6, state="DELIVERED", statuses=(200,))
    pending = await make_delivery(made["id"], seq=7, state="PENDING", statuses=(500,))
    before = dt.datetime.now(dt.UTC)
    for row in (failed, delivered):
        seq = await _seq(gql)
        sent = await _call(gql, REDELIVER, id=row.uid)
        assert sent["__typename"] == "DeliveryScheduled"
        delivery = sent["delivery"]
        assert (delivery["id"], delivery["state"], delivery["attempts"]) == (
            row.uid,
            "PENDING",
            row.attempts,
        )
        assert dt.datetime.fromisoformat(delivery["nextAt"]) >= before
        assert [t["n"] for t in delivery["tries"]] == list(range(1, row.attempts + 1))
        events = await _events_after(gql, seq)
        assert [(e["kind"], e["after"]["deliveryId"]) for e in events] == [
            ("WEBHOOK_REDELIVERED", row.uid)
        ]
    seq = await _seq(gql)
    refused = await _call(gql, REDELIVER, id=pending.uid)
    assert (refused["__typename"], refused["code"]) == ("InvalidTransition", "DELIVERY_PENDING")
    for uid in ("00000000-0000-0000-0000-000000000000", "x\x00y"):
        assert (await _call(gql, REDELIVER, id=uid))["__typename"] == "NotFound"
    assert await _seq(gql) == seq


async def test_the_delivery_log_pages_newest_first_and_filters_by_state(gql: Any) -> None:
    made = (await _made(gql))["webhook"]
    states = ["DELIVERED", "FAILED", "PENDING"] * 5
    rows = [await make_delivery(made["id"], seq=n, state=s) for n, s in enumerate(states, 1)]
    seen: list[int] = []
    after = None
    while True:
        page = (await gql.execute(DELIVERIES, {"id": made["id"], "first": 4, "after": after}))[
            "webhook"
        ]["deliveries"]
        assert page["totalCount"] == len(rows)
        seen += [e["node"]["seq"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(range(len(rows), 0, -1))
    failed = (await gql.execute(DELIVERIES, {"id": made["id"], "first": 100, "state": "FAILED"}))[
        "webhook"
    ]["deliveries"]
    assert [e["node"]["seq"] for e in failed["edges"]] == [14, 11, 8, 5, 2]
    assert {e["node"]["state"] for e in failed["edges"]} == {"FAILED"}
    assert all(e["node"]["nextAt"] is None for e in failed["edges"])
    wrong = await gql.post(DELIVERIES, {"id": made["id"], "first": 4, "after": "nonsense"})
    assert wrong.json()["errors"][0]["message"].startswith("Cursor")


async def test_only_designers_and_admins_read_or_change_webhooks(gql: Any) -> None:
    gql.tokens["ursula"] = (await make_user("ursula", BaseRole.USER))[1]
    gql.tokens["dana"] = (await make_user("dana", BaseRole.DESIGNER))[1]
    made = (await _made(gql))["webhook"]
    seq = await _seq(gql)
    for document, variables in [
        (WEBHOOKS, {}),
        (WEBHOOK, {"id": made["id"]}),
        (CREATE, {"input": {"url": URL, "topics": ["FINISHED"]}}),
        (PAUSE, {"input": {"id": made["id"]}}),
        (DELETE, {"input": {"id": made["id"]}}),
        (REDELIVER, {"input": {"id": "x"}}),
    ]:
        answer = (await gql.post(document, variables, user="ursula")).json()
        assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN", document
        anonymous = (await gql.post(document, variables, user=None)).json()
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await _seq(gql) == seq
    assert [w["id"] for w in (await gql.execute(WEBHOOKS, user="dana"))["webhooks"]] == [made["id"]]
    assert (await _create(gql, user="dana"))["__typename"] == "WebhookCreated"


async def test_webhook_events_are_read_by_designers_and_admins_only(gql: Any) -> None:
    gql.tokens["ursula"] = (await make_user("ursula", BaseRole.USER))[1]
    gql.tokens["dana"] = (await make_user("dana", BaseRole.DESIGNER))[1]
    seq = await _seq(gql)
    made = (await _made(gql))["webhook"]
    await _call(gql, PAUSE, id=made["id"])
    kinds = ["WEBHOOK_CREATED", "WEBHOOK_PAUSED"]
    for user, shown in [("demo", kinds), ("dana", kinds), ("ursula", [])]:
        found = (await gql.execute(EVENTS, {"after": seq}, user=user))["events"]
        assert [e["kind"] for e in found] == shown, user


async def test_each_change_is_one_event_and_the_secret_is_in_none_of_them_nor_logged(
    gql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ids = await _processes(gql)
    seq = await _seq(gql)
    secrets = []
    made = await _made(gql, processIds=[ids["opportunity-sales"]], stages=["develop"])
    secrets.append(made["secret"])
    webhook_id = made["webhook"]["id"]
    delivery = await make_delivery(webhook_id, seq=1, state="FAILED", statuses=(500,))
    steps = [
        ("WEBHOOK_UPDATED", UPDATE, {"description": "renamed", "url": URL + "/v2"}),
        ("WEBHOOK_PAUSED", PAUSE, {}),
        ("WEBHOOK_RESUMED", RESUME, {}),
        ("WEBHOOK_SECRET_RENEWED", RENEW, {}),
        ("WEBHOOK_REDELIVERED", REDELIVER, {"id": delivery.uid}),
        ("WEBHOOK_DELETED", DELETE, {}),
    ]
    events = await _events_after(gql, seq)
    assert [e["kind"] for e in events] == ["WEBHOOK_CREATED"]
    assert events[0]["actor"] == "demo" and events[0]["before"] is None
    assert events[0]["after"]["url"] == URL and events[0]["after"]["stages"] == ["develop"]
    answers = []
    for kind, document, input in steps:
        seq = await _seq(gql)
        answer = await _call(gql, document, **{"id": webhook_id, **input})
        answers.append(answer)
        if "secret" in answer:
            secrets.append(answer["secret"])
        events = await _events_after(gql, seq)
        assert [e["kind"] for e in events] == [kind]
        assert events[0]["actor"] == "demo"
    assert len(set(secrets)) == 2
    # Reads and the answers of other changes hold no secret.
    reads = [await gql.execute(WEBHOOKS), await gql.execute(EVENTS, {"after": 0})]
    texts = [json.dumps(x) for x in (*reads, *(a for a in answers if "secret" not in a))]
    rows = [json.dumps([r.before, r.after]) for r in await EventRow.all()]
    # The SQL log at DEBUG quotes every statement's values: the database's own record.
    logged = [
        r.getMessage()
        for r in caplog.records
        if not r.name.startswith(("tortoise", "aiosqlite", "asyncpg"))
    ]
    assert len(logged) + len(rows) > 0
    for secret in secrets:
        assert not any(secret in text for text in texts)
        assert not any(secret in row for row in rows)
        assert not any(secret in line for line in logged)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ],
)
async def test_a_private_address_is_refused_unless_allowed(
    gql: Any, database_url: str, url: str
) -> None:
    seq = await _seq(gql)
    answer = await _create(gql, url=url)
    assert answer["__typename"] == "InvalidValue", answer
    assert answer["field"] == "url" and "not a public address" in answer["reason"]
    assert await WebhookRow.all().count() == 0
    assert await _seq(gql) == seq
    made = await _made(gql)
    changed = await _call(gql, UPDATE, id=made["webhook"]["id"], url=url)
    assert (changed["__typename"], changed["field"]) == ("InvalidValue", "url")
    assert (await WebhookRow.get(id=int(made["webhook"]["id"]))).url == URL


async def test_private_addresses_may_be_registered_where_the_setting_allows(
    database_url: str,
) -> None:
    application = create_app(Settings(database_url=database_url, webhook_allow_private=True))
    async with application.router.lifespan_context(application):
        await seed(application.state.runtime)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            allowed = GraphQL(http, application)
            made = await _made(allowed, url="http://127.0.0.1:9000/hook")
    assert made["webhook"]["url"] == "http://127.0.0.1:9000/hook"

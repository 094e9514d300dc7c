"""Webhooks in the domain: topics, filters, URLs, signatures, retry pauses, addresses."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools

import pytest

from server.domain.errors import InvalidValue
from server.domain.events import Event, EventKind
from server.domain.webhook import (
    Webhook,
    WebhookStatus,
    WebhookTopic,
    check_url,
    forbidden_address,
    retry_delay,
    signature,
    topics_of,
)

T = WebhookTopic
NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def event(kind: EventKind, *, seq: int = 10, **fields: object) -> Event:
    values: dict[str, object] = {"process_id": 1, "from_stage": "a", "to_stage": "b", **fields}
    return Event(kind, "ana", NOW, seq=seq, instance_id=5, record_id=7, **values)  # type: ignore[arg-type]


def hook(**fields: object) -> Webhook:
    values: dict[str, object] = {
        "id": 1,
        "url": "https://example.com/hook",
        "description": "",
        "topics": frozenset(WebhookTopic),
        "process_ids": frozenset(),
        "stages": frozenset(),
        "entities": frozenset(),
        "status": WebhookStatus.ACTIVE,
        "paused_reason": None,
        "failures": 0,
        "since_seq": 0,
        "version": 1,
        "created_by": "ana",
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return Webhook(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "topics"),
    [
        (EventKind.INSTANCE_STARTED, {T.STAGE_ENTERED}),
        (EventKind.STAGE_ADVANCED, {T.STAGE_LEFT, T.STAGE_ENTERED}),
        (EventKind.STAGE_MOVED_BACK, {T.STAGE_LEFT, T.STAGE_ENTERED}),
        (EventKind.INSTANCE_FINISHED, {T.STAGE_LEFT, T.FINISHED}),
        (EventKind.INSTANCE_ABANDONED, {T.STAGE_LEFT, T.ABANDONED}),
        (EventKind.INSTANCE_REACTIVATED, {T.REACTIVATED, T.STAGE_ENTERED}),
        (EventKind.STEP_COMPLETED, {T.STEP_COMPLETED}),
        (EventKind.PROCESS_SWITCHED, {T.PROCESS_SWITCHED}),
        (EventKind.RECORD_CREATED, set()),
        (EventKind.PROCESS_PUBLISHED, set()),
        (EventKind.WEBHOOK_PAUSED, set()),
    ],
)
def test_each_kind_of_event_carries_its_topics(kind: EventKind, topics: set[WebhookTopic]) -> None:
    assert topics_of(event(kind)) == topics


def test_a_migration_to_another_stage_also_leaves_one_and_enters_another() -> None:
    same = event(EventKind.INSTANCE_MIGRATED, from_stage="a", to_stage="a")
    moved = event(EventKind.INSTANCE_MIGRATED, from_stage="a", to_stage="c")
    assert topics_of(same) == {T.INSTANCE_MIGRATED}
    assert topics_of(moved) == {T.INSTANCE_MIGRATED, T.STAGE_LEFT, T.STAGE_ENTERED}


def test_a_webhook_hears_of_what_its_topics_and_filters_choose() -> None:
    advanced = event(EventKind.STAGE_ADVANCED)
    assert hook().wants(advanced, entity="opportunity") == {T.STAGE_LEFT, T.STAGE_ENTERED}
    assert hook(topics=frozenset({T.STAGE_LEFT})).wants(advanced, entity="x") == {T.STAGE_LEFT}
    assert hook(topics=frozenset({T.FINISHED})).wants(advanced, entity="x") == set()
    assert hook(process_ids=frozenset({2})).wants(advanced, entity="x") == set()
    assert hook(process_ids=frozenset({1, 2})).wants(advanced, entity="x")
    assert hook(entities=frozenset({"case"})).wants(advanced, entity="opportunity") == set()
    assert hook(entities=frozenset({"opportunity"})).wants(advanced, entity="opportunity")
    # A stage filter matches the stage left or the stage entered.
    assert hook(stages=frozenset({"a"})).wants(advanced, entity="x")
    assert hook(stages=frozenset({"b"})).wants(advanced, entity="x")
    assert hook(stages=frozenset({"c"})).wants(advanced, entity="x") == set()
    # Nothing committed before the webhook began.
    assert hook(since_seq=10).wants(advanced, entity="x") == set()
    assert hook(since_seq=9).wants(advanced, entity="x")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.com/hook",
        "example.com/hook",
        "https://",
        "https://user:pw@example.com/hook",
        "https://example.com/hook#part",
        "https://exa mple.com/hook",
        "https://example.com/\x00",
        "https://example.com:99999/hook",
        "https://example.com:0/hook",
        "https://" + "a" * 2000 + ".com/",
        "javascript:alert(1)",
    ],
)
def test_a_webhook_url_that_is_not_a_plain_http_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_url(url)
    assert refused.value.field == "url"


def test_plain_urls_are_accepted() -> None:
    for url in ("https://example.com/hook?x=1", "http://hooks.example.com:8080/a/b"):
        assert check_url(url) == url


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body() -> None:
    header = signature("whsec_k", timestamp=1796600000, body=b'{"a":1}')
    digest = hmac.new(b"whsec_k", b'1796600000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1796600000,v1={digest}"
    assert signature("whsec_other", timestamp=1796600000, body=b'{"a":1}') != header
    assert signature("whsec_k", timestamp=1796600001, body=b'{"a":1}') != header


def test_retry_pauses_double_with_jitter_up_to_the_longest() -> None:
    for attempts in range(1, 12):
        pause = retry_delay(attempts, first=10, longest=3600)
        base = min(3600, 10 * 2 ** (attempts - 1))
        assert base / 2 <= pause <= base
    # Each pause is at least the one before it, whatever the jitter.
    for attempts, _ in itertools.product(range(1, 9), range(20)):
        later = retry_delay(attempts + 1, first=10, longest=3600)
        assert later >= retry_delay(attempts, first=10, longest=3600)


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00:ec2::254", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.1.2.3", True),
        ("93.184.216.34", False),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_only_public_addresses_may_be_reached(address: str, forbidden: bool) -> None:
    assert forbidden_address(address) is forbidden

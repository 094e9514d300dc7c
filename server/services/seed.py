"""Loading the ready-to-use processes, and demo records for a first run."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

from server.db import accounts as stored_accounts
from server.domain.access import BaseRole
from server.domain.definition import load_entities, load_process
from server.domain.fields import Entity
from server.domain.files import load_text
from server.domain.process import Process
from server.services import accounts, instances, queries, records
from server.services.history import seed_history
from server.services.runtime import Runtime, utcnow

DEMO_USER = "demo"
DEMO_PASSWORD = "stageflow-demo"
# Who can sign in to the demo, all with DEMO_PASSWORD.
DEMO_USERS: list[tuple[str, BaseRole, tuple[str, ...]]] = [
    ("admin", BaseRole.ADMIN, ()),
    ("designer", BaseRole.DESIGNER, ()),
    (DEMO_USER, BaseRole.USER, ("sales",)),
    ("ana", BaseRole.USER, ("sales",)),
    ("ben", BaseRole.USER, ("sales",)),
]


def template_files() -> dict[str, Any]:
    """The shipped definitions by file name, parsed from YAML."""
    folder = resources.files("server.templates")
    return {
        item.name: load_text(item.read_text(encoding="utf-8"), "yaml")
        for item in sorted(folder.iterdir(), key=lambda i: i.name)
        if item.name.endswith(".yaml")
    }


def templates() -> tuple[list[Entity], list[Process]]:
    """The shipped entities and processes, validated."""
    files = template_files()
    entities = load_entities(files.pop("entities.yaml"))
    by_key = {e.key: e for e in entities}
    return entities, [load_process(data, by_key) for data in files.values()]


# The order processes are offered in: the first of an entity is its default.
_ORDER = ["opportunity-sales", "enterprise-deal", "lead-to-opportunity", "phone-to-case"]


async def seed(rt: Runtime) -> list[str]:
    """Store the entities and every shipped process not stored yet; return the keys added."""
    entities, processes = templates()
    for entity in entities:
        await rt.catalog.save_entity(entity)
    added = []
    for process in sorted(processes, key=lambda p: (_position(p.key), p.key)):
        if await rt.catalog.find_key(process.key) is None:
            await rt.catalog.publish_new(process, position=_position(process.key), now=utcnow())
            added.append(process.key)
    return added


async def seed_demo_users(rt: Runtime) -> list[str]:
    """The demo's users, on a database without any user yet."""
    if await stored_accounts.count_users():
        return []
    for name, role, teams in DEMO_USERS:
        await accounts.create_user(
            rt, name=name, password=DEMO_PASSWORD, role=role, teams=teams, by="system"
        )
    return [name for name, _, _ in DEMO_USERS]


async def seed_demo(rt: Runtime, *, history: bool = True, now: dt.datetime | None = None) -> int:
    """On a database without records: with `history`, months of records moved through the
    sales, lead and case processes (so that insights show something real); then a few
    records begun today in various stages, so a first run shows a working board. How many
    records were added."""
    page = await queries.list_records(first=1)
    if page.items:
        return 0
    demo: list[tuple[str, str, dict[str, Any], int]] = [
        (
            "opportunity",
            "Contoso - 50 laptops",
            {"estimated_budget": "65000", "purchase_timeframe": "This quarter"},
            0,
        ),
        (
            "opportunity",
            "Fabrikam - fleet renewal",
            {
                "estimated_budget": "320000",
                "decision_maker_identified": True,
                "purchase_timeframe": "Next quarter",
            },
            1,
        ),
        ("opportunity", "Northwind - support contract", {}, 0),
        ("lead", "Adventure Works inbound", {"company_name": "Adventure Works"}, 0),
        ("case", "Printer jams on tray 2", {"priority": "High", "origin": "Phone"}, 0),
    ]
    added = 0
    if history:
        owners = [name for name, role, teams in DEMO_USERS if "sales" in teams]
        taken = {name for _, name, _, _ in demo}
        added = await seed_history(rt, now=now or utcnow(), owners=owners, taken=taken)
    for entity, name, values, advances in demo:
        created = await records.create_record(
            rt, entity=entity, name=name, owner=DEMO_USER, values=values, by=DEMO_USER
        )
        assert created.record is not None and created.record.id is not None
        started = await instances.start_instance(
            rt, record_id=created.record.id, process_id=None, by=DEMO_USER
        )
        assert started.instance is not None and started.instance.id is not None
        for _ in range(advances):
            await instances.advance_stage(
                rt, instance_id=started.instance.id, expected_version=None, by=DEMO_USER
            )
    return added + len(demo)


def _position(key: str) -> int:
    return _ORDER.index(key) if key in _ORDER else len(_ORDER)

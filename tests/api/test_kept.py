"""What a worker keeps between requests is as the database has it, as soon as it is told.

A credential is read once and kept; a revocation, or a change to its user, drops it in the
worker that made the change at once and in every other worker when its feed reads the
event (the last test here plays the other worker).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tortoise.transactions import in_transaction
from users import make_user

from server.db import store
from server.db.accounts import revoke
from server.domain.access import BaseRole
from server.domain.events import Event, EventKind
from server.services import accounts
from server.services.runtime import utcnow

ME = "{ me { name role } }"


async def test_a_credential_is_read_once_then_kept(gql: Any, count_queries: Any) -> None:
    await gql.execute(ME, user="keeper")
    with count_queries() as statements:
        assert (await gql.execute(ME, user="keeper"))["me"]["name"] == "keeper"
    assert statements == []


async def test_a_revoked_token_stops_at_once(gql: Any) -> None:
    user, secret = await make_user("leaver", BaseRole.USER)
    gql.tokens["leaver"] = secret
    assert (await gql.execute(ME, user="leaver"))["me"]["name"] == "leaver"
    credential = await accounts.authenticate(gql.app.state.runtime, secret)
    assert credential is not None
    await accounts.revoke(gql.app.state.runtime, credential.id, by=user)
    answer = (await gql.post(ME, user="leaver")).json()
    assert answer["data"]["me"] is None


async def test_a_user_changed_is_read_again(gql: Any) -> None:
    _, secret = await make_user("mover", BaseRole.USER)
    gql.tokens["mover"] = secret
    assert (await gql.execute(ME, user="mover"))["me"]["role"] == "USER"
    runtime = gql.app.state.runtime
    user = await accounts.user_named("mover")
    await accounts.update_user(runtime, user_id=user.id, role=BaseRole.DESIGNER, by="root")
    assert (await gql.execute(ME, user="mover"))["me"]["role"] == "DESIGNER"
    await accounts.update_user(runtime, user_id=user.id, active=False, by="root")
    assert (await gql.post(ME, user="mover")).json()["data"]["me"] is None


async def test_a_change_read_from_the_feed_drops_what_was_kept(gql: Any) -> None:
    """A revocation committed elsewhere (written here straight to the tables, as another
    worker would) is answered as soon as this worker's feed has read its event."""
    _, secret = await make_user("remote", BaseRole.USER)
    gql.tokens["remote"] = secret
    runtime = gql.app.state.runtime
    assert (await gql.execute(ME, user="remote"))["me"]["name"] == "remote"
    credential = await accounts.authenticate(runtime, secret)
    assert credential is not None
    async with in_transaction():
        await revoke(credential.id, utcnow())
        event = await store.append_event(
            Event(
                EventKind.CREDENTIAL_REVOKED,
                "elsewhere",
                utcnow(),
                after={"credentialId": credential.id, "userId": credential.user.id},
            )
        )
    runtime.bus.publish(event.seq or 0)
    while runtime.hub.cursor < (event.seq or 0):
        await asyncio.sleep(0.01)
    assert (await gql.post(ME, user="remote")).json()["data"]["me"] is None

"""A third-party client (gql's websockets transport, graphql-transport-ws) works unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport
from serving import Server
from test_live import ADVANCE, _instance

SUBSCRIPTION = """subscription($id: ID) { stageChanged(instanceId: $id) {
  seq kind toStage instance { activeStage { key } } } }"""
QUERY = gql("{ processes { key } }")


async def _exchange(server: Server, iid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    transport = WebsocketsTransport(
        url=server.url.replace("http://", "ws://") + "/graphql",
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"token": server.token},
        ping_interval=0.2,
        pong_timeout=2,
        close_timeout=2,
    )
    async with Client(transport=transport) as session:
        answered = await session.execute(QUERY)
        stream = session.subscribe(GraphQLRequest(SUBSCRIPTION, variable_values={"id": iid}))

        async def first_event() -> dict[str, Any]:
            async for result in stream:
                return result
            raise AssertionError("the subscription ended without an event")

        waiting = asyncio.create_task(first_event())
        await asyncio.sleep(0.5)  # a few pings and pongs go by while subscribed
        async with httpx.AsyncClient() as http:
            await http.post(
                f"{server.url}/graphql",
                json={"query": ADVANCE, "variables": {"id": iid}},
                headers={"authorization": f"Bearer {server.token}"},
            )
        event = await asyncio.wait_for(waiting, timeout=5)
        await stream.aclose()  # the client completes the operation
    return answered, event


def test_gql_client_queries_and_subscribes_over_graphql_transport_ws(server: Server) -> None:
    iid = _instance(server)
    answered, event = asyncio.run(_exchange(server, iid))
    assert "opportunity-sales" in [p["key"] for p in answered["processes"]]
    assert event["stageChanged"]["kind"] == "STAGE_ADVANCED"
    assert event["stageChanged"]["toStage"] == "develop"
    assert event["stageChanged"]["instance"]["activeStage"]["key"] == "develop"

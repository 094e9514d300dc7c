"""The Starlette app: GraphQL over HTTP and websockets, the web page, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from tortoise.connection import get_connection
from tortoise.contrib.starlette import RegisterTortoise

from server.api.body_limit import BodyLimit
from server.api.schema import StageflowGraphQL
from server.db.config import ensure_database_dir, tortoise_config
from server.events.postgres import PostgresRelay
from server.services.runtime import Runtime
from server.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings) -> Starlette:
    """Build the app; nothing connects until the lifespan starts."""
    runtime = Runtime.create()
    graphql = StageflowGraphQL(runtime, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ensure_database_dir(settings.database_url)
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            relay = (
                None if settings.is_sqlite else PostgresRelay(settings.database_url, runtime.bus)
            )
            if relay is not None:
                await relay.start()
            app.state.relay = relay
            try:
                yield
            finally:
                await graphql.sockets.stop()
                await runtime.hub.stop()
                if relay is not None:
                    await relay.stop()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await get_connection("default").execute_query("SELECT 1")
        except Exception:  # a readiness probe reports, it does not raise
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        fanout = graphql.fanout
        lines = [
            "# HELP stageflow_last_event_seq The last event seq announced by this process.",
            "# TYPE stageflow_last_event_seq gauge",
            f"stageflow_last_event_seq {runtime.bus.last_seq}",
            "# HELP stageflow_ws_operations Websocket operations running on their own.",
            "# TYPE stageflow_ws_operations gauge",
            f"stageflow_ws_operations {fanout.solo}",
            "# HELP stageflow_shared_streams Live subscriptions executed once for many sockets.",
            "# TYPE stageflow_shared_streams gauge",
            f"stageflow_shared_streams {fanout.streams}",
            "# HELP stageflow_shared_subscribers Websocket operations following a shared stream.",
            "# TYPE stageflow_shared_subscribers gauge",
            f"stageflow_shared_subscribers {fanout.shared}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    routes = [
        Route(
            "/graphql",
            BodyLimit(graphql, max_bytes=settings.max_body_bytes),
            methods=["GET", "POST"],
        ),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web"),
    ]
    app = Starlette(debug=settings.debug, routes=routes, lifespan=lifespan)
    app.state.runtime = runtime
    return app


def app_from_env() -> Starlette:
    """The factory uvicorn calls in each worker."""
    return create_app(Settings.from_env())

"""The Starlette app: GraphQL over HTTP and websockets, the web page, health and metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from tortoise.contrib.starlette import RegisterTortoise

from server.api.body_limit import BodyLimit
from server.api.proxies import TrustedProxies
from server.api.schema import StageflowGraphQL
from server.api.sockets import Sockets
from server.db.config import ensure_database_dir, tortoise_config
from server.events.feed import Hub
from server.events.postgres import PostgresRelay
from server.services import folding, overdue, queries
from server.services.delivery import Sender
from server.services.runtime import Runtime
from server.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# The background tasks a server process runs (the relay on PostgreSQL only).
TASKS = (Hub.NAME, PostgresRelay.NAME, Sockets.NAME, overdue.NAME, folding.NAME, Sender.NAME)


def create_app(settings: Settings) -> Starlette:
    """Build the app; nothing connects until the lifespan starts."""
    runtime = Runtime.create()
    graphql = StageflowGraphQL(runtime, settings)
    sender = Sender(runtime, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ensure_database_dir(settings.database_url)
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            relay = (
                None
                if settings.is_sqlite
                else PostgresRelay(settings.database_url, runtime.bus, runtime.supervisor)
            )
            if relay is not None:
                await relay.start()
            app.state.relay = relay
            await runtime.hub.start()
            if settings.overdue_interval_seconds > 0:
                interval = settings.overdue_interval_seconds
                runtime.supervisor.start(
                    overdue.NAME, lambda: overdue.watch(runtime, interval=interval)
                )
            if settings.fold_seconds > 0:
                every = settings.fold_seconds
                runtime.supervisor.start(folding.NAME, lambda: folding.watch(interval=every))
            if settings.webhook_sender:
                sender.start()
            try:
                yield
            finally:
                await graphql.sockets.stop()
                await runtime.supervisor.stop()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """Ready when the database answers and this worker's feed keeps up with it."""
        try:
            newest = await queries.newest_seq()
        except Exception:  # a readiness probe reports, it does not raise
            return JSONResponse({"status": "unavailable", "reason": "database"}, status_code=503)
        lag = runtime.hub.lag(newest, now=time.monotonic())
        if lag > settings.ready_max_lag_seconds:
            body = {
                "status": "unavailable",
                "reason": "feed",
                "lagSeconds": round(lag, 3),
                "feedSeq": runtime.hub.cursor,
                "databaseSeq": newest,
            }
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        fanout = graphql.fanout
        restarts = runtime.supervisor.restarts
        lines = [
            "# HELP stageflow_last_event_seq The last event seq announced by this process.",
            "# TYPE stageflow_last_event_seq gauge",
            f"stageflow_last_event_seq {runtime.bus.last_seq}",
            "# HELP stageflow_feed_seq The last event seq this process's feed has read.",
            "# TYPE stageflow_feed_seq gauge",
            f"stageflow_feed_seq {runtime.hub.cursor}",
            "# HELP stageflow_task_restarts_total Background tasks started again after they "
            "failed or stopped.",
            "# TYPE stageflow_task_restarts_total counter",
            *(
                f'stageflow_task_restarts_total{{task="{name}"}} {restarts[name]}'
                for name in sorted({*TASKS, *restarts})
            ),
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
        lines += [
            "# HELP stageflow_webhook_tries_total Webhook deliveries tried, by how it went.",
            "# TYPE stageflow_webhook_tries_total counter",
            *(
                f'stageflow_webhook_tries_total{{outcome="{outcome}"}} {sender.tries[outcome]}'
                for outcome in ("delivered", "failed")
            ),
        ]
        if graphql.kept is not None:
            counts = graphql.kept.counts
            lines += [
                "# HELP stageflow_kept_answers_total Process bar answers kept, sent again, and "
                "found out of date (then run in full).",
                "# TYPE stageflow_kept_answers_total counter",
                f'stageflow_kept_answers_total{{outcome="kept"}} {counts.kept}',
                f'stageflow_kept_answers_total{{outcome="sent"}} {counts.sent}',
                f'stageflow_kept_answers_total{{outcome="stale"}} {counts.stale}',
            ]
        if graphql.direct is not None:
            direct = graphql.direct.counts
            lines += [
                "# HELP stageflow_direct_changes_total Changes answered without the general "
                "executor, and those of planned documents run in full after all.",
                "# TYPE stageflow_direct_changes_total counter",
                f'stageflow_direct_changes_total{{outcome="answered"}} {direct.answered}',
                f'stageflow_direct_changes_total{{outcome="declined"}} {direct.declined}',
                "# HELP stageflow_direct_plans Change documents planned to run directly.",
                "# TYPE stageflow_direct_plans counter",
                f"stageflow_direct_plans {direct.planned}",
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
    app = Starlette(
        debug=settings.debug,
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(TrustedProxies, trusted=settings.trusted_proxies)],
    )
    app.state.runtime = runtime
    app.state.graphql = graphql
    app.state.sender = sender
    return app


def app_from_env() -> Starlette:
    """The factory uvicorn calls in each worker."""
    return create_app(Settings.from_env())

"""Settings, read once from the environment into a frozen value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite://data/stageflow.db?busy_timeout=5000&synchronous=FULL"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    debug: bool = False
    # Websockets: seconds to send connection_init, and active operations per connection.
    ws_init_timeout: float = 10.0
    ws_max_subscriptions: int = 20
    ws_ping_interval: float = 15.0

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("STAGEFLOW_DATABASE_URL") or DEFAULT_DATABASE_URL,
            host=env.get("STAGEFLOW_HOST") or "127.0.0.1",
            port=int(env.get("STAGEFLOW_PORT") or 8000),
            debug=(env.get("STAGEFLOW_DEBUG") or "").lower() in {"1", "true", "yes"},
            ws_init_timeout=float(env.get("STAGEFLOW_WS_INIT_TIMEOUT") or 10.0),
            ws_max_subscriptions=int(env.get("STAGEFLOW_WS_MAX_SUBSCRIPTIONS") or 20),
            ws_ping_interval=float(env.get("STAGEFLOW_WS_PING_INTERVAL") or 15.0),
        )

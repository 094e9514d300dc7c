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
    # What one request may ask for; each refusal happens before any resolver runs.
    max_depth: int = 15
    max_aliases: int = 30
    max_fields: int = 300
    max_tokens: int = 3000
    max_query_length: int = 50_000  # characters of the GraphQL document
    max_cost: int = 20_000
    max_body_bytes: int = 1024 * 1024  # a POST to /graphql
    ws_max_message_bytes: int = 1024 * 1024
    # Sign-in attempts checked within the window: per user name from one address, per user
    # name from addresses it has not signed in from lately, and per address.
    sign_in_per_user_address: int = 5
    sign_in_per_user: int = 20
    sign_in_per_address: int = 20
    sign_in_window_seconds: int = 900
    # Mark the session cookie Secure (serve over HTTPS, as production should).
    secure_cookies: bool = False
    # Other origins whose pages may open the websocket (same origin always may).
    allowed_origins: tuple[str, ...] = ()
    # Proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto count.
    trusted_proxies: tuple[str, ...] = ()
    # /readyz answers not-ready once this worker's live feed has been behind the database
    # for longer than this.
    ready_max_lag_seconds: float = 10.0
    # Send a process bar's answer again while nothing it was built from has changed
    # (server/api/kept.py); off: every read runs in full.
    kept_answers: bool = True
    # Run a change whose answer is made of its own values without the general executor, once
    # its document has run in full (server/api/direct.py); off: every change runs in full.
    direct_changes: bool = True
    # How often each worker looks for stays past their due (0: never; another worker may).
    overdue_interval_seconds: float = 15.0
    # How often each worker folds the deltas of the pipeline's sums and the insights' counts
    # per month (0: never; another worker may). Figures are exact either way; deltas not
    # folded only make them slower.
    fold_seconds: float = 2.0

    # Webhooks: each try's time limit, the pause before a retry (doubling from the first to
    # the longest, with jitter), how long a delivery is retried, failed tries in a row after
    # which a webhook is paused, the most of a response read, tries sent at once per worker.
    webhook_timeout_seconds: float = 5.0
    webhook_retry_first_seconds: float = 10.0
    webhook_retry_longest_seconds: float = 3600.0
    webhook_retry_hours: float = 24.0
    webhook_pause_after: int = 20
    webhook_response_bytes: int = 64 * 1024
    webhook_concurrency: int = 16
    # A delivery being sent is leased for its try's time limit and this long again: past
    # it (its worker died), another worker may send it.
    webhook_lease_seconds: float = 10.0
    # Send webhook deliveries from this process (off: it serves, others send).
    webhook_sender: bool = True
    # Let webhooks reach loopback, private and link-local addresses (a test or an intranet).
    webhook_allow_private: bool = False

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
            debug=_flag(env.get("STAGEFLOW_DEBUG")),
            ws_init_timeout=float(env.get("STAGEFLOW_WS_INIT_TIMEOUT") or 10.0),
            ws_max_subscriptions=int(env.get("STAGEFLOW_WS_MAX_SUBSCRIPTIONS") or 20),
            ws_ping_interval=float(env.get("STAGEFLOW_WS_PING_INTERVAL") or 15.0),
            max_depth=int(env.get("STAGEFLOW_MAX_DEPTH") or cls.max_depth),
            max_aliases=int(env.get("STAGEFLOW_MAX_ALIASES") or cls.max_aliases),
            max_fields=int(env.get("STAGEFLOW_MAX_FIELDS") or cls.max_fields),
            max_tokens=int(env.get("STAGEFLOW_MAX_TOKENS") or cls.max_tokens),
            max_query_length=int(env.get("STAGEFLOW_MAX_QUERY_LENGTH") or cls.max_query_length),
            max_cost=int(env.get("STAGEFLOW_MAX_COST") or cls.max_cost),
            max_body_bytes=int(env.get("STAGEFLOW_MAX_BODY_BYTES") or cls.max_body_bytes),
            ws_max_message_bytes=int(
                env.get("STAGEFLOW_WS_MAX_MESSAGE_BYTES") or cls.ws_max_message_bytes
            ),
            sign_in_per_user_address=int(
                env.get("STAGEFLOW_SIGN_IN_PER_USER_AND_ADDRESS") or cls.sign_in_per_user_address
            ),
            sign_in_per_user=int(env.get("STAGEFLOW_SIGN_IN_PER_USER") or cls.sign_in_per_user),
            sign_in_per_address=int(
                env.get("STAGEFLOW_SIGN_IN_PER_ADDRESS") or cls.sign_in_per_address
            ),
            sign_in_window_seconds=int(
                env.get("STAGEFLOW_SIGN_IN_WINDOW_SECONDS") or cls.sign_in_window_seconds
            ),
            secure_cookies=_flag(env.get("STAGEFLOW_SECURE_COOKIES")),
            allowed_origins=_list(env.get("STAGEFLOW_ALLOWED_ORIGINS")),
            trusted_proxies=_list(env.get("STAGEFLOW_TRUSTED_PROXIES")),
            kept_answers=_on(env.get("STAGEFLOW_KEPT_ANSWERS")),
            direct_changes=_on(env.get("STAGEFLOW_DIRECT_CHANGES")),
            overdue_interval_seconds=float(
                env.get("STAGEFLOW_OVERDUE_INTERVAL_SECONDS") or cls.overdue_interval_seconds
            ),
            fold_seconds=float(env.get("STAGEFLOW_FOLD_SECONDS") or cls.fold_seconds),
            ready_max_lag_seconds=float(
                env.get("STAGEFLOW_READY_MAX_LAG_SECONDS") or cls.ready_max_lag_seconds
            ),
            webhook_timeout_seconds=float(
                env.get("STAGEFLOW_WEBHOOK_TIMEOUT_SECONDS") or cls.webhook_timeout_seconds
            ),
            webhook_retry_first_seconds=float(
                env.get("STAGEFLOW_WEBHOOK_RETRY_FIRST_SECONDS") or cls.webhook_retry_first_seconds
            ),
            webhook_retry_longest_seconds=float(
                env.get("STAGEFLOW_WEBHOOK_RETRY_LONGEST_SECONDS")
                or cls.webhook_retry_longest_seconds
            ),
            webhook_retry_hours=float(
                env.get("STAGEFLOW_WEBHOOK_RETRY_HOURS") or cls.webhook_retry_hours
            ),
            webhook_pause_after=int(
                env.get("STAGEFLOW_WEBHOOK_PAUSE_AFTER") or cls.webhook_pause_after
            ),
            webhook_response_bytes=int(
                env.get("STAGEFLOW_WEBHOOK_RESPONSE_BYTES") or cls.webhook_response_bytes
            ),
            webhook_concurrency=int(
                env.get("STAGEFLOW_WEBHOOK_CONCURRENCY") or cls.webhook_concurrency
            ),
            webhook_lease_seconds=float(
                env.get("STAGEFLOW_WEBHOOK_LEASE_SECONDS") or cls.webhook_lease_seconds
            ),
            webhook_allow_private=_flag(env.get("STAGEFLOW_WEBHOOK_ALLOW_PRIVATE")),
            webhook_sender=_on(env.get("STAGEFLOW_WEBHOOK_SENDER")),
        )


def _on(value: str | None) -> bool:
    """A feature that is on unless turned off."""
    return (value or "1").lower() not in {"0", "false", "no"}


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _flag(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes"}

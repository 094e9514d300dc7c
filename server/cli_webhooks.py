"""`stageflow webhook`: the webhook registry from the command line, audited as
"stageflow webhook"."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise import Tortoise

from server.db.config import tortoise_config
from server.domain.errors import DomainError
from server.domain.webhook import Webhook, WebhookTopic
from server.settings import Settings

ACTOR = "stageflow webhook"
TOPICS = [t.value for t in WebhookTopic]


def add_parser(commands: Any) -> None:
    """The `webhook` command and its actions, under `commands` (argparse subparsers)."""
    webhook_cmd = commands.add_parser("webhook", help="manage webhooks")
    actions = webhook_cmd.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="register a webhook; prints its secret once")
    create.add_argument("--url", required=True)
    create.add_argument(
        "--topic",
        action="append",
        required=True,
        type=str.upper,
        choices=TOPICS,
        help="a kind of event it hears of (repeatable)",
    )
    create.add_argument("--process", action="append", default=[], help="a process key")
    create.add_argument("--stage", action="append", default=[], help="a stage key")
    create.add_argument("--entity", action="append", default=[], help="an entity key")
    create.add_argument("--description", default="")
    actions.add_parser("list", help="every webhook")
    for name, text in [
        ("show", "a webhook and its recent deliveries"),
        ("delete", "remove a webhook; what waits is given up"),
        ("pause", "hold a webhook's deliveries"),
        ("resume", "deliver again; what waits goes out at once"),
        ("renew-secret", "a new signing secret, printed once"),
    ]:
        actions.add_parser(name, help=text).add_argument("id", type=int)
    actions.add_parser("redeliver", help="send a delivered or failed delivery again").add_argument(
        "delivery_id"
    )


def run(args: argparse.Namespace, settings: Settings) -> str:
    """What the action prints; a refusal exits with its reason."""
    call: Callable[[Any], Awaitable[str]] = _ACTIONS[args.action](args)
    try:
        return asyncio.run(_opened(settings, call))
    except DomainError as error:
        raise SystemExit(f"webhook {args.action}: {error.message}") from None


async def _opened(settings: Settings, call: Callable[[Any], Awaitable[str]]) -> str:
    from server.services.runtime import Runtime

    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        return await call(Runtime.create())
    finally:
        await Tortoise.close_connections()


def _line(webhook: Webhook) -> str:
    topics = ",".join(sorted(t.value for t in webhook.topics))
    state = webhook.status.value
    if webhook.paused_reason:
        state += f" ({webhook.paused_reason})"
    return f"{webhook.id}\t{state}\t{webhook.url}\t{topics}"


def _create(args: argparse.Namespace) -> Callable[[Any], Awaitable[str]]:
    async def call(rt: Any) -> str:
        from server.domain.errors import InvalidValue
        from server.services import webhooks

        ids = []
        for key in args.process:
            found = await rt.catalog.find_key(key)
            if found is None:
                raise InvalidValue("process", f"no process {key!r}")
            ids.append(found)
        made = await webhooks.create_webhook(
            rt,
            url=args.url,
            description=args.description,
            topics=[WebhookTopic(t) for t in args.topic],
            process_ids=ids,
            stages=args.stage,
            entities=args.entity,
            by=ACTOR,
            reach_private=Settings.from_env().webhook_allow_private,
        )
        return (
            f"webhook {made.webhook.id} created\n"
            f"secret: {made.secret}\n"
            "Keep the secret now: it is not shown again (renew-secret makes a new one)."
        )

    return call


def _list(args: argparse.Namespace) -> Callable[[Any], Awaitable[str]]:
    async def call(rt: Any) -> str:
        from server.services import webhooks

        found = await webhooks.list_webhooks()
        return "\n".join(_line(w) for w in found) if found else "no webhooks"

    return call


def _show(args: argparse.Namespace) -> Callable[[Any], Awaitable[str]]:
    async def call(rt: Any) -> str:
        from server.services import webhooks

        webhook = await webhooks.get_webhook(args.id)
        lines = [
            f"id: {webhook.id}",
            f"url: {webhook.url}",
            f"description: {webhook.description}",
            f"topics: {', '.join(sorted(t.value for t in webhook.topics))}",
            f"processes: {', '.join(str(p) for p in sorted(webhook.process_ids)) or 'any'}",
            f"stages: {', '.join(sorted(webhook.stages)) or 'any'}",
            f"entities: {', '.join(sorted(webhook.entities)) or 'any'}",
            f"status: {webhook.status.value}",
            f"paused: {webhook.paused_reason or '-'}",
            f"failures in a row: {webhook.failures}",
            f"version: {webhook.version}",
            "recent deliveries:",
        ]
        recent = await webhooks.recent_deliveries(args.id)
        for d in recent:
            status = d.last_status if d.last_status is not None else "-"
            lines.append(
                f"  {d.created_at.isoformat(timespec='seconds')}\t{d.uid}\t{d.kind.value}\t"
                f"seq {d.seq}\t{d.state.value}\tstatus {status}\ttries {d.attempts}"
                + (f"\t{d.last_error}" if d.last_error else "")
            )
        if not recent:
            lines.append("  none")
        return "\n".join(lines)

    return call


def _change(name: str) -> Callable[[argparse.Namespace], Callable[[Any], Awaitable[str]]]:
    def action(args: argparse.Namespace) -> Callable[[Any], Awaitable[str]]:
        async def call(rt: Any) -> str:
            from server.services import webhooks

            if name == "renew-secret":
                renewed = await webhooks.renew_secret(rt, webhook_id=args.id, by=ACTOR)
                return (
                    f"webhook {args.id}: new secret: {renewed.secret}\n"
                    "Keep it now: it is not shown again. The old secret no longer signs."
                )
            change = {
                "delete": webhooks.delete_webhook,
                "pause": webhooks.pause_webhook,
                "resume": webhooks.resume_webhook,
            }[name]
            webhook = await change(rt, webhook_id=args.id, by=ACTOR)
            if name == "delete":
                return f"webhook {args.id} deleted"
            return f"webhook {args.id} {webhook.status.value.lower()}"

        return call

    return action


def _redeliver(args: argparse.Namespace) -> Callable[[Any], Awaitable[str]]:
    async def call(rt: Any) -> str:
        from server.services import webhooks

        sent = await webhooks.redeliver(rt, delivery_uid=args.delivery_id, by=ACTOR)
        return f"delivery {sent.uid} (seq {sent.seq}) will be sent again"

    return call


_ACTIONS: dict[str, Any] = {
    "create": _create,
    "list": _list,
    "show": _show,
    "delete": _change("delete"),
    "pause": _change("pause"),
    "resume": _change("resume"),
    "renew-secret": _change("renew-secret"),
    "redeliver": _redeliver,
}

"""The `stageflow` command: serve, migrate, seed, users and tokens, webhooks, export and
import processes, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import copy
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tortoise import Tortoise

from server import cli_webhooks
from server.db.config import ensure_database_dir, tortoise_config
from server.domain.errors import DomainError
from server.settings import Settings


async def migrate(settings: Settings) -> None:
    """Apply every migration not applied yet."""
    from tortoise.migrations.api import migrate as apply

    ensure_database_dir(settings.database_url)
    try:
        await apply(config=tortoise_config(settings.database_url))
    finally:
        await Tortoise.close_connections()


async def seed(
    settings: Settings, *, demo: bool, history: bool = True
) -> tuple[list[str], int, list[str]]:
    """Store the ready-to-use processes; for a demo, users and records if there are none
    (with `history`, months of them)."""
    from server.services.runtime import Runtime
    from server.services.seed import seed as seed_processes
    from server.services.seed import seed_demo, seed_demo_users

    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        runtime = Runtime.create()
        added = await seed_processes(runtime)
        users = await seed_demo_users(runtime) if demo else []
        records = await seed_demo(runtime, history=history) if demo else 0
        return added, records, users
    finally:
        await Tortoise.close_connections()


async def create_user(
    settings: Settings, *, name: str, password: str, role: str, teams: list[str]
) -> str:
    from server.domain.access import BaseRole
    from server.services import accounts
    from server.services.runtime import Runtime

    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        user = await accounts.create_user(
            Runtime.create(),
            name=name,
            password=password,
            role=BaseRole(role),
            teams=teams,
            by="stageflow user create",
        )
        return f"user {user.name} created ({', '.join(sorted(user.roles))})"
    finally:
        await Tortoise.close_connections()


async def create_token(settings: Settings, *, name: str, label: str) -> str:
    from server.services import accounts
    from server.services.runtime import Runtime

    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        user = await accounts.user_named(name)
        issued = await accounts.create_token(Runtime.create(), user, label=label)
        return issued.secret
    finally:
        await Tortoise.close_connections()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("the passwords differ")
    return first


async def export_process(settings: Settings, *, key: str, version: int | None, fmt: str) -> str:
    """A published process in file form, as YAML or JSON text."""
    from server.domain.files import dump_text
    from server.services import design
    from server.services.runtime import Runtime

    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        runtime = Runtime.create()
        process_id = await runtime.catalog.find_key(key)
        if process_id is None:
            raise SystemExit(f"no process {key!r}")
        try:
            data = await design.export_process(runtime, process_id=process_id, version=version)
        except DomainError as error:
            raise SystemExit(error.message) from None
        return dump_text(data, fmt)
    finally:
        await Tortoise.close_connections()


async def import_process(settings: Settings, *, path: Path, publish: bool, by: str) -> str:
    """Validate a process file and store it; on any problem print them all and write nothing."""
    from server.domain.errors import InvalidDefinition
    from server.domain.files import format_of, load_text
    from server.services import design
    from server.services.runtime import Runtime

    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        runtime = Runtime.create()
        try:
            data = load_text(path.read_text(encoding="utf-8"), format_of(path.name))
            draft = await design.import_process(runtime, definition=data, publish=publish, by=by)
        except InvalidDefinition as error:
            lines = [f"{path}: {p.path or '(file)'}: {p.message}" for p in error.problems]
            raise SystemExit("\n".join(lines)) from None
        except DomainError as error:
            raise SystemExit(f"{path}: {error.message}") from None
        state = f"published as version {draft.based_on}" if publish else "saved as a draft"
        return f"{draft.key} {state}"
    finally:
        await Tortoise.close_connections()


def export_schema(output: str | None) -> None:
    from strawberry.printer import print_schema

    from server.api.schema import schema

    text = print_schema(schema) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, and the app's own records (sign-ins, refusals, errors) through
    the same handler at INFO."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for name in ("stageflow", "strawberry", "server"):
        config["loggers"][name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def serve(settings: Settings, *, workers: int) -> None:
    import uvicorn

    if workers > 1 and settings.is_sqlite:
        raise SystemExit("SQLite serves one worker; use PostgreSQL for --workers > 1")
    print(f"Stageflow on http://{settings.host}:{settings.port}/", flush=True)
    uvicorn.run(
        "server.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        timeout_graceful_shutdown=5,
        ws_max_size=settings.ws_max_message_bytes,
        # Forwarded headers count only from STAGEFLOW_TRUSTED_PROXIES (server/api/proxies.py);
        # uvicorn would trust them from 127.0.0.1.
        proxy_headers=False,
        log_config=_log_config(),
        log_level="info",
    )


def _run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro())  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stageflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve the API and the web app")
    serve_cmd.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="apply database migrations")
    seed_cmd = commands.add_parser("seed", help="store the ready-to-use processes")
    seed_cmd.add_argument(
        "--demo", action="store_true", help="add demo records to an empty database"
    )
    seed_cmd.add_argument(
        "--no-history",
        dest="history",
        action="store_false",
        help="with --demo: only a few records begun today, not months of history",
    )
    export_cmd = commands.add_parser("export", help="write a process as a YAML or JSON file")
    export_cmd.add_argument("key", help="the process key")
    export_cmd.add_argument("--version", type=int, help="a published version (default: current)")
    export_cmd.add_argument("--format", choices=["yaml", "json"], default="yaml")
    export_cmd.add_argument("--output", help="write to this file instead of stdout")
    import_cmd = commands.add_parser("import", help="read a process from a YAML or JSON file")
    import_cmd.add_argument("file", type=Path)
    import_cmd.add_argument("--publish", action="store_true", help="publish it at once")
    import_cmd.add_argument("--user", default="admin", help="who the audit trail names")
    user_cmd = commands.add_parser("user", help="manage users")
    user_sub = user_cmd.add_subparsers(dest="action", required=True)
    create_cmd = user_sub.add_parser("create", help="add a user (asks for the password)")
    create_cmd.add_argument("name")
    level = create_cmd.add_mutually_exclusive_group()
    level.add_argument("--admin", action="store_true", help="may do everything, users too")
    level.add_argument("--designer", action="store_true", help="may design processes")
    create_cmd.add_argument(
        "--role", action="append", default=[], help="a team role processes name (repeatable)"
    )
    create_cmd.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    token_cmd = commands.add_parser("token", help="manage API tokens")
    token_sub = token_cmd.add_subparsers(dest="action", required=True)
    token_create = token_sub.add_parser("create", help="print a new API token for a user")
    token_create.add_argument("name", help="the user's name")
    token_create.add_argument("--label", default="command line")
    cli_webhooks.add_parser(commands)
    schema_cmd = commands.add_parser("export-schema", help="print the GraphQL schema")
    schema_cmd.add_argument("--output", help="write to this file instead of stdout")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.command == "serve":
        serve(settings, workers=args.workers)
    elif args.command == "migrate":
        _run(lambda: migrate(settings))
        print("migrations applied")
    elif args.command == "seed":
        added, records, users = _run(lambda: seed(settings, demo=args.demo, history=args.history))
        print(f"processes added: {', '.join(added) or 'none'}; demo records added: {records}")
        if users:
            from server.services.seed import DEMO_PASSWORD

            print(f"demo sign-in: {', '.join(users)}, each with the password {DEMO_PASSWORD!r}")
    elif args.command == "export":
        fmt = args.format
        text = _run(lambda: export_process(settings, key=args.key, version=args.version, fmt=fmt))
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    elif args.command == "import":
        print(
            _run(
                lambda: import_process(settings, path=args.file, publish=args.publish, by=args.user)
            )
        )
    elif args.command == "user":
        role = "admin" if args.admin else "designer" if args.designer else "user"
        password = _password(args.password_stdin)
        try:
            print(
                _run(
                    lambda: create_user(
                        settings, name=args.name, password=password, role=role, teams=args.role
                    )
                )
            )
        except DomainError as error:
            raise SystemExit(f"not created: {error.message}") from None
    elif args.command == "token":
        try:
            print(_run(lambda: create_token(settings, name=args.name, label=args.label)))
        except DomainError as error:
            raise SystemExit(error.message) from None
    elif args.command == "webhook":
        print(cli_webhooks.run(args, settings))
    elif args.command == "export-schema":
        export_schema(args.output)


if __name__ == "__main__":
    main()

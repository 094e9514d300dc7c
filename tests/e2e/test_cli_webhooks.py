"""`stageflow webhook`: register, list, show, pause, resume, renew, redeliver and remove
webhooks from the command line, each change one event by "stageflow webhook", the secret
printed once and kept out of every event."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

from serving import BIN, stageflow
from tables import add_delivery, rows

URL = "https://hooks.example.com/cli"


def _fails(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "stageflow"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_webhooks_from_the_command_line(database_url: str) -> None:
    env = {**os.environ, "STAGEFLOW_DATABASE_URL": database_url}
    stageflow("migrate", env=env)
    stageflow("seed", env=env)
    created = stageflow(
        "webhook",
        "create",
        "--url",
        URL,
        "--topic",
        "stage_entered",
        "--topic",
        "FINISHED",
        "--process",
        "opportunity-sales",
        "--stage",
        "develop",
        "--description",
        "CRM sync",
        env=env,
    ).splitlines()
    assert created[0].startswith("webhook ") and created[0].endswith(" created")
    webhook_id = created[0].split()[1]
    secret = created[1].removeprefix("secret: ")
    assert secret.startswith("whsec_")
    assert rows(database_url, "SELECT secret FROM webhook WHERE id = ?", int(webhook_id)) == [
        (secret,)
    ]

    listed = stageflow("webhook", "list", env=env)
    assert listed.strip() == f"{webhook_id}\tACTIVE\t{URL}\tFINISHED,STAGE_ENTERED"
    assert secret not in listed

    assert (
        stageflow("webhook", "pause", webhook_id, env=env).strip() == f"webhook {webhook_id} paused"
    )
    assert "PAUSED (Paused by stageflow webhook)" in stageflow("webhook", "list", env=env)
    assert (
        stageflow("webhook", "resume", webhook_id, env=env).strip()
        == f"webhook {webhook_id} active"
    )
    renewed = stageflow("webhook", "renew-secret", webhook_id, env=env).splitlines()[0]
    new_secret = renewed.rsplit(" ", 1)[1]
    assert new_secret.startswith("whsec_") and new_secret != secret

    # A delivery the sender gave up on, sent again: its id kept.
    uid = str(uuid.uuid4())
    add_delivery(database_url, int(webhook_id), uid, seq=7, state="FAILED")
    shown = stageflow("webhook", "show", webhook_id, env=env)
    assert f"url: {URL}" in shown and "stages: develop" in shown
    assert f"{uid}\tSTAGE_ADVANCED\tseq 7\tFAILED\tstatus 500\ttries 3\tserver error" in shown
    assert new_secret not in shown and secret not in shown
    again = stageflow("webhook", "redeliver", uid, env=env)
    assert again.strip() == f"delivery {uid} (seq 7) will be sent again"
    assert rows(
        database_url, "SELECT state, attempts FROM webhook_delivery WHERE uid = ?", uid
    ) == [("PENDING", 3)]
    assert "still waiting" in _fails("webhook", "redeliver", uid, env=env)

    assert (
        stageflow("webhook", "delete", webhook_id, env=env).strip()
        == f"webhook {webhook_id} deleted"
    )
    assert stageflow("webhook", "list", env=env).strip() == "no webhooks"
    assert rows(
        database_url, "SELECT state, last_error FROM webhook_delivery WHERE uid = ?", uid
    ) == [("FAILED", "webhook removed")]
    assert "Webhook" in _fails("webhook", "pause", webhook_id, env=env)

    events = rows(
        database_url,
        'SELECT kind, actor, "before", "after" FROM event WHERE kind LIKE ? ORDER BY seq',
        "WEBHOOK_%",
    )
    assert [(kind, actor) for kind, actor, _, _ in events] == [
        (kind, "stageflow webhook")
        for kind in [
            "WEBHOOK_CREATED",
            "WEBHOOK_PAUSED",
            "WEBHOOK_RESUMED",
            "WEBHOOK_SECRET_RENEWED",
            "WEBHOOK_REDELIVERED",
            "WEBHOOK_DELETED",
        ]
    ]
    written = json.dumps([[str(b), str(a)] for _, _, b, a in events])
    assert secret not in written and new_secret not in written


def test_bad_webhooks_are_refused_from_the_command_line(database_url: str) -> None:
    env = {**os.environ, "STAGEFLOW_DATABASE_URL": database_url}
    stageflow("migrate", env=env)
    stageflow("seed", env=env)
    for args, message in [
        (["--url", "ftp://hooks.example.com", "--topic", "FINISHED"], "url"),
        (["--url", URL, "--topic", "FINISHED", "--process", "nothing"], "no process 'nothing'"),
        (["--url", URL, "--topic", "FINISHED", "--stage", "nowhere"], "nowhere"),
        (["--url", URL, "--topic", "FINISHED", "--entity", "spaceship"], "spaceship"),
        (["--url", URL, "--topic", "EVERYTHING"], "invalid choice"),
    ]:
        assert message in _fails("webhook", "create", *args, env=env), args
    assert stageflow("webhook", "list", env=env).strip() == "no webhooks"
    assert rows(database_url, "SELECT COUNT(*) FROM event WHERE kind LIKE ?", "WEBHOOK_%") == [(0,)]

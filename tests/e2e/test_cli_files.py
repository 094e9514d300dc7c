"""`stageflow export` and `stageflow import`: processes as YAML or JSON files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml
from serving import BIN, stageflow

TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"

BROKEN = """\
key: broken-sale
name: Broken Sale
entity: opportunity
stages:
  - key: qualify
    name: Qualify
    category: SOMETIMES
    steps:
      - field: ghost_field
        required: true
    next: nowhere
"""


def _env(database_url: str) -> dict[str, str]:
    return {**os.environ, "STAGEFLOW_DATABASE_URL": database_url}


def test_export_then_import_round_trips_byte_for_byte(database_url: str, tmp_path: Path) -> None:
    env = _env(database_url)
    stageflow("migrate", env=env)
    stageflow("seed", env=env)
    shipped = (TEMPLATES / "opportunity-sales.yaml").read_text(encoding="utf-8")
    assert stageflow("export", "opportunity-sales", env=env) == shipped

    copy = shipped.replace("key: opportunity-sales", "key: my-sales", 1)
    (tmp_path / "my-sales.yaml").write_text(copy, encoding="utf-8")
    out = stageflow("import", str(tmp_path / "my-sales.yaml"), "--publish", env=env)
    assert out.strip() == "my-sales published as version 1"
    assert stageflow("export", "my-sales", env=env) == copy

    as_json = stageflow("export", "my-sales", "--format", "json", env=env)
    assert json.loads(as_json) == yaml.safe_load(copy)
    (tmp_path / "my-sales.json").write_text(as_json, encoding="utf-8")
    again = stageflow("import", str(tmp_path / "my-sales.json"), env=env)
    assert again.strip() == "my-sales saved as a draft"


def test_a_broken_file_lists_every_problem_and_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    env = _env(database_url)
    stageflow("migrate", env=env)
    stageflow("seed", env=env)
    (tmp_path / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    done = subprocess.run(
        [str(BIN / "stageflow"), "import", str(tmp_path / "broken.yaml"), "--publish"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    for path in ("stages[0].category", "stages[0].steps[0].field", "stages[0].next"):
        assert f"broken.yaml: {path}:" in done.stderr, done.stderr
    missing = subprocess.run(
        [str(BIN / "stageflow"), "export", "broken-sale"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "no process 'broken-sale'" in missing.stderr

"""Insights in a real browser against a real server: a small history made through the API
shows as the funnel, outcomes, time in stage, pipeline, throughput and stuck records, each
chart with its table; a table downloads as CSV; a move made elsewhere shows at once; the
designer sets the pipeline's fields and each stage's probability."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from browsing import axe_violations, needs_browser, open_page
from playwright.sync_api import Page, expect
from serving import Server, graphql, graphql_as

pytestmark = needs_browser
expect.set_options(timeout=10_000)

IMPORT = """mutation($input: ImportProcessInput!) { importProcess(input: $input) {
  __typename ... on ProcessImported { process { id } } ... on InvalidDefinition {
  problems { path message } } } }"""
CREATE = """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
  ... on RecordCreated { record { id } } ... on Error { message } } }"""
START = """mutation($input: StartInstanceInput!) { startInstance(input: $input) {
  ... on InstanceStarted { instance { id } } ... on Error { message } } }"""
MOVES = {
    "advance": """mutation($input: InstanceInput!) { advanceStage(input: $input) {
      __typename ... on Error { message } } }""",
    "abandon": """mutation($input: InstanceInput!) { abandonInstance(input: $input) {
      __typename ... on Error { message } } }""",
    "finish": """mutation($input: FinishInstanceInput!) { finishInstance(input: $input) {
      __typename ... on Error { message } } }""",
}
DONE = {"advance": "StageAdvanced", "abandon": "InstanceAbandoned", "finish": "InstanceFinished"}
TIMES = """query($input: InsightsInput!) { insights(input: $input) {
  timeInStage { stage stays { count } perInstance { count } } } }"""
FIELDS = "{ entities { key fields { label type } } }"
DESIGN = """query($id: ID!) { design(processId: $id) { definition problems { path message } } }"""

STAGES = [("qualify", "Qualify", 20), ("develop", "Develop", 50), ("close", "Close", 90)]
CHECK = {
    "key": "insight-check",
    "name": "Insight check",
    "entity": "opportunity",
    "amount_field": "estimated_revenue",
    "close_date_field": "estimated_close_date",
    "outcomes": [
        {"key": "won", "label": "Won"},
        {"key": "lost", "label": "Lost", "reason": "required"},
    ],
    "stages": [
        {
            "key": key,
            "name": name,
            "category": key.upper(),
            "probability": probability,
            "steps": [{"field": "estimated_revenue", "required": False}],
            **({"next": STAGES[i + 1][0]} if i + 1 < len(STAGES) else {}),
        }
        for i, (key, name, probability) in enumerate(STAGES)
    ],
}
EMPTY = {**CHECK, "key": "insight-empty", "name": "Insight empty"}

# A spreadsheet would run this name as a formula: the CSV must carry it as text.
FORMULA_NAME = '=SUM(1,2) "Fabrikam"'


@dataclass
class Run:
    """One record's way through the process, as the test makes it."""

    name: str
    advances: int
    end: str | None = None  # "won", "lost" or "abandoned"; None: still running
    values: dict[str, Any] = field(default_factory=dict)
    record: str = ""
    instance: str = ""

    def reached(self) -> list[str]:
        return [key for key, _, _ in STAGES[: self.advances + 1]]


HISTORY = [
    Run("Contoso - 40 laptops", 2, "won"),
    Run("Litware - 12 printers", 2, "lost"),
    Run("Adatum - 3 servers", 1, "abandoned"),
    Run("Tailspin - 9 phones", 0, "abandoned"),
    Run(
        "Northwind - 25 desks",
        1,
        values={"estimated_revenue": "1000.00", "estimated_close_date": "2027-01-15"},
    ),
    Run(
        FORMULA_NAME,
        0,
        values={"estimated_revenue": "500.00", "estimated_close_date": "2027-02-10"},
    ),
]


def _move(server: Server, kind: str, instance: str, **more: Any) -> None:
    answer = graphql_as(server, "ana", MOVES[kind], input={"instanceId": instance, **more})
    [result] = answer.values()
    assert result["__typename"] == DONE[kind], answer


OWNERS = "query($input: InsightsInput!) { insights(input: $input) { owners } }"


def _seed(server: Server, definition: dict[str, Any], history: list[Run]) -> str:
    imported = graphql(server, IMPORT, input={"definition": definition, "publish": True})
    process: str = imported["importProcess"]["process"]["id"]  # type: ignore[index]
    for run in history:
        created = graphql_as(
            server,
            "ana",
            CREATE,
            input={"entity": "opportunity", "name": run.name, "values": run.values},
        )
        run.record = created["createRecord"]["record"]["id"]
        started = graphql_as(
            server, "ana", START, input={"recordId": run.record, "processId": process}
        )
        run.instance = started["startInstance"]["instance"]["id"]
        for _ in range(run.advances):
            _move(server, "advance", run.instance)
        if run.end == "abandoned":
            _move(server, "abandon", run.instance)
        elif run.end == "won":
            _move(server, "finish", run.instance, outcome="won")
        elif run.end == "lost":
            _move(server, "finish", run.instance, outcome="lost", reason="Price")
    return process


def _percent(part: int, whole: int) -> str:
    """As the page writes a ratio, in the browser's en-US: one decimal at most."""
    return f"{round(100 * part / whole, 1):g}%" if whole else "—"


def _funnel(history: list[Run]) -> list[list[str]]:
    """The funnel table as the history makes it: a row per stage."""
    rows = []
    for i, (key, name, _) in enumerate(STAGES):
        here = [run for run in history if key in run.reached()]
        last = [run for run in here if len(run.reached()) == i + 1]
        advanced = len(here) - len(last)
        finished = sum(1 for run in last if run.end in ("won", "lost"))
        abandoned = sum(1 for run in last if run.end == "abandoned")
        active = sum(1 for run in last if run.end is None)
        rows.append(
            [
                name,
                *(str(n) for n in (len(here), advanced, finished, abandoned, active)),
                _percent(advanced + finished, len(here)),
                _percent(abandoned, len(here)),
            ]
        )
    return rows


def _table(page: Page, name: str) -> list[list[str]]:
    """A figures table as shown: its head row, then its rows, each cell's text."""
    return page.evaluate(  # type: ignore[no-any-return]
        """name => [...document.querySelectorAll(
            `table[data-table="${name}"] thead tr, table[data-table="${name}"] tbody tr`)]
            .map((row) => [...row.cells].map((cell) => cell.textContent.trim()))""",
        name,
    )


def _rows(page: Page, name: str) -> list[list[str]]:
    return _table(page, name)[1:]


def _column(page: Page, name: str, heading: str) -> list[str]:
    head, *rows = _table(page, name)
    index = head.index(heading)
    return [row[index] for row in rows]


def _csv(download: Any) -> list[list[str]]:
    """A downloaded CSV file's lines, each a list of fields."""
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def _bar_widths(page: Page, section: str) -> list[float]:
    return page.evaluate(  # type: ignore[no-any-return]
        """s => [...document.querySelectorAll(`[data-section="${s}"] svg rect[class^="chart-tone"]`)]
            .map((r) => Number(r.getAttribute("width")))""",
        section,
    )


def test_insights_show_a_known_history_as_charts_tables_and_csv(
    server: Server, browser: Any
) -> None:
    history = [Run(r.name, r.advances, r.end, dict(r.values)) for r in HISTORY]
    process = _seed(server, CHECK, history)
    empty = _seed(server, EMPTY, [])

    # The picker offers the processes; a process nothing ran through says what the page is for.
    page, errors = open_page(browser, f"{server.url}/#/insights", user="ana")
    nav = page.get_by_role("navigation", name="Main").get_by_role("link", name="Insights")
    expect(nav).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="Insight empty").click()
    expect(page).to_have_url(re.compile(f"#/insights/{empty}$"))
    expect(page.get_by_role("heading", name="Nothing to show yet")).to_be_visible()
    expect(page.locator(".insights svg")).to_have_count(0)
    assert axe_violations(page) == []

    page.locator("#insights-process").select_option(process)
    expect(page).to_have_url(re.compile(f"#/insights/{process}$"))
    funnel = _funnel(history)
    expect(page.locator('table[data-table="funnel"] tbody tr')).to_have_count(len(STAGES))
    expect(page.locator('table[data-table="funnel"] tbody tr').first).to_contain_text(funnel[0][1])
    assert _table(page, "funnel") == [
        [
            "Stage",
            "Reached",
            "Advanced",
            "Finished",
            "Abandoned",
            "Still there",
            "Conversion",
            "Drop-off",
        ],
        *funnel,
    ]
    # The owner filter offers the owners of the entity's records, as the server lists them.
    answer = graphql(server, OWNERS, input={"processId": process})
    owners = answer["insights"]["owners"]  # type: ignore[index]
    assert "ana" in owners
    offered = page.locator("#insights-owners option")
    expect(offered).to_have_count(len(owners))
    assert [o.get_attribute("value") for o in offered.all()] == owners
    assert page.get_by_label("Owner", exact=True).get_attribute("list") == "insights-owners"
    # The bars are as long as the stage's count of records that reached it.
    widths = _bar_widths(page, "funnel")
    reached = [int(row[1]) for row in funnel]
    assert len(widths) == len(STAGES)
    assert all(
        abs(w / widths[0] - n / reached[0]) < 0.01 for w, n in zip(widths, reached, strict=True)
    )

    # Each chart is an image that says what it shows, with the table of its figures.
    for section in ("funnel", "outcomes", "time", "pipeline", "throughput"):
        box = page.locator(f'[data-section="{section}"]')
        for chart in box.locator("svg").all():
            assert chart.get_attribute("role") == "img"
            assert len(chart.get_attribute("aria-label") or "") > 20
        assert box.locator("svg").count() >= 1, section
        assert box.locator("table caption").count() >= 1, section
        assert box.locator("th[scope='col']").count() >= 2, section
    ended = [run for run in history if run.end]
    assert _rows(page, "outcomes") == [
        ["Won", "1", _percent(1, 2)],
        ["Lost", "1", _percent(1, 2)],
        ["Abandoned", str(sum(1 for run in ended if run.end == "abandoned")), "—"],
    ]
    assert _rows(page, "reasons") == [["Price", "Lost", "1"]]
    running = [run for run in history if run.end is None]
    assert _rows(page, "pipeline-stages") == [
        ["Qualify", "20%", "1", "$500.00", "$100.00"],
        ["Develop", "50%", "1", "$1,000.00", "$500.00"],
        ["Close", "90%", "0", "$0.00", "$0.00"],
    ]
    assert [row[1:] for row in _rows(page, "pipeline-months")] == [
        ["1", "$1,000.00", "$500.00"],
        ["1", "$500.00", "$100.00"],
    ]
    assert sum(int(n) for n in _column(page, "throughput", "Started")) == len(history)
    assert sum(int(n) for n in _column(page, "throughput", "Finished")) == 2
    # Time in stage shows the server's counts of stays, stage by stage.
    start = page.locator("#insights-from").input_value()
    answer = graphql(server, TIMES, input={"processId": process, "from": f"{start}T00:00:00Z"})
    times = answer["insights"]["timeInStage"]  # type: ignore[index]
    assert _column(page, "time-in-stage", "Stays") == [str(t["stays"]["count"]) for t in times]
    assert sum(t["stays"]["count"] for t in times) > 0

    # The funnel's table, downloaded, holds the table's rows.
    with page.expect_download() as waiting:
        page.get_by_role("button", name=re.compile("^Download CSV: Funnel")).click()
    download = waiting.value
    assert download.suggested_filename.startswith("insights-insight-check-")
    assert _csv(download) == _table(page, "funnel")

    # Stuck records, the longest in their stage first, each a link to its record; a name a
    # spreadsheet would run stays text in the CSV.
    page.get_by_label("Stuck after (days)").fill("0")
    stuck = page.locator('table[data-table="stuck"] tbody tr')
    expect(stuck).to_have_count(len(running))
    assert [row[0] for row in _rows(page, "stuck")] == [run.name for run in running]
    with page.expect_download() as waiting:
        page.get_by_role("button", name=re.compile("^Download CSV: Records in their stage")).click()
    lines = _csv(waiting.value)
    assert [line[0] for line in lines[1:]] == ["Northwind - 25 desks", "'" + FORMULA_NAME]
    assert axe_violations(page) == []

    # A move made elsewhere shows in the figures without a reload.
    page.wait_for_selector("#live-state[data-state='open']")
    [newest] = [run for run in running if run.advances == 0]
    _move(server, "advance", newest.instance)
    newest.advances += 1
    develop = page.locator('table[data-table="funnel"] tbody tr').nth(1)
    expect(develop.locator("td").first).to_have_text(_funnel(history)[1][1])
    assert _table(page, "funnel")[1:] == _funnel(history)
    expect(stuck).to_have_count(len(running))

    # Dates the wrong way round show no figures rather than those of other dates.
    page.get_by_label("From", exact=True).fill("2099-01-01")
    expect(page.locator("#view .status").first).to_have_text(
        "The first date is after the last one: nothing can be shown."
    )
    expect(page.locator(".insights table")).to_have_count(0)
    page.get_by_label("From", exact=True).fill(start)
    expect(stuck).to_have_count(len(running))

    # A phone gets charts drawn for its width, and the page does not scroll sideways.
    page.set_viewport_size({"width": 320, "height": 640})
    expect(page.locator('[data-section="funnel"] svg')).to_have_attribute("width", "360")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.set_viewport_size({"width": 1280, "height": 860})

    stuck.filter(has_text="Northwind").get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"#/records/{running[0].record}$"))
    expect(page.locator("#view h1")).to_have_text("Northwind - 25 desks")
    assert errors == []


def test_the_designer_sets_the_pipeline_fields_and_stage_probabilities(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    form = page.locator("form", has=page.get_by_role("heading", name="Start from a template"))
    form.get_by_role("radio", name="Opportunity Sales").check()
    form.get_by_label("Key of the new process").fill("weighted-sales")
    form.get_by_role("button", name="Start from template").click()
    page.wait_for_url(re.compile(r"#/designer/\d+$"))
    process_id = page.url.rsplit("/", 1)[1]
    template = graphql(server, DESIGN, id=process_id)["design"]["definition"]  # type: ignore[index]

    amount = page.get_by_label("Amount field")
    close_date = page.get_by_label("Close date field")
    qualify = page.locator('[data-path="stages[0]"]').get_by_label("Probability (%)")
    develop = page.locator('[data-path="stages[1]"]').get_by_label("Probability (%)")
    expect(amount).to_have_value(template["amount_field"])
    expect(close_date).to_have_value(template["close_date_field"])
    expect(qualify).to_have_value(str(template["stages"][0]["probability"]))
    # Only money and number fields are offered as the amount, only dates as the close date.
    entities = graphql(server, FIELDS)["entities"]  # type: ignore[index]
    [fields] = [e["fields"] for e in entities if e["key"] == "opportunity"]  # type: ignore[union-attr]
    of = lambda *types: [f["label"] for f in fields if f["type"] in types]  # noqa: E731
    assert amount.locator("option").all_inner_texts() == [
        "None: no pipeline",
        *of("MONEY", "NUMBER"),
    ]
    assert close_date.locator("option").all_inner_texts() == ["None", *of("DATE")]
    assert "Estimated revenue" in of("MONEY")

    qualify.fill("150")
    page.get_by_role("button", name="Validate").click()
    problem = page.locator('[data-path="stages[0].probability"] .d-problem')
    expect(problem).to_contain_text("0 to 100")
    expect(qualify).to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []

    qualify.fill("15")
    develop.fill("")
    amount.select_option(label="Estimated revenue")
    close_date.select_option("")
    page.get_by_role("button", name="Validate").click()
    expect(page.locator(".d-status")).to_have_text("No problems: the draft can be published.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".d-status")).to_have_text("Draft saved.")
    design = graphql(server, DESIGN, id=process_id)["design"]
    definition = design["definition"]  # type: ignore[index]
    assert definition["amount_field"] == "estimated_revenue"
    assert "close_date_field" not in definition
    assert definition["stages"][0]["probability"] == 15
    assert "probability" not in definition["stages"][1]
    assert definition["stages"][2]["probability"] == template["stages"][2]["probability"]
    assert design["problems"] == []  # type: ignore[index]

    page.reload()
    expect(page.get_by_label("Amount field")).to_have_value("estimated_revenue")
    expect(page.locator('[data-path="stages[0]"]').get_by_label("Probability (%)")).to_have_value(
        "15"
    )
    assert errors == []

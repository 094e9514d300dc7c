// Insights: how the records of one process move. The funnel, outcomes, time in stage, the
// weighted pipeline, throughput per week and stuck records, each a chart with its table,
// for the dates, owner and version chosen; the figures follow changes live.
import { EVENT_FIELDS, live, session } from "./api.js";
import { chartWidth } from "./chart.js";
import { el, reloads } from "./dom.js";
import { loadFigures, loadProcess, loadProcesses } from "./insights-api.js";
import { funnelSection, outcomesSection, pipelineSection, stuckSection, throughputSection, timeSection } from "./insights-sections.js";

const CHANGES = `subscription($processId: ID!, $afterSeq: Int) {
  stageChanged(processId: $processId, afterSeq: $afterSeq) { ${EVENT_FIELDS} }
}`;

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 90;
// The server counts throughput over 520 weeks at most.
const MOST_DAYS = 520 * 7 - 7;
// Changes come in bursts (a move is several events): the figures are read once after them.
const SETTLE_MS = 400;

const isoDay = (time) => new Date(time).toISOString().slice(0, 10);

// Filters survive a visit to a record and back; the version belongs to one process.
const filters = { from: "", to: "", owner: "", version: "", days: "14", processId: null };

function defaultDates() {
  const today = Date.parse(`${isoDay(Date.now())}T00:00:00Z`);
  return { from: isoDay(today - (DEFAULT_DAYS - 1) * DAY_MS), to: isoDay(today) };
}

const WHAT_FOR = "Insights shows how records move through a process: how many reach each stage and move on, " +
  "how they end, how long they stay in each stage, what the open ones are worth, how many start and end each week, " +
  "and which have sat in a stage too long. The figures follow every change live.";

export async function show(view, [id], { notify }) {
  if (!id) return picker(view);
  const { processes, process } = await loadProcess(id);
  const choose = el("select", { id: "insights-process", "aria-label": "Process" },
    processes.map((p) => el("option", { value: p.id }, `${p.name} (${p.entity.name})`)));
  choose.value = id;
  choose.addEventListener("change", () => { location.hash = `#/insights/${choose.value}`; });
  const head = el("div", { class: "page-head" }, el("h1", {}, "Insights"), choose);
  if (!process) {
    view.replaceChildren(head, el("p", { class: "refusal", role: "alert" }, "This process does not exist, or you may not run it."));
    return undefined;
  }
  if (filters.processId !== id) Object.assign(filters, { version: "", processId: id });
  if (!filters.from || !filters.to) Object.assign(filters, defaultDates());

  const status = el("p", { class: "status", role: "status" }, "Loading…");
  const asOf = el("p", { class: "insights-as-of" });
  const sections = el("div", { class: "insights" });
  const form = filterForm(process, () => load({ asked: true }));
  view.replaceChildren(head, el("p", { class: "hint" }, WHAT_FOR), form, status, asOf, sections);

  const fields = new Map(process.entity.fields.map((f) => [f.key, f.label]));
  const figures = reloads(["lastEventSeq"]);
  // A phone gets charts drawn for its width; turned, they are drawn again.
  const narrow = matchMedia("(max-width: 40rem)");
  let shown = null;
  // Figures of other filters are taken away when these cannot be shown: left there, they
  // would pass for the answer to these.
  const blank = () => {
    sections.replaceChildren();
    shown = null;
  };
  const redraw = () => shown && draw(sections, { ...shown.ctx, width: chartWidth(narrow.matches) }, shown.insights);
  narrow.addEventListener("change", redraw);

  // `asked`: the user changed a filter, so the status line says what is shown now; a
  // reload caused by a change elsewhere redraws quietly.
  async function load({ asked = false } = {}) {
    const problem = checkDates();
    if (problem) {
      status.textContent = problem;
      blank();
      return null;
    }
    const newest = figures.ask();
    if (asked) status.textContent = "Loading…";
    let data;
    try {
      data = await loadFigures(input(id), Number(filters.days));
    } catch (error) {
      if (!newest()) return null;
      status.textContent = `Could not load the figures: ${error.message}`;
      if (asked) blank();
      return null;
    }
    if (!newest()) return data;
    const dates = `from ${words(filters.from)} to ${words(filters.to)}`;
    if (asked || status.textContent === "Loading…" || status.textContent.startsWith("Could not")) {
      status.textContent = `Showing ${process.name} ${dates} (UTC).`;
    }
    asOf.textContent = `Figures as of ${new Date().toLocaleTimeString()}.`;
    if (!data.insights) {
      blank();
      sections.append(el("p", { class: "refusal", role: "alert" }, "You may not see the figures of this process."));
      return data;
    }
    suggestOwners(form.querySelector("#insights-owners"), data.insights.owners);
    if (!figures.changed(data) && shown) return data;
    const ctx = {
      process, dates, designer: session.user?.role !== "USER", width: chartWidth(narrow.matches),
      fieldLabel: (key) => fields.get(key) ?? key,
      filePrefix: `insights-${process.key}-${filters.from}-${filters.to}`,
    };
    shown = { ctx, insights: data.insights };
    draw(sections, ctx, data.insights);
    return data;
  }

  const first = await load();
  let timer = null;
  const stop = live.subscribe(CHANGES, { processId: id, afterSeq: first?.lastEventSeq ?? null }, {
    onEvent() {
      clearTimeout(timer);
      timer = setTimeout(load, SETTLE_MS);
    },
    onReset: () => load(),
    onError: (message) => notify(`Live figures stopped: ${message}`),
  });
  return () => {
    clearTimeout(timer);
    narrow.removeEventListener("change", redraw);
    stop();
  };
}

// The sections drawn again; a control that had focus (a Download button) keeps it.
function draw(sections, ctx, insights) {
  const key = sections.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const empty = insights.funnel.every((s) => s.reached === 0) && insights.outcomes.ended === 0
    && insights.pipeline.count === 0 && insights.stuck.length === 0;
  if (empty) {
    sections.replaceChildren(el("section", { class: "insights-empty", "aria-labelledby": "insights-empty" },
      el("h2", { id: "insights-empty" }, "Nothing to show yet"),
      el("p", {}, `No record of ${ctx.process.name} started, ended or ran ${ctx.dates}.`),
      el("p", {}, "Start the process on a record (or widen the dates) and the figures appear here: ",
        "the funnel of stages, outcomes, time in stage, the weighted pipeline, throughput per week and stuck records."),
      el("p", {}, el("a", { href: "#/records" }, "Go to the records"))));
    return;
  }
  sections.replaceChildren(
    funnelSection(ctx, insights.funnel),
    outcomesSection(ctx, insights.outcomes),
    timeSection(ctx, insights.timeInStage, insights.cycleTime),
    pipelineSection(ctx, insights.pipeline),
    throughputSection(ctx, insights.throughput),
    stuckSection(ctx, insights.stuck, Number(filters.days)),
  );
  if (key) sections.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

// A date of the form in words: "7 Sep 2026".
function words(day) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { dateStyle: "medium", timeZone: "UTC" });
}

function checkDates() {
  if (!filters.from || !filters.to) return "Choose both dates.";
  if (filters.from > filters.to) return "The first date is after the last one: nothing can be shown.";
  if (Date.parse(filters.to) - Date.parse(filters.from) > MOST_DAYS * DAY_MS) return "The dates span ten years at most.";
  const days = Number(filters.days);
  if (!Number.isInteger(days) || days < 0) return "Stuck after: a whole number of days, 0 or more.";
  return null;
}

// The dates are whole days in UTC, the last one included: the server's `to` is exclusive.
function input(processId) {
  return {
    processId,
    from: `${filters.from}T00:00:00Z`,
    to: new Date(Date.parse(`${filters.to}T00:00:00Z`) + DAY_MS).toISOString(),
    owner: filters.owner.trim() || null,
    processVersion: filters.version ? Number(filters.version) : null,
  };
}

// The owners the filter may name, offered as the user types (any other name may still be typed).
function suggestOwners(list, owners) {
  const now = [...list.options].map((o) => o.value);
  if (now.length === owners.length && now.every((o, n) => o === owners[n])) return;
  list.replaceChildren(...owners.map((owner) => el("option", { value: owner })));
}

function filterForm(process, reload) {
  const field = (name, label, control) => {
    control.id = `insights-${name}`;
    control.name = name;
    return el("label", { for: control.id }, label, control);
  };
  const versions = process.versions.map((v) => v.number).sort((a, b) => b - a);
  const form = el("form", { class: "filters insights-filters", role: "search", "aria-label": "Filter the figures" },
    field("from", "From", el("input", { type: "date", value: filters.from, required: true })),
    field("to", "To (included)", el("input", { type: "date", value: filters.to, required: true })),
    field("owner", "Owner", el("input", { type: "search", maxlength: 200, value: filters.owner, placeholder: "Anyone", list: "insights-owners" })),
    el("datalist", { id: "insights-owners" }),
    field("version", "Process version", el("select", {}, el("option", { value: "" }, "All versions"),
      versions.map((n) => el("option", { value: String(n) }, `Version ${n}`)))),
    field("days", "Stuck after (days)", el("input", { type: "number", min: 0, max: 3650, step: 1, value: filters.days })));
  form.querySelector("#insights-version").value = filters.version;
  let typing = null;
  form.addEventListener("input", (event) => {
    const { name, value } = event.target;
    if (!(name in filters)) return;
    filters[name] = value;
    clearTimeout(typing);
    typing = setTimeout(reload, event.target.type === "search" || event.target.type === "number" ? 300 : 0);
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  return form;
}

// Which process to look at: those the user may run.
async function picker(view) {
  const processes = await loadProcesses();
  view.replaceChildren(
    el("h1", {}, "Insights"),
    el("p", {}, WHAT_FOR),
    processes.length
      ? el("nav", { "aria-label": "Processes" }, el("ul", { class: "insights-processes" },
        processes.map((p) => el("li", {}, el("a", { href: `#/insights/${p.id}` }, p.name), ` (${p.entity.name})`))))
      : el("p", { class: "status" }, "No process you may run is published yet: once one is, its figures are here."),
  );
  return undefined;
}

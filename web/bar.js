// The process bar of a record: its head (process, status, how it ended), the chevrons, the
// moves of the active stage (always shown, whichever stage is open) and the open stage's
// panel. Rendering only: every action calls back into the page.
import { dueIn, el, elapsed, titleCase, when } from "./dom.js";
import { renderSteps } from "./steps.js";

// The stage the panel shows: the one the user opened while the run stays on the same
// active stage, else the active one, else (finished) the last reached.
export function openStage(instance, selected) {
  const shown = instance.stages.filter((s) => s.state !== "SKIPPED");
  const activeKey = instance.activeStage.key;
  const chosen = selected && selected.active === activeKey && selected.instance === instance.id
    ? shown.find((s) => s.stage.key === selected.key) : null;
  return chosen || shown.find((s) => s.state === "ACTIVE") || shown[shown.length - 1];
}

export function renderProcess(page, instance) {
  const shown = instance.stages.filter((s) => s.state !== "SKIPPED");
  const open = openStage(instance, page.selected);
  const running = instance.status === "ACTIVE";
  const bar = el("ol", { class: `bar ${instance.status.toLowerCase()}`, "aria-label": `${instance.process.name} stages` },
    shown.map((progress, index) => renderStage(page, instance, progress, index, progress === open)));
  return el("section", { class: `process ${instance.status.toLowerCase()}`, "aria-labelledby": "process-name" },
    el("div", { class: "process-head" },
      el("h2", { id: "process-name", tabindex: "-1" }, instance.process.name, el("small", {}, ` v${instance.processVersion}`)),
      el("span", { class: `badge ${instance.status.toLowerCase()}` }, titleCase(instance.status)),
      renderSwitch(page, instance)),
    running ? "" : renderEnding(instance),
    bar,
    renderMoves(page, instance),
    renderPanel(page, instance, open));
}

// "Finished · Won — by ana on 6 Dec 2026, 18:02. Reason: …"
function renderEnding(instance) {
  const outcome = instance.outcome ? ` · ${instance.outcome.label}` : "";
  const by = instance.completedBy ? ` by ${instance.completedBy}` : "";
  const at = instance.completedAt ? ` on ${when(instance.completedAt)}` : "";
  return el("p", { id: "process-status", class: `ending ${instance.status.toLowerCase()}`, tabindex: "-1" },
    el("strong", {}, `${titleCase(instance.status)}${outcome}`), `${by}${at}.`,
    instance.outcomeReason ? el("span", { class: "reason" }, ` Reason: ${instance.outcomeReason}`) : "");
}

function renderStage(page, instance, progress, index, open) {
  const { stage, state } = progress;
  const running = instance.status === "ACTIVE";
  const current = state === "ACTIVE" && running;
  // A run that ended has no current stage: the stage it ended on shows how it ended instead.
  const endedHere = !running && stage.key === instance.activeStage.key;
  const shownState = endedHere ? instance.status : state;
  const item = el("li", {
    class: `stage ${shownState.toLowerCase()}${open ? " selected" : ""}`,
    "data-stage": stage.key,
    "data-state": state,
    "aria-current": current ? "step" : false,
  });
  const parts = [
    el("span", { class: "mark", "aria-hidden": "true" }, state === "DONE" ? "✓" : String(index + 1)),
    el("span", { class: "name" }, stage.name),
  ];
  // A stage of another entity's record (a process across entities) says whose.
  if (stage.entity && stage.entity !== page.data.record.entity) {
    parts.push(el("span", { class: "entity" }, ` ${page.entityName(stage.entity)}`));
  }
  if (current) {
    parts.push(el("span", { class: "since", "data-since": instance.activeSince }, `active for ${elapsed(instance.activeSince)}`));
    if (instance.dueAt) parts.push(renderDue(instance));
  }
  const said = { DONE: "done", ACTIVE: "current stage", UPCOMING: "not reached yet", FINISHED: "finished here", ABANDONED: "abandoned here" }[shownState];
  parts.push(el("span", { class: "visually-hidden" }, ` (${said})`));
  item.append(el("button", {
    type: "button",
    id: `stage-${stage.key}`,
    "aria-expanded": open ? "true" : "false",
    "aria-controls": "stage-panel",
    onclick: () => page.open(stage.key),
  }, parts));
  return item;
}

// "Due in 3 days" / "Overdue by 2 days": the deadline of the current stay, kept moving by the
// page's clock (data-due), marked as overdue once it passed or the server said so.
export function renderDue(instance) {
  const { late, text } = dueIn(instance.dueAt, { overdue: instance.overdue });
  return el("span", { class: `due${late ? " overdue" : ""}`, "data-due": instance.dueAt, "data-overdue": late ? "true" : null }, text);
}

// What moves with the clock on a bar: "active for 9 minutes", "Due in 3 days".
export function tick(root) {
  for (const since of root.querySelectorAll("[data-since]")) {
    since.textContent = `active for ${elapsed(since.dataset.since)}`;
  }
  for (const due of root.querySelectorAll("[data-due]")) {
    const { late, text } = dueIn(due.dataset.due, { overdue: due.dataset.overdue === "true" });
    due.textContent = text;
    due.classList.toggle("overdue", late);
    if (late) due.dataset.overdue = "true";
  }
}

// The moves of the run, always in view: back to the stage before, next (or finish), abandon;
// reactivate once it ended. A move the gate refuses stays focusable and says why.
function renderMoves(page, instance) {
  const moves = [];
  if (instance.status !== "ACTIVE") {
    moves.push(page.moveButton({ id: "move-reactivate" }, "reactivateInstance", {}, "Reactivate"));
    return el("div", { class: "moves" }, moves);
  }
  const previous = instance.path.length > 1 ? instance.path[instance.path.length - 2] : null;
  if (previous) {
    moves.push(page.moveButton({ id: "move-back" }, "moveToStage", { stage: previous.key }, `← Back to ${previous.name}`));
  }
  const missing = instance.missingSteps.map((m) => m.field.label);
  const gate = missing.length ? `Missing: ${missing.join(", ")}` : "";
  if (instance.activeStage.isLast) {
    moves.push(page.moveButton({ id: "move-finish", class: "primary", refused: !instance.canFinish && gate, "aria-describedby": "gate" },
      "finishInstance", {}, "Finish…"));
  } else {
    const onward = instance.nextStage && instance.canAdvance ? instance.nextStage : null;
    // Into a stage of an entity the run has no record of yet: it crosses, into a new record
    // of it or into one the user links.
    const crossing = onward && onward.entity !== instance.activeStage.entity && !page.recordOf(instance, onward.entity)
      ? page.entityName(onward.entity) : null;
    const next = onward ? ` → ${onward.name}${crossing ? ` (new ${crossing})` : ""}` : "";
    moves.push(page.moveButton({ id: "move-next", class: "primary", refused: !instance.canAdvance && (gate || "This stage cannot be left yet."), "aria-describedby": "gate" },
      "advanceStage", {}, `Next stage${next}`));
    if (crossing) moves.push(renderLink(page, onward.entity, crossing));
  }
  moves.push(el("span", { id: "gate", class: "gate" }, gate));
  moves.push(page.moveButton({ id: "move-abandon", class: "danger" }, "abandonInstance", {}, "Abandon…"));
  return el("div", { class: "moves", role: "group", "aria-label": "Moves" }, moves);
}

// "or link Opportunity #[ ] [Link and go on]": the crossing into a record that exists.
// Typing a name suggests the records of the entity it matches, by id.
function renderLink(page, entity, entityName) {
  const choices = el("datalist", { id: "link-choices" });
  const input = el("input", { id: "link-record", type: "text", size: "12", autocomplete: "off", list: "link-choices" });
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (text.length < 2 || /^\d+$/.test(text)) return;
    timer = setTimeout(async () => {
      const found = await page.linkChoices(entity, text);
      if (input.value.trim() !== text) return;
      choices.replaceChildren(...found.map((r) => el("option", { value: r.id, label: r.name })));
    }, 200);
  });
  return el("span", { class: "link-record" },
    el("label", { for: "link-record" }, `or link an existing ${entityName} (id, or type its name)`), input, choices, " ",
    page.moveButton({ id: "move-link" }, "advanceStage", () => ({ linkRecordId: input.value.trim() }), "Link and go on"));
}

function renderPanel(page, instance, progress) {
  const { stage, state } = progress;
  // A stage of another entity's record is worked on that record's page: here its steps are
  // shown as they stand there, with the way to it.
  const own = !stage.entity || stage.entity === page.data.record.entity;
  const other = own ? null : page.recordOf(instance, stage.entity);
  const steps = renderSteps({
    stage, state, instance,
    values: own ? page.data.record.values : (other?.values ?? {}),
    notes: own ? page.notes : new Map(),
    names: page.names,
    save: (field, value, shown, raw) => page.save(field, value, shown, raw, stage.entity),
  });
  if (!own) {
    for (const input of steps.flatMap((node) => [...node.querySelectorAll("input, select, textarea")])) input.disabled = true;
  }
  const whose = own ? "" : el("p", { class: "works-on" }, other
    ? [`${stage.name} works on the ${page.entityName(stage.entity)} `, el("a", { href: `#/records/${other.id}`, id: "works-on" }, other.name), ": its steps are filled there."]
    : `${stage.name} works on a ${page.entityName(stage.entity)}, made or linked when the run moves on to it.`);
  const extra = [];
  if (instance.status === "ACTIVE" && state === "DONE") {
    extra.push(page.moveButton({ id: "move-to-open" }, "moveToStage", { stage: stage.key }, `Go back to ${stage.name}`));
  }
  const where = { DONE: " · done", UPCOMING: " · not reached yet", ACTIVE: instance.status === "ACTIVE" ? " · current stage" : "" }[state];
  const category = stage.name.toLowerCase() === stage.category.toLowerCase() ? "" : ` ${titleCase(stage.category)}`;
  return el("div", { class: "panel", id: "stage-panel", "data-stage": stage.key },
    el("h3", { id: "panel-title", tabindex: "-1" }, stage.name, el("small", {}, category, where)),
    whose,
    stage.guidance ? el("p", { class: "guidance" }, stage.guidance) : "",
    steps.length ? el("div", { class: "steps" }, steps) : el("p", { class: "muted" }, "This stage asks for no steps."),
    extra.length ? el("div", { class: "actions" }, extra) : "",
    el("p", { class: "refusal", role: "alert" }, page.message));
}

// The processes the record may run: active ones of its entity.
function offered(page) {
  return page.data.processes.filter((p) => p.entity.key === page.data.record.entity && p.status === "ACTIVE");
}

export function renderNoProcess(page) {
  const choices = offered(page);
  const choice = el("select", { id: "start-process", "aria-label": "Process to start" },
    choices.map((p) => el("option", { value: p.id }, p.name)));
  return el("section", { class: "process" },
    el("p", {}, "No process runs on this record."),
    choices.length
      ? el("p", {}, choice, " ", page.moveButton({ id: "move-start" }, "startInstance", () => ({ recordId: page.id, processId: choice.value }), "Start process"))
      : "",
    el("p", { class: "refusal", role: "alert" }, page.message));
}

function renderSwitch(page, instance) {
  const others = offered(page).filter((p) => p.id !== instance.process.id);
  if (!others.length) return "";
  const choice = el("select", { id: "switch-process", "aria-label": "Switch to process" },
    others.map((p) => el("option", { value: p.id }, p.name)));
  return el("span", { class: "switch" }, choice, " ",
    page.moveButton({ id: "move-switch" }, "switchProcess", () => ({ recordId: page.id, processId: choice.value }), "Switch process…"));
}

// A record with its process bar: stages as chevrons, the steps of a stage, the moves the
// server allows, and the history of the run. Every change goes through the API; the page
// then shows what the server answered.
import { CONFLICT, EVENT_FIELDS, GATE, gateMessage, graphql, live, mutate, refused, RESULT_ERRORS } from "./api.js";
import { describe, ifByOthers, track } from "./changes.js";
import { days, display, duration, el, fieldInput, reloads, titleCase, when } from "./dom.js";

const INSTANCE = `
  id version status processVersion activeSince completedAt
  process { id name }
  stages { state stage { key name category guidance isLast
    steps { required field { key label type choices } } } }
  activeStage { key name isLast }
  missingSteps { field { key label } }
  nextStage { key name }
  canAdvance canFinish
  history(last: 100) { stage { key name } enteredAt exitedAt enteredBy durationSeconds }
`;

const RECORD = `query($id: ID!) {
  lastEventSeq
  record(id: $id) {
    id entity name owner values version createdAt updatedAt
    activeInstance { ${INSTANCE} }
  }
  entities { key name fields { key label type choices } }
  processes { id name status entity { key } }
}`;

function instanceMutation(name, input = "InstanceInput", gated = false) {
  return `mutation($input: ${input}!) { ${name}(input: $input) {
    ... on InstanceChange { event { seq } instance { id version record { version values } } }
    ${RESULT_ERRORS} ${CONFLICT} ${gated ? GATE : ""} } }`;
}

const MUTATIONS = {
  completeStep: instanceMutation("completeStep", "CompleteStepInput"),
  advanceStage: instanceMutation("advanceStage", "InstanceInput", true),
  moveToStage: instanceMutation("moveToStage", "MoveToStageInput"),
  finishInstance: instanceMutation("finishInstance", "InstanceInput", true),
  abandonInstance: instanceMutation("abandonInstance"),
  reactivateInstance: instanceMutation("reactivateInstance"),
  switchProcess: instanceMutation("switchProcess", "SwitchProcessInput"),
  startInstance: instanceMutation("startInstance", "StartInstanceInput"),
};

// Changes that move the run; every other change of the page is a step's value.
const MOVES = new Set(["advanceStage", "moveToStage", "finishInstance", "abandonInstance",
  "reactivateInstance", "switchProcess", "startInstance"]);

// The record as it is now, to tell whose change a step's version conflict was.
const CURRENT = `query($id: ID!) { instance(id: $id) { id version record { version values } } }`;

const EVENTS = `subscription($instanceId: ID!, $afterSeq: Int) {
  instanceEvents(instanceId: $instanceId, afterSeq: $afterSeq) { ${EVENT_FIELDS} }
}`;

export async function show(view, [id], { notify }) {
  const page = new RecordPage(view, id, notify);
  await page.load();
  return () => page.leave();
}

class RecordPage {
  constructor(view, id, notify) {
    this.view = view;
    this.id = id;
    this.notify = notify;
    this.data = null;
    this.selected = null;
    this.message = "";
    this.watching = null;
    this.stop = () => {};
    // Changes run one after another.
    this.queue = Promise.resolve();
    // Moves queued or on their way: their buttons stay disabled, so a second click is not a
    // second move. `settled` counts the finished ones: the page is drawn again after each.
    this.moving = 0;
    this.settled = 0;
    // This page's own changes: "Instance:id:version" or "Record:id:version" before → the
    // version after, and whether it was a step's value. A change decided on the view from
    // before them builds on them instead of conflicting with them.
    this.own = new Map();
    // The value this page last saved, per field, as the server keeps it.
    this.sent = new Map();
    // The clock does not count as a change: time spent grows with every read.
    this.reloads = reloads(["lastEventSeq", "durationSeconds"]);
  }

  leave() {
    this.stop();
    this.left = true;
  }

  async load() {
    const newest = this.reloads.ask();
    let data;
    try {
      data = await graphql(RECORD, { id: this.id });
    } catch (error) {
      this.view.replaceChildren(el("h1", {}, "Record"), el("p", { role: "alert" }, `Could not load the record: ${error.message}`));
      return;
    }
    if (this.left || !newest()) return;
    if (!data.record) {
      this.view.replaceChildren(el("h1", {}, "Record not found"), el("p", {}, el("a", { href: "#/records" }, "Back to records")));
      return;
    }
    const instance = data.record.activeInstance;
    if (this.data?.record.activeInstance?.id !== instance?.id) this.selected = null;
    this.data = data;
    this.fields = new Map(data.entities.find((e) => e.key === data.record.entity).fields.map((f) => [f.key, f]));
    if (this.reloads.changed({ ...data, message: this.message, settled: this.settled })) this.render();
    this.watch(instance ? instance.id : null, data.lastEventSeq);
  }

  // Follow the instance the bar shows; a switch of process follows the new one.
  watch(instanceId, afterSeq) {
    if (this.watching === instanceId) return;
    this.stop();
    this.watching = instanceId;
    if (instanceId === null) return;
    let timer = null;
    this.stop = live.subscribe(EVENTS, { instanceId, afterSeq }, {
      onEvent: (event) => {
        ifByOthers(event, () => this.notify(describe(event, (key) => this.label(key))));
        clearTimeout(timer);
        timer = setTimeout(() => this.load(), 50);
      },
      onReset: () => this.load(),
      onError: (message) => this.notify(`Live updates stopped: ${message}`),
    });
  }

  label(key) {
    const stage = this.data.record.activeInstance?.stages.find((s) => s.stage.key === key);
    return stage ? stage.stage.name : this.fields.get(key)?.label || key;
  }

  // Send a change the user made on the view `seen` (the versions the page showed); on a
  // refusal show the server's answer, then show the record as it is. `shown` is the value a
  // step's input showed.
  change(name, input, seen, shown = null) {
    const move = MOVES.has(name);
    if (move) {
      this.moving += 1;
      for (const button of this.view.querySelectorAll("button[data-move]")) button.disabled = true;
    }
    this.queue = this.queue.then(async () => {
      try {
        this.message = await this.send(name, input, seen, shown);
      } catch (error) {
        this.message = error.message;
      }
      if (move) {
        this.moving -= 1;
        this.settled += 1;
      }
      await this.load();
    });
    return this.queue;
  }

  // A move is made on exactly the stage the user saw: it builds only on the page's own step
  // values sent before it, never on an earlier move (a double click is one move). A step's
  // value builds on every change of the page before it: typing into two fields quickly is
  // two values, not a conflict.
  async send(name, input, seen, shown) {
    const move = MOVES.has(name);
    const full = { ...input };
    if (name !== "startInstance" && name !== "switchProcess") {
      full.instanceId = seen.instanceId;
      full.expectedVersion = this.since("Instance", seen.instanceId, seen.instance, move);
    }
    const recordBase = this.since("Record", this.id, seen.record, move);
    if (name === "switchProcess") full.expectedVersion = recordBase;
    const result = (await track(mutate(name, MUTATIONS[name], full)))[name];
    const refusal = refused(result);
    if (!refusal) {
      this.remember(name, full, recordBase, result.instance);
      return "";
    }
    if (name === "completeStep" && refusal.currentVersion !== undefined) return this.again(full, shown);
    return explain(refusal);
  }

  // The version `version` of an object seen by the user, after this page's own changes.
  since(kind, id, version, stepsOnly) {
    let current = version;
    for (;;) {
      const next = this.own.get(`${kind}:${id}:${current}`);
      if (!next || (stepsOnly && !next.step)) return current;
      current = next.after;
    }
  }

  // Note a change the server made for this page. The server does not say the record's version
  // before it, so it is taken to be `recordBase`, the one the change was built on; had someone
  // else changed the record alone meanwhile, a later switch of process would go through.
  remember(name, full, recordBase, instance) {
    const step = name === "completeStep";
    const note = (kind, id, before, after) => {
      if (after > before) this.own.set(`${kind}:${id}:${before}`, { after, step });
    };
    if (full.instanceId) note("Instance", full.instanceId, full.expectedVersion, instance.version);
    note("Record", this.id, recordBase, instance.record.version);
    if (step) this.sent.set(full.field, instance.record.values[full.field]);
  }

  // A step refused on a version conflict: the record changed since the user saw it. Unless
  // someone changed this very field, the user's value still stands, and it is sent again on
  // the version there is now (once: a second refusal is shown).
  async again(full, shown) {
    const { instance } = await graphql(CURRENT, { id: full.instanceId });
    const now = instance ? instance.record.values[full.field] : undefined;
    const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
    const mine = this.sent.has(full.field) && same(now, this.sent.get(full.field));
    if (!instance || !(same(now, shown) || mine)) {
      return `Someone else changed ${this.fields.get(full.field)?.label || full.field} meanwhile; it now shows their value.`;
    }
    const retry = { ...full, expectedVersion: instance.version };
    const result = (await track(mutate("completeStep", MUTATIONS.completeStep, retry))).completeStep;
    const refusal = refused(result);
    if (refusal) return explain(refusal);
    this.remember("completeStep", retry, instance.record.version, result.instance);
    return "";
  }

  // A button for a move; disabled while a move is on its way.
  moveButton(attrs, name, input, seen, ...label) {
    return el("button", { type: "button", ...attrs, "data-move": true, disabled: attrs.disabled || this.moving > 0,
      onclick: () => this.change(name, typeof input === "function" ? input() : input, seen) }, ...label);
  }

  render() {
    const { record } = this.data;
    const instance = record.activeInstance;
    const focus = document.activeElement?.id;
    // What the user sees: each change is decided on these versions.
    const seen = { instanceId: instance ? instance.id : null, instance: instance ? instance.version : null, record: record.version };
    this.view.replaceChildren(
      el("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, el("a", { href: "#/records" }, "Records"), " / ", record.name),
      el("div", { class: "page-head" },
        el("h1", { id: "record-name" }, record.name),
        el("p", { class: "meta" }, `${titleCase(record.entity)} · owner ${record.owner} · updated ${when(record.updatedAt)}`)),
      instance ? this.renderProcess(instance, seen) : this.renderNoProcess(seen),
      this.renderDetails(),
      instance ? this.renderHistory(instance) : "",
    );
    if (focus) document.getElementById(focus)?.focus();
  }

  renderNoProcess(seen) {
    const offered = this.offered();
    const choice = el("select", { id: "start-process", "aria-label": "Process to start" },
      offered.map((p) => el("option", { value: p.id }, p.name)));
    return el("section", { class: "process" },
      el("p", {}, "No process runs on this record."),
      offered.length
        ? el("p", {}, choice, " ", this.moveButton({}, "startInstance", () => ({ recordId: this.id, processId: choice.value }), seen, "Start process"))
        : "",
      el("p", { class: "refusal", role: "alert" }, this.message));
  }

  offered() {
    return this.data.processes.filter((p) => p.entity.key === this.data.record.entity && p.status === "ACTIVE");
  }

  renderProcess(instance, seen) {
    const shown = instance.stages.filter((s) => s.state !== "SKIPPED");
    // The stage opened on the bar, else the active one, else (finished) the last.
    const selected = shown.find((s) => s.stage.key === this.selected)
      || shown.find((s) => s.state === "ACTIVE") || shown[shown.length - 1];
    const bar = el("ol", { class: "bar", "aria-label": `${instance.process.name} stages` },
      shown.map((progress, index) => this.renderStage(instance, progress, index, progress === selected)));
    return el("section", { class: "process", "aria-labelledby": "process-name" },
      el("div", { class: "process-head" },
        el("h2", { id: "process-name" }, instance.process.name, el("small", {}, ` v${instance.processVersion}`)),
        el("span", { class: `badge ${instance.status.toLowerCase()}` }, titleCase(instance.status)),
        this.renderSwitch(instance, seen)),
      bar,
      this.renderPanel(instance, selected, seen),
    );
  }

  renderStage(instance, progress, index, selected) {
    const { stage, state } = progress;
    const active = state === "ACTIVE" && instance.status === "ACTIVE";
    const item = el("li", {
      class: `stage ${state.toLowerCase()}${selected ? " selected" : ""}`,
      "data-stage": stage.key,
      "data-state": state,
      "aria-current": state === "ACTIVE" ? "step" : false,
    });
    const parts = [
      el("span", { class: "mark", "aria-hidden": "true" }, state === "DONE" ? "✓" : String(index + 1)),
      el("span", { class: "name" }, stage.name),
    ];
    if (active) parts.push(el("span", { class: "since" }, `active for ${days(instance.activeSince)}`));
    const hidden = { DONE: "done", ACTIVE: instance.status === "ACTIVE" ? "active" : titleCase(instance.status).toLowerCase(), UPCOMING: "upcoming" }[state];
    parts.push(el("span", { class: "visually-hidden" }, ` (${hidden})`));
    item.append(el("button", {
      type: "button",
      "aria-expanded": selected ? "true" : "false",
      onclick: () => {
        this.selected = stage.key;
        this.render();
      },
    }, parts));
    return item;
  }

  renderPanel(instance, progress, seen) {
    const { stage, state } = progress;
    const values = this.data.record.values;
    const editable = state !== "UPCOMING" && instance.status === "ACTIVE";
    const steps = stage.steps.map((step) => {
      const id = `step-${step.field.key}`;
      const { input, read } = fieldInput(step.field, values[step.field.key], id);
      input.disabled = !editable;
      if (step.required) input.setAttribute("aria-required", "true");
      const shown = values[step.field.key];
      input.addEventListener("change", () => this.change("completeStep", { field: step.field.key, value: read() }, seen, shown));
      const missing = state === "ACTIVE" && instance.missingSteps.some((m) => m.field.key === step.field.key);
      return el("div", { class: `step${missing ? " missing" : ""}` },
        el("label", { for: id }, step.field.label, step.required ? el("span", { class: "required", title: "Required" }, " *") : ""),
        input);
    });

    const actions = [];
    if (instance.status !== "ACTIVE") {
      actions.push(this.moveButton({}, "reactivateInstance", {}, seen, "Reactivate"));
    } else if (state === "DONE") {
      actions.push(this.moveButton({}, "moveToStage", { stage: stage.key }, seen, `Back to ${stage.name}`));
    } else if (state === "ACTIVE") {
      const missing = instance.missingSteps.map((m) => m.field.label);
      const blocked = missing.length ? `Missing: ${missing.join(", ")}` : "";
      if (instance.activeStage.isLast) {
        actions.push(this.moveButton({ class: "primary", disabled: !instance.canFinish, "aria-describedby": "gate" }, "finishInstance", {}, seen, "Finish"));
      } else {
        actions.push(this.moveButton({ class: "primary", disabled: !instance.canAdvance, "aria-describedby": "gate" }, "advanceStage", {}, seen,
          "Next stage", instance.nextStage && instance.canAdvance ? ` → ${instance.nextStage.name}` : ""));
      }
      actions.push(el("span", { id: "gate", class: "gate" }, blocked));
    }
    if (instance.status === "ACTIVE") {
      actions.push(this.moveButton({ class: "danger" }, "abandonInstance", {}, seen, "Abandon"));
    }

    return el("div", { class: "panel", "data-stage": stage.key },
      el("h3", {}, stage.name, el("small", {}, [
        stage.name.toLowerCase() === stage.category.toLowerCase() ? "" : ` ${titleCase(stage.category)}`,
        state === "UPCOMING" ? " · not reached yet" : ""])),
      stage.guidance ? el("p", { class: "guidance" }, stage.guidance) : "",
      steps.length ? el("div", { class: "steps" }, steps) : el("p", { class: "muted" }, "This stage asks for no steps."),
      el("div", { class: "actions" }, actions),
      el("p", { class: "refusal", role: "alert" }, this.message));
  }

  renderSwitch(instance, seen) {
    const others = this.offered().filter((p) => p.id !== instance.process.id);
    if (!others.length) return "";
    const choice = el("select", { id: "switch-process", "aria-label": "Switch to process" },
      others.map((p) => el("option", { value: p.id }, p.name)));
    return el("span", { class: "switch" }, choice, " ",
      this.moveButton({}, "switchProcess", () => ({ recordId: this.id, processId: choice.value }), seen, "Switch process"));
  }

  renderDetails() {
    const { values } = this.data.record;
    const rows = [...this.fields.values()].filter((f) => f.key in values).map((field) =>
      el("div", {}, el("dt", {}, field.label), el("dd", { "data-field": field.key }, display(field, values[field.key]))));
    return el("section", { class: "details", "aria-labelledby": "details-title" },
      el("h2", { id: "details-title" }, "Details"),
      rows.length ? el("dl", {}, rows) : el("p", { class: "muted" }, "No values yet."));
  }

  renderHistory(instance) {
    return el("section", { class: "history", "aria-labelledby": "history-title" },
      el("h2", { id: "history-title" }, "History"),
      el("table", {},
        el("thead", {}, el("tr", {}, ["Stage", "Entered", "By", "Left", "Time spent"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, instance.history.map((visit) => el("tr", {},
          el("td", {}, visit.stage.name),
          el("td", {}, when(visit.enteredAt)),
          el("td", {}, visit.enteredBy),
          el("td", {}, visit.exitedAt ? when(visit.exitedAt) : "still here"),
          el("td", {}, duration(visit.durationSeconds)))))));
  }
}

function explain(refusal) {
  if (refusal.missingSteps) return gateMessage(refusal);
  if (refusal.currentVersion !== undefined) return "Someone else changed this record meanwhile; it now shows their change. Try again.";
  return refusal.message;
}

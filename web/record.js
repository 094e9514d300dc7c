// A record with its process bar: stages as chevrons, the steps of a stage, the moves the
// server allows, and the history of the run. Every change goes through the API; the page
// then shows what the server answered.
import { CONFLICT, EVENT_FIELDS, GATE, gateMessage, graphql, live, refused, RESULT_ERRORS } from "./api.js";
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
  history { stage { key name } enteredAt exitedAt enteredBy durationSeconds }
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
    ... on InstanceChange { event { seq } instance { id } }
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
    // Changes run one after another, each with the state the one before left.
    this.queue = Promise.resolve();
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
    if (this.reloads.changed({ ...data, message: this.message })) this.render();
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

  // Send a change; on a refusal show the server's answer, then show the record as it is.
  change(name, input) {
    this.queue = this.queue.then(async () => {
      const instance = this.data.record.activeInstance;
      const full = { ...input };
      if (name !== "startInstance" && name !== "switchProcess") {
        full.instanceId = instance.id;
        if (name !== "completeStep") full.expectedVersion = instance.version;
      }
      if (name === "switchProcess") full.expectedVersion = this.data.record.version;
      try {
        const result = (await track(graphql(MUTATIONS[name], { input: full })))[name];
        const refusal = refused(result);
        this.message = refusal ? explain(refusal) : "";
      } catch (error) {
        this.message = error.message;
      }
      await this.load();
    });
    return this.queue;
  }

  render() {
    const { record } = this.data;
    const instance = record.activeInstance;
    const focus = document.activeElement?.id;
    this.view.replaceChildren(
      el("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, el("a", { href: "#/records" }, "Records"), " / ", record.name),
      el("div", { class: "page-head" },
        el("h1", { id: "record-name" }, record.name),
        el("p", { class: "meta" }, `${titleCase(record.entity)} · owner ${record.owner} · updated ${when(record.updatedAt)}`)),
      instance ? this.renderProcess(instance) : this.renderNoProcess(),
      this.renderDetails(),
      instance ? this.renderHistory(instance) : "",
    );
    if (focus) document.getElementById(focus)?.focus();
  }

  renderNoProcess() {
    const offered = this.offered();
    const choice = el("select", { id: "start-process", "aria-label": "Process to start" },
      offered.map((p) => el("option", { value: p.id }, p.name)));
    return el("section", { class: "process" },
      el("p", {}, "No process runs on this record."),
      offered.length
        ? el("p", {}, choice, " ", el("button", { type: "button", onclick: () => this.change("startInstance", { recordId: this.id, processId: choice.value }) }, "Start process"))
        : "",
      el("p", { class: "refusal", role: "alert" }, this.message));
  }

  offered() {
    return this.data.processes.filter((p) => p.entity.key === this.data.record.entity && p.status === "ACTIVE");
  }

  renderProcess(instance) {
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
        this.renderSwitch(instance)),
      bar,
      this.renderPanel(instance, selected),
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

  renderPanel(instance, progress) {
    const { stage, state } = progress;
    const values = this.data.record.values;
    const editable = state !== "UPCOMING" && instance.status === "ACTIVE";
    const steps = stage.steps.map((step) => {
      const id = `step-${step.field.key}`;
      const { input, read } = fieldInput(step.field, values[step.field.key], id);
      input.disabled = !editable;
      if (step.required) input.setAttribute("aria-required", "true");
      input.addEventListener("change", () => this.change("completeStep", { field: step.field.key, value: read() }));
      const missing = state === "ACTIVE" && instance.missingSteps.some((m) => m.field.key === step.field.key);
      return el("div", { class: `step${missing ? " missing" : ""}` },
        el("label", { for: id }, step.field.label, step.required ? el("span", { class: "required", title: "Required" }, " *") : ""),
        input);
    });

    const actions = [];
    if (instance.status !== "ACTIVE") {
      actions.push(el("button", { type: "button", onclick: () => this.change("reactivateInstance", {}) }, "Reactivate"));
    } else if (state === "DONE") {
      actions.push(el("button", { type: "button", onclick: () => this.change("moveToStage", { stage: stage.key }) }, `Back to ${stage.name}`));
    } else if (state === "ACTIVE") {
      const missing = instance.missingSteps.map((m) => m.field.label);
      const blocked = missing.length ? `Missing: ${missing.join(", ")}` : "";
      if (instance.activeStage.isLast) {
        actions.push(el("button", { type: "button", class: "primary", disabled: !instance.canFinish, "aria-describedby": "gate", onclick: () => this.change("finishInstance", {}) }, "Finish"));
      } else {
        actions.push(el("button", { type: "button", class: "primary", disabled: !instance.canAdvance, "aria-describedby": "gate", onclick: () => this.change("advanceStage", {}) },
          "Next stage", instance.nextStage && instance.canAdvance ? ` → ${instance.nextStage.name}` : ""));
      }
      actions.push(el("span", { id: "gate", class: "gate" }, blocked));
    }
    if (instance.status === "ACTIVE") {
      actions.push(el("button", { type: "button", class: "danger", onclick: () => this.change("abandonInstance", {}) }, "Abandon"));
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

  renderSwitch(instance) {
    const others = this.offered().filter((p) => p.id !== instance.process.id);
    if (!others.length) return "";
    const choice = el("select", { id: "switch-process", "aria-label": "Switch to process" },
      others.map((p) => el("option", { value: p.id }, p.name)));
    return el("span", { class: "switch" }, choice, " ",
      el("button", { type: "button", onclick: () => this.change("switchProcess", { recordId: this.id, processId: choice.value }) }, "Switch process"));
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

// A record with its process bar: stages as chevrons, the steps of a stage, the moves the
// server allows, and the history of the run. Every change goes through the API; the page
// then shows what the server answered.
import { announce } from "./announce.js";
import { CONFLICT, EVENT_FIELDS, GATE, gateMessage, graphql, live, mutate, refused, RESULT_ERRORS } from "./api.js";
import { renderNoProcess, renderProcess, tick } from "./bar.js";
import { describe, ifByOthers, track } from "./changes.js";
import { chooseOutcome, confirmed } from "./dialog.js";
import { renderDetails } from "./details.js";
import { el, reloads, when } from "./dom.js";
import { HISTORY_KINDS, renderHistory } from "./history.js";
import { setTitle } from "./title.js";
import { redrawing, refusalOf } from "./steps.js";

const INSTANCE = `
  id version status processVersion activeSince completedAt completedBy dueAt overdue
  outcome { key label } outcomeReason
  process { id name outcomes { key label reasonRequired } }
  stages { state stage { key name category guidance isLast entity
    steps { required field { key label type choices minimum maximum maxLength currency target } } } }
  activeStage { key name isLast entity }
  missingSteps { field { key label } }
  nextStage { key name entity }
  records { entity record { id name values version } }
  path { key name }
  canAdvance canFinish
  history(last: 100) { stage { key name } enteredAt exitedAt enteredBy durationSeconds }
`;

const RECORD = `query($id: ID!) {
  lastEventSeq
  record(id: $id) {
    id entity name owner values version createdAt updatedAt
    activeInstance { ${INSTANCE} }
  }
  events(recordId: $id, kinds: [${HISTORY_KINDS.join(", ")}], first: 100, newest: true) { seq kind actor at instanceId processId after }
  entities { key name fields { key label type choices minimum maximum maxLength currency target } }
  processes { id name status entity { key } }
}`;

const INVALID = "... on InvalidValue { field reason }";

const LINKABLE = `query($entity: String!, $search: String!) {
  records(entity: $entity, search: $search, first: 10) { edges { node { id name } } } }`;

function instanceMutation(name, input = "InstanceInput", gated = false) {
  return `mutation($input: ${input}!) { ${name}(input: $input) {
    ... on InstanceChange { event { seq } instance { id version activeStage { name entity } outcome { label } record { version values } records { entity record { id } } } }
    ${RESULT_ERRORS} ${CONFLICT} ${gated ? GATE : ""} ${name === "completeStep" ? INVALID : ""} } }`;
}

// Across entities, a move answers with the records of the run, to go on to the one its
// active stage works on.
const ADVANCE = `mutation($input: InstanceInput!, $link: ID) { advanceStage(input: $input, linkRecordId: $link) {
    ... on InstanceChange { event { seq } instance { id version activeStage { name entity } outcome { label } record { version values }
      records { entity record { id } } } }
    ${RESULT_ERRORS} ${CONFLICT} ${GATE} ${INVALID} } }`;

const MUTATIONS = {
  completeStep: instanceMutation("completeStep", "CompleteStepInput"),
  advanceStage: ADVANCE,
  moveToStage: instanceMutation("moveToStage", "MoveToStageInput"),
  finishInstance: instanceMutation("finishInstance", "FinishInstanceInput", true),
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

// Where focus goes once a move of this page has landed: the control that follows from it.
const FOCUS_AFTER = {
  advanceStage: "panel-title",
  moveToStage: "panel-title",
  reactivateInstance: "panel-title",
  finishInstance: "process-status",
  abandonInstance: "process-status",
  switchProcess: "process-name",
  startInstance: "process-name",
};

class RecordPage {
  constructor(view, id, notify) {
    this.view = view;
    this.id = id;
    this.notify = notify;
    this.data = null;
    // The stage the user opened on the bar, and the active stage it was opened on.
    this.selected = null;
    this.message = "";
    // Per field: { saved } after this page saved it, { error, raw } after a refusal.
    this.notes = new Map();
    this.focusAfter = null;
    this.watching = null;
    this.stop = () => {};
    // Changes run one after another.
    this.queue = Promise.resolve();
    // Moves queued or on their way: their buttons stay inert, so a second click is not a
    // second move. `settled` counts the finished ones: the page is drawn again after each.
    this.moving = 0;
    this.settled = 0;
    // This page's own changes: "Instance:id:version" or "Record:id:version" before → the
    // version after, and whether it was a step's value. A change decided on the view from
    // before them builds on them instead of conflicting with them.
    this.own = new Map();
    // The value this page last saved, per field, as the server keeps it.
    this.sent = new Map();
    // The names of the records lookup values point at, by id; null: out of the user's sight.
    this.names = new Map();
    // The clock does not count as a change: time spent grows with every read.
    this.reloads = reloads(["lastEventSeq", "durationSeconds"]);
    // "Active for 9 minutes" and "Due in 3 days" move with the clock.
    this.clock = setInterval(() => tick(this.view), 30_000);
  }

  leave() {
    this.stop();
    clearInterval(this.clock);
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
    // A stage opened on the bar stays open only while the run stays where it was.
    const { selected } = this;
    if (selected && (selected.instance !== instance?.id || selected.active !== instance.activeStage.key)) this.selected = null;
    this.data = data;
    this.fields = new Map(data.entities.find((e) => e.key === data.record.entity).fields.map((f) => [f.key, f]));
    setTitle(data.record.name);
    const state = { ...data, message: this.message, settled: this.settled, notes: [...this.notes], selected: this.selected };
    if (this.reloads.changed(state) || this.focusAfter) this.render();
    this.watch(instance ? instance.id : null, data.lastEventSeq);
    this.nameLookups();
  }

  // Read the names of the records the lookup values point at, each once, in one request;
  // the page shows them once known (until then, and for a record out of sight, the id).
  async nameLookups() {
    const { values } = this.data.record;
    const ids = [...new Set([...this.fields.values()]
      .filter((f) => f.type === "LOOKUP" && values[f.key] != null)
      .map((f) => String(values[f.key])))]
      .filter((id) => !this.names.has(id));
    if (!ids.length) return;
    const query = `query(${ids.map((_, i) => `$r${i}: ID!`).join(", ")}) {
      ${ids.map((_, i) => `r${i}: record(id: $r${i}) { name }`).join(" ")} }`;
    let found;
    try {
      found = await graphql(query, Object.fromEntries(ids.map((id, i) => [`r${i}`, id])));
    } catch {
      return; // the ids stay shown; the next load asks again
    }
    ids.forEach((id, i) => this.names.set(id, found[`r${i}`]?.name ?? null));
    if (!this.left) this.render();
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

  processName(id) {
    return this.data.processes.find((p) => p.id === id)?.name;
  }

  // What the user sees: each change is decided on these versions.
  seen() {
    const instance = this.data.record.activeInstance;
    return { instanceId: instance ? instance.id : null, instance: instance ? instance.version : null, record: this.data.record.version };
  }

  // Open a stage on the bar; opening the current one follows the run again.
  open(key) {
    const instance = this.data.record.activeInstance;
    const active = instance.activeStage.key;
    this.selected = key === active ? null : { key, active, instance: instance.id };
    this.render();
  }

  // A step's value, sent as the user left it; `raw` is what the input showed, kept on a refusal.
  // `entity`: whose record the step's stage works on.
  save(field, value, shown, raw, entity) {
    this.notes.delete(field.key);
    return this.change("completeStep", { field: field.key, value, entity }, this.seen(), shown, raw);
  }

  // The record of the run that `entity`'s stages work on: this page's, or another the run
  // crossed into (null: not reached yet).
  recordOf(instance, entity) {
    if (!entity || entity === this.data.record.entity) return this.data.record;
    return instance.records.find((r) => r.entity === entity)?.record ?? null;
  }

  // Records of `entity` a crossing may link whose names match `search`, as suggestions.
  async linkChoices(entity, search) {
    try {
      const data = await graphql(LINKABLE, { entity, search });
      return data.records.edges.map((e) => e.node);
    } catch {
      return [];
    }
  }

  entityName(key) {
    return this.data.entities.find((e) => e.key === key)?.name || key;
  }

  // Send a change the user made on the view `seen` (the versions the page showed); on a
  // refusal show the server's answer, then show the record as it is. `shown` is the value a
  // step's input showed.
  change(name, input, seen, shown = null, raw = undefined) {
    const move = MOVES.has(name);
    if (move) {
      this.moving += 1;
      for (const button of this.view.querySelectorAll("button[data-move]")) button.setAttribute("aria-disabled", "true");
    }
    this.queue = this.queue.then(async () => {
      let outcome;
      try {
        outcome = await this.send(name, input, seen, shown);
      } catch (error) {
        outcome = { message: error.message };
      }
      if (name === "completeStep") {
        const label = this.fields.get(input.field)?.label || input.field;
        // Whatever kept a value from being saved is said next to its step, which keeps it.
        const error = outcome.invalid || outcome.message;
        this.notes.set(input.field, error ? { error, raw: outcome.theirs ? undefined : raw } : { saved: true });
        announce(error || `${label} saved`);
      } else {
        this.message = outcome.message || "";
        if (!outcome.message) {
          this.focusAfter = FOCUS_AFTER[name];
          announce(outcome.said);
        }
        if (outcome.goTo) {
          if (move) this.moving -= 1;
          location.hash = `#/records/${outcome.goTo}`;
          return;
        }
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
    const { linkRecordId, ...sent } = full;
    const extra = name === "advanceStage" ? { link: linkRecordId || null } : {};
    const result = (await track(mutate(name, MUTATIONS[name], sent, extra)))[name];
    const refusal = refused(result);
    if (!refusal) {
      this.remember(name, sent, recordBase, result.instance);
      return { said: said(name, result.instance), goTo: this.elsewhere(result.instance) };
    }
    if (name === "completeStep" && refusal.currentVersion !== undefined) return this.again(full, shown);
    return this.explain(refusal);
  }

  // After a move across entities: the record the run's active stage now works on, when it
  // is not this page's (the page goes on there, as the bar does).
  elsewhere(instance) {
    const entity = instance?.activeStage?.entity;
    if (!entity || entity === this.data.record.entity) return null;
    const found = instance.records?.find((r) => r.entity === entity)?.record;
    return found && found.id !== this.id ? found.id : null;
  }

  explain(refusal) {
    if (refusal.reason !== undefined && this.fields.has(refusal.field)) {
      return { invalid: refusalOf(this.fields.get(refusal.field), refusal.reason) };
    }
    if (refusal.missingSteps) return { message: gateMessage(refusal) };
    if (refusal.currentVersion !== undefined) return { message: "Someone else changed this record meanwhile; it now shows their change. Try again." };
    return { message: refusal.message };
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
      return { theirs: true, message: `Someone else changed ${this.fields.get(full.field)?.label || full.field} meanwhile; it now shows their value.` };
    }
    const retry = { ...full, expectedVersion: instance.version };
    const result = (await track(mutate("completeStep", MUTATIONS.completeStep, retry))).completeStep;
    const refusal = refused(result);
    if (refusal) return this.explain(refusal);
    this.remember("completeStep", retry, instance.record.version, result.instance);
    return {};
  }

  // A button for a move. It stays focusable when the move cannot be made: while a move is on
  // its way, or when the gate refuses it (`refused` says why, and pressing it leads to the
  // first step still missing).
  moveButton(attrs, name, input, ...label) {
    const { refused: why, ...rest } = attrs;
    const inert = Boolean(why) || this.moving > 0;
    const seen = this.seen();
    return el("button", { type: "button", ...rest, "data-move": true, "aria-disabled": inert ? "true" : false,
      onclick: async (event) => {
        if (event.currentTarget.getAttribute("aria-disabled") === "true") {
          if (why) this.view.querySelector(".step.missing input, .step.missing select")?.focus();
          return;
        }
        const asked = await this.ask(name);
        if (asked === null) return;
        this.change(name, { ...(typeof input === "function" ? input() : input), ...asked }, seen);
      } }, ...label);
  }

  // What a move needs from the user first: a confirmation, or how the run ended. Null: cancelled.
  async ask(name) {
    const { record } = this.data;
    const instance = record.activeInstance;
    if (name === "abandonInstance") {
      const ok = await confirmed({ title: "Abandon the process?", danger: true, confirm: "Abandon",
        text: `${instance.process.name} stops on ${record.name}; its values stay, and it can be reactivated later.` });
      return ok ? {} : null;
    }
    if (name === "switchProcess") {
      const target = this.processName(document.getElementById("switch-process")?.value);
      const ok = await confirmed({ title: "Switch process?", confirm: "Switch",
        text: `${record.name} will run ${target} instead of ${instance.process.name}; the values stay, and ${instance.process.name} keeps its place.` });
      return ok ? {} : null;
    }
    if (name === "finishInstance" && instance.process.outcomes?.length) {
      return chooseOutcome(`${record.name} (${instance.process.name})`, instance.process.outcomes);
    }
    return {};
  }

  render() {
    const { record } = this.data;
    const instance = record.activeInstance;
    const before = document.activeElement;
    const focus = this.focusAfter || before?.id;
    const hadFocus = this.view.contains(before);
    // A value being chosen in the focused input, not yet sent, survives the redraw.
    const pending = hadFocus && before.dataset.field && before.value !== before.dataset.settled ? before.value : null;
    this.focusAfter = null;
    redrawing(() => this.view.replaceChildren(
      el("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, el("a", { href: "#/records" }, "Records"), " / ", el("span", { "aria-current": "page" }, record.name)),
      el("div", { class: "page-head" },
        el("h1", { id: "record-name", tabindex: "-1" }, record.name),
        el("p", { class: "meta" }, `${this.data.entities.find((e) => e.key === record.entity)?.name || record.entity} · owner ${record.owner} · updated ${when(record.updatedAt)}`)),
      instance ? renderProcess(this, instance) : renderNoProcess(this),
      renderDetails(this.fields, this.data.record.values, this.names),
      instance ? renderHistory(instance, this.data.events, (id) => this.processName(id)) : "",
    ));
    if (focus) {
      const target = document.getElementById(focus) || (hadFocus ? document.getElementById("panel-title") : null);
      if (target && pending !== null && target.id === before.id && !target.disabled) target.value = pending;
      target?.focus();
    }
  }

}

// What a move of this page did, as said to screen readers.
function said(name, instance) {
  const stage = instance?.activeStage?.name;
  return {
    advanceStage: `Moved to ${stage}`,
    moveToStage: `Moved back to ${stage}`,
    finishInstance: instance?.outcome ? `Process finished: ${instance.outcome.label}` : "Process finished",
    abandonInstance: "Process abandoned",
    reactivateInstance: `Reactivated on ${stage}`,
    switchProcess: `Switched process; now on ${stage}`,
    startInstance: `Process started on ${stage}`,
  }[name] || "";
}

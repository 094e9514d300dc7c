// A board per process: a lane per stage, a card per record whose process bar shows an active
// run of this process (the records list's filter, so both count the same records). Moving a
// card forward is advanceStage, back is moveToStage, off a last stage finishInstance; the
// server's answer is shown on refusal and focus stays with the card.
import { announce } from "./announce.js";
import { CONFLICT, EVENT_FIELDS, GATE, gateMessage, graphql, live, mutate, refused, RESULT_ERRORS } from "./api.js";
import { card, hold } from "./board-card.js";
import { boardQuery, boardVariables, Lane, laneObserver } from "./board-lanes.js";
import { describe, ifByOthers, track } from "./changes.js";
import { chooseOutcome } from "./dialog.js";
import { el, reloads, titleCase } from "./dom.js";

const PROCESSES = "processes { id name status entity { name } }";
const PROCESS = `query($id: ID!) {
  ${PROCESSES}
  process(id: $id) { id name outcomes { key label reasonRequired }
    entity { key fields { key label type currency } } stages { key name category entity } }
}`;

const CHANGED = `... on InstanceChange { event { seq } } ${RESULT_ERRORS} ${CONFLICT}`;
const MOVES = {
  advanceStage: `mutation($input: InstanceInput!) { advanceStage(input: $input) { ${CHANGED} ${GATE} } }`,
  moveToStage: `mutation($input: MoveToStageInput!) { moveToStage(input: $input) { ${CHANGED} } }`,
  finishInstance: `mutation($input: FinishInstanceInput!) { finishInstance(input: $input) { ${CHANGED} ${GATE} } }`,
};

const CHANGES = `subscription($processId: ID!, $afterSeq: Int) {
  stageChanged(processId: $processId, afterSeq: $afterSeq) { ${EVENT_FIELDS} }
}`;

// Records moved on this page stay in sight in their new lane even past its loaded cards.
const PINNED_MOST = 20;

export async function show(view, [id], { notify }) {
  const { processes, process } = await (id ? graphql(PROCESS, { id }) : graphql(`{ ${PROCESSES} }`));
  if (!id) {
    if (!processes.length) {
      view.replaceChildren(el("h1", {}, "Board"), el("p", {}, "No process is published yet."));
      return undefined;
    }
    location.replace(`#/board/${processes[0].id}`);
    return undefined;
  }
  const picker = el("select", { id: "board-process", "aria-label": "Process" },
    processes.map((p) => el("option", { value: p.id }, `${p.name} (${p.entity.name})`)));
  picker.value = id;
  picker.addEventListener("change", () => { location.hash = `#/board/${picker.value}`; });

  const message = el("p", { class: "refusal", role: "alert" });
  const status = el("p", { class: "status", role: "status" });
  const columns = el("div", { class: "board", role: "region", "aria-label": "Stages", tabindex: "0" });
  view.replaceChildren(el("div", { class: "page-head" }, el("h1", {}, "Board"), picker), status, message, columns);
  if (!process) {
    status.textContent = "This process does not exist.";
    return undefined;
  }

  const names = new Map(process.stages.map((s) => [s.key, s.name]));
  const fields = process.entity.fields;
  const observer = laneObserver();
  const report = (text) => { message.textContent = text; };
  const draw = (record) => {
    const node = card(record, { fields, names, act });
    hold(node, moving.has(record.activeInstance.id));
    return node;
  };
  const lanes = process.stages.map((stage) => new Lane({
    processId: id, key: stage.key, entity: stage.entity, name: stage.name, draw, report, observer, drop,
    category: stage.name.toLowerCase() === stage.category.toLowerCase() ? "" : titleCase(stage.category),
  }));
  columns.replaceChildren(...lanes.map((lane) => lane.node));
  const acrossEntities = new Set(process.stages.map((stage) => stage.entity)).size > 1;

  // Cards whose move is on its way: their controls refuse, so a second click or drop is
  // not a second move.
  const moving = new Set();
  const pinned = [];
  const board = reloads(["lastEventSeq"]);

  async function load() {
    const newest = board.ask();
    const pins = [...pinned];
    const variables = boardVariables(id, lanes);
    pins.forEach((recordId, i) => { variables[`p${i}`] = recordId; });
    let data;
    try {
      data = await graphql(boardQuery(lanes, pins.length), variables);
    } catch (error) {
      status.textContent = `Could not load the board: ${error.message}`;
      return null;
    }
    if (!newest() || !board.changed(data)) return data;
    const kept = focused();
    lanes.forEach((lane, i) => lane.fill(data[`l${i}`]));
    pins.forEach((recordId, i) => {
      const record = data[`p${i}`];
      const run = record?.activeInstance;
      const lane = run?.status === "ACTIVE" && run.process.id === id && lanes.find((l) => l.key === run.activeStage.key);
      if (lane) lane.pin(record);
      else pinned.splice(pinned.indexOf(recordId), 1);
    });
    const carded = lanes.reduce((sum, lane) => sum + lane.total, 0);
    // Across entities, an instance shows on each of its records, and is one card: the
    // count is the cards'.
    const all = acrossEntities ? carded : data.all.totalCount;
    const elsewhere = all - carded;
    status.textContent = `${all} active ${all === 1 ? "record" : "records"}` +
      (elsewhere > 0 ? ` (${elsewhere} on stages of older versions, shown on their records)` : "");
    if (kept) refocus(kept);
    return data;
  }

  function cardOf(instanceId) {
    return columns.querySelector(`.card[data-instance="${CSS.escape(instanceId)}"]`);
  }

  function recordOf(instanceId) {
    for (const lane of lanes) {
      const found = lane.records.find((r) => r.activeInstance.id === instanceId);
      if (found) return { record: found, lane };
    }
    return {};
  }

  // Which card control has focus, to give it back after the cards are drawn again.
  function focused() {
    const active = document.activeElement;
    const node = active?.closest?.(".card");
    if (!node || !columns.contains(node)) return null;
    return { instanceId: node.dataset.instance, kind: active.dataset.move ?? (active.tagName === "A" ? "link" : null) };
  }

  // The same control on the card wherever it is now; else its main move; else the card.
  function refocus({ instanceId, kind }, lane = null) {
    const node = cardOf(instanceId);
    if (!node) {
      lane?.node.focus();
      return;
    }
    const same = kind === "link" ? node.querySelector("a") : kind && node.querySelector(`[data-move="${kind}"]`);
    (same || node.querySelector('[data-move="advance"], [data-move="finish"]') || node).focus();
  }

  // `kind` is the control the user moved with: "advance", "finish" or "back" (to `target`).
  function act(kind, record, target) {
    if (kind === "advance") return send(kind, "advanceStage", record, {});
    if (kind === "finish") return finish(record);
    if (!target) {
      message.textContent = `Choose the stage to move ${record.name} back to, then Move back.`;
      cardOf(record.activeInstance.id)?.querySelector('[data-move="choice"]')?.focus();
      return undefined;
    }
    return send(kind, "moveToStage", record, { stage: target });
  }

  // Finishing, in one place: a process that declares outcomes asks which, and why where
  // the outcome asks for a reason.
  async function finish(record) {
    let how = {};
    if (process.outcomes.length) {
      how = await chooseOutcome(`${record.name} (${process.name})`, process.outcomes);
      if (how === null) return undefined;
    }
    return send("finish", "finishInstance", record, how);
  }

  // A card dropped on a lane: back along its path, or forward to where branching leads.
  function drop(instanceId, key) {
    const { record } = recordOf(instanceId);
    if (!record) return undefined;
    const run = record.activeInstance;
    if (key === run.activeStage.key) return undefined;
    if (run.path.some((s) => s.key === key)) return act("back", record, key);
    if (key === run.nextStage?.key) return act("advance", record, null);
    message.textContent = run.nextStage
      ? `${record.name} can only go forward to ${names.get(run.nextStage.key) || run.nextStage.name}, the stage its values lead to.`
      : `${record.name} is on its last stage; finish it instead.`;
    return undefined;
  }

  // A move made on the card as the user saw it (its version).
  async function send(kind, name, record, input) {
    const instanceId = record.activeInstance.id;
    if (moving.has(instanceId)) return;
    message.textContent = "";
    const { lane: from } = recordOf(instanceId);
    moving.add(instanceId);
    holdCard(instanceId, true);
    let done = false;
    try {
      const result = (await track(mutate(name, MOVES[name], { instanceId, expectedVersion: record.activeInstance.version, ...input })))[name];
      const refusal = refused(result);
      if (refusal) {
        message.textContent = `${record.name}: ${refusal.missingSteps ? gateMessage(refusal) : refusal.message}`;
      } else {
        done = true;
        if (kind !== "finish") pin(record.id);
      }
    } catch (error) {
      message.textContent = `${record.name}: ${error.message}`;
    }
    moving.delete(instanceId);
    await load();
    // An unchanged board is not drawn again: free the card where it is.
    holdCard(instanceId, false);
    refocus({ instanceId, kind }, from);
    if (done) {
      const { lane } = recordOf(instanceId);
      announce(kind === "finish" ? `${record.name} finished` : `${record.name} moved to ${lane ? lane.name : "another stage"}`);
    }
  }

  function pin(recordId) {
    if (!pinned.includes(recordId)) pinned.push(recordId);
    if (pinned.length > PINNED_MOST) pinned.shift();
  }

  function holdCard(instanceId, busy) {
    const node = cardOf(instanceId);
    if (node) hold(node, busy);
  }

  const first = await load();
  if (!first) return undefined;
  let timer = null;
  const stop = live.subscribe(CHANGES, { processId: id, afterSeq: first.lastEventSeq }, {
    onEvent(event) {
      ifByOthers(event, () => notify(describe(event, (key) => names.get(key) || key)));
      clearTimeout(timer);
      timer = setTimeout(load, 100);
    },
    onReset: load,
  });
  return () => {
    observer.disconnect();
    stop();
  };
}

// A board per process: a column per stage, a card per active instance. Moving a card
// forward is advanceStage and back is moveToStage; the server's answer is shown on refusal.
import { CONFLICT, EVENT_FIELDS, GATE, gateMessage, graphql, live, mutate, refused, RESULT_ERRORS } from "./api.js";
import { describe, ifByOthers, track } from "./changes.js";
import { days, el, reloads, titleCase } from "./dom.js";

const PROCESSES = `{ processes { id name status entity { name } } }`;

const BOARD = `query($process: ID!, $id: ID!) {
  lastEventSeq
  process(id: $id) { id name stages { key name category } }
  instances(processId: $process, status: ACTIVE, first: 100) {
    totalCount
    edges { node {
      id version activeSince canAdvance
      activeStage { key name }
      nextStage { key name }
      path { key }
      record { id name owner }
    } }
  }
}`;

const MOVES = {
  advanceStage: `mutation($input: InstanceInput!) { advanceStage(input: $input) {
    ... on InstanceChange { event { seq } } ${RESULT_ERRORS} ${CONFLICT} ${GATE} } }`,
  moveToStage: `mutation($input: MoveToStageInput!) { moveToStage(input: $input) {
    ... on InstanceChange { event { seq } } ${RESULT_ERRORS} ${CONFLICT} } }`,
};

const CHANGES = `subscription($processId: ID!, $afterSeq: Int) {
  stageChanged(processId: $processId, afterSeq: $afterSeq) { ${EVENT_FIELDS} }
}`;

export async function show(view, [id], { notify }) {
  const { processes } = await graphql(PROCESSES);
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
  const columns = el("div", { class: "board" });
  const status = el("p", { class: "status", role: "status" });
  view.replaceChildren(el("div", { class: "page-head" }, el("h1", {}, "Board"), picker), status, message, columns);

  let names = new Map();
  let cards = new Map();
  // Cards whose move is on its way: their controls stay disabled, so a second click or drop
  // is not a second move.
  const moving = new Set();
  const board = reloads(["lastEventSeq"]);

  async function load() {
    const newest = board.ask();
    let data;
    try {
      data = await graphql(BOARD, { process: id, id });
    } catch (error) {
      status.textContent = `Could not load the board: ${error.message}`;
      return null;
    }
    if (!data.process) {
      status.textContent = "This process does not exist.";
      return null;
    }
    if (!newest() || !board.changed(data)) return data;
    names = new Map(data.process.stages.map((s) => [s.key, s.name]));
    const instances = data.instances.edges.map((e) => e.node);
    cards = new Map(instances.map((i) => [i.id, i]));
    const known = new Set(names.keys());
    const stray = instances.filter((i) => !known.has(i.activeStage.key));
    const lanes = data.process.stages.map((stage) =>
      column(stage.key, stage.name, stage.name.toLowerCase() === stage.category.toLowerCase() ? "" : titleCase(stage.category), instances.filter((i) => i.activeStage.key === stage.key)));
    // Instances still on an older version's stage the current version lacks.
    if (stray.length) lanes.push(column("", "Other stages", "older versions", stray));
    columns.replaceChildren(...lanes);
    const shown = data.instances.totalCount;
    status.textContent = `${shown} active ${shown === 1 ? "record" : "records"}${shown > instances.length ? ` (first ${instances.length} shown)` : ""}`;
    return data;
  }

  function column(key, name, category, instances) {
    const list = el("ul", { class: "cards", "aria-label": name }, instances.map(card));
    const lane = el("section", { class: "column", "data-stage": key },
      el("h2", {}, name, " ", el("span", { class: "count", "aria-label": `${instances.length} records` }, String(instances.length))),
      category ? el("p", { class: "category" }, category) : "",
      list);
    lane.addEventListener("dragover", (event) => {
      if (key) event.preventDefault();
    });
    lane.addEventListener("drop", (event) => {
      event.preventDefault();
      const instance = cards.get(event.dataTransfer.getData("text/plain"));
      if (instance) move(instance, key);
    });
    return lane;
  }

  function card(instance) {
    const back = instance.path.slice(0, -1).reverse();
    const choice = el("select", { "aria-label": `Move ${instance.record.name} back to` },
      el("option", { value: "" }, "Back to…"), back.map((s) => el("option", { value: s.key }, names.get(s.key) || s.key)));
    choice.addEventListener("change", () => choice.value && move(instance, choice.value));
    const node = el("li", { class: "card", draggable: "true", "data-instance": instance.id,
      ondragstart: (event) => event.dataTransfer.setData("text/plain", instance.id) },
      el("a", { href: `#/records/${instance.record.id}` }, instance.record.name),
      el("p", { class: "meta" }, `${instance.record.owner} · ${days(instance.activeSince)} here`),
      el("div", { class: "card-actions" },
        el("button", { type: "button", "aria-label": `Advance ${instance.record.name}`, onclick: () => move(instance, instance.nextStage?.key ?? null) },
          instance.nextStage ? `→ ${instance.nextStage.name}` : "Last stage"),
        back.length ? choice : ""));
    hold(node, moving.has(instance.id));
    return node;
  }

  function hold(node, busy) {
    node.setAttribute("aria-busy", String(busy));
    node.draggable = !busy;
    for (const control of node.querySelectorAll("button, select")) control.disabled = busy;
  }

  function holdCard(instanceId, busy) {
    for (const node of columns.querySelectorAll(".card")) {
      if (node.dataset.instance === instanceId) hold(node, busy);
    }
  }

  // Forward to the stage branching picks is an advance; back along the path is a move.
  // Either is made on the card as the user saw it (its version).
  async function move(instance, target) {
    const instanceId = instance.id;
    if (moving.has(instanceId)) return;
    message.textContent = "";
    let name;
    const input = { instanceId, expectedVersion: instance.version };
    if (target !== null && instance.path.some((s) => s.key === target) && target !== instance.activeStage.key) {
      name = "moveToStage";
      input.stage = target;
    } else if (target === null || target === instance.nextStage?.key) {
      name = "advanceStage";
    } else if (target === instance.activeStage.key) {
      return;
    } else {
      const next = instance.nextStage ? names.get(instance.nextStage.key) || instance.nextStage.name : null;
      message.textContent = next
        ? `${instance.record.name} can only go forward to ${next}, the stage its values lead to.`
        : `${instance.record.name} is on its last stage; finish it from the record.`;
      return;
    }
    moving.add(instanceId);
    holdCard(instanceId, true);
    try {
      const result = (await track(mutate(name, MOVES[name], input)))[name];
      const refusal = refused(result);
      if (refusal) {
        message.textContent = refusal.missingSteps
          ? `${instance.record.name}: ${gateMessage(refusal)}`
          : `${instance.record.name}: ${refusal.message}`;
      }
    } catch (error) {
      message.textContent = `${instance.record.name}: ${error.message}`;
    }
    moving.delete(instanceId);
    await load();
    // An unchanged board is not drawn again: free the card where it is.
    holdCard(instanceId, false);
  }

  const first = await load();
  if (!first) return undefined;
  let timer = null;
  return live.subscribe(CHANGES, { processId: id, afterSeq: first.lastEventSeq }, {
    onEvent(event) {
      ifByOthers(event, () => notify(describe(event, (key) => names.get(key) || key)));
      clearTimeout(timer);
      timer = setTimeout(load, 100);
    },
    onReset: load,
  });
}

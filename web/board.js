// A board per process: a column per stage, a card per active instance. Moving a card
// forward is advanceStage and back is moveToStage; the server's answer is shown on refusal.
import { CONFLICT, EVENT_FIELDS, GATE, gateMessage, graphql, live, refused, RESULT_ERRORS } from "./api.js";
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
      move(event.dataTransfer.getData("text/plain"), key);
    });
    return lane;
  }

  function card(instance) {
    const back = instance.path.slice(0, -1).reverse();
    const choice = el("select", { "aria-label": `Move ${instance.record.name} back to` },
      el("option", { value: "" }, "Back to…"), back.map((s) => el("option", { value: s.key }, names.get(s.key) || s.key)));
    choice.addEventListener("change", () => choice.value && move(instance.id, choice.value));
    return el("li", { class: "card", draggable: "true", "data-instance": instance.id,
      ondragstart: (event) => event.dataTransfer.setData("text/plain", instance.id) },
      el("a", { href: `#/records/${instance.record.id}` }, instance.record.name),
      el("p", { class: "meta" }, `${instance.record.owner} · ${days(instance.activeSince)} here`),
      el("div", { class: "card-actions" },
        el("button", { type: "button", "aria-label": `Advance ${instance.record.name}`, onclick: () => move(instance.id, instance.nextStage?.key ?? null) },
          instance.nextStage ? `→ ${instance.nextStage.name}` : "Last stage"),
        back.length ? choice : ""));
  }

  // Forward to the stage branching picks is an advance; back along the path is a move.
  async function move(instanceId, target) {
    const instance = cards.get(instanceId);
    if (!instance) return;
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
    try {
      const result = (await track(graphql(MOVES[name], { input })))[name];
      const refusal = refused(result);
      if (refusal) {
        message.textContent = refusal.missingSteps
          ? `${instance.record.name}: ${gateMessage(refusal)}`
          : `${instance.record.name}: ${refusal.message}`;
      }
          } catch (error) {
      message.textContent = error.message;
    }
    await load();
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

// The records of an entity: search and filters, a new record started on a process.
import { EVENT_FIELDS, graphql, live, mutate, refused, RESULT_ERRORS } from "./api.js";
import { describe, ifByOthers, track } from "./changes.js";
import { dueIn, el, elapsed, reloads, titleCase, when } from "./dom.js";

const CATALOG = `{
  entities { key name }
  processes { id name status entity { key } stages { key name } }
}`;

const RECORDS = `query($entity: String, $search: String, $owner: String, $process: ID,
                      $stage: String, $status: InstanceStatus, $overdue: Boolean, $after: String) {
  lastEventSeq
  records(entity: $entity, search: $search, owner: $owner, processId: $process, stage: $stage,
          status: $status, overdue: $overdue, first: 25, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name owner updatedAt
      activeInstance { id status activeSince dueAt overdue process { id name } activeStage { key name } }
    } }
  }
}`;

const CREATE = `mutation($input: CreateRecordInput!) {
  createRecord(input: $input) {
    ... on RecordCreated { record { id } event { seq } }
    ${RESULT_ERRORS}
  }
}`;

const START = `mutation($input: StartInstanceInput!) {
  startInstance(input: $input) {
    ... on InstanceStarted { instance { id } event { seq } }
    ${RESULT_ERRORS}
  }
}`;

const CHANGES = `subscription($afterSeq: Int) { stageChanged(afterSeq: $afterSeq) { ${EVENT_FIELDS} } }`;

// Filters survive a visit to a record and back.
const filters = { entity: "opportunity", search: "", process: "", stage: "", status: "", overdue: "", owner: "" };

export async function show(view, _params, { notify }) {
  const catalog = await graphql(CATALOG);
  if (!catalog.entities.some((e) => e.key === filters.entity)) filters.entity = catalog.entities[0]?.key || "";
  const stageNames = new Map(catalog.processes.flatMap((p) => p.stages.map((s) => [`${p.id}:${s.key}`, s.name])));

  const status = el("p", { class: "status", role: "status", tabindex: -1 }, "Loading…");
  const retry = el("button", { type: "button", class: "retry", hidden: true }, "Try again");
  const rows = el("tbody");
  const more = el("button", { type: "button", class: "more", hidden: true }, "Show more");
  const form = filterForm(catalog, () => load());
  let after = null;
  const list = reloads();

  async function load(append = false) {
    const newest = list.ask();
    if (!append) after = null;
    const variables = { entity: filters.entity, after };
    for (const key of ["search", "owner", "process", "stage", "status"]) variables[key] = filters[key] || null;
    variables.overdue = filters.overdue === "" ? null : filters.overdue === "true";
    try {
      const { records, lastEventSeq } = await graphql(RECORDS, variables);
      // Filters changed while this was on its way: a newer answer is coming.
      if (!newest()) return lastEventSeq;
      const items = records.edges.map((edge) => recordRow(edge.node));
      if (append) rows.append(...items);
      else rows.replaceChildren(...items);
      after = records.pageInfo.endCursor;
      more.hidden = !records.pageInfo.hasNextPage;
      status.textContent = `${records.totalCount} ${records.totalCount === 1 ? "record" : "records"}`;
      recovered();
      return lastEventSeq;
    } catch (error) {
      if (!newest()) return null;
      status.textContent = `Could not load records: ${error.message}`;
      // The rows shown were found for other filters: left there, they would pass for the
      // answer to these.
      if (!append) {
        rows.replaceChildren();
        more.hidden = true;
      }
      retry.hidden = false;
      return null;
    }
  }
  // The button goes with the error; focus on it moves to the count that replaced the error.
  function recovered() {
    if (retry.hidden) return;
    const focused = document.activeElement === retry;
    retry.hidden = true;
    if (focused) status.focus();
  }
  retry.addEventListener("click", () => load());
  more.addEventListener("click", () => load(true));

  view.replaceChildren(
    el("div", { class: "page-head" }, el("h1", {}, "Records"), newRecordForm(catalog)),
    form,
    el("div", { class: "records-status" }, status, retry),
    el("table", { class: "records" },
      el("thead", {}, el("tr", {},
        ["Name", "Process", "Stage", "Status", "Owner", "Updated"].map((h) => el("th", { scope: "col" }, h)))),
      rows),
    more,
  );
  const afterSeq = await load();

  let timer = null;
  return live.subscribe(CHANGES, { afterSeq }, {
    onEvent(event) {
      ifByOthers(event, () => notify(describe(event, (key) => stageNames.get(`${event.processId}:${key}`) || key)));
      clearTimeout(timer);
      timer = setTimeout(() => load(), 100);
    },
    onReset: () => load(),
  });
}

// Each cell carries its column's name, shown beside it where the columns stack (narrow screens).
function recordRow(record) {
  const instance = record.activeInstance;
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  return el("tr", { "data-record": record.id },
    cell("Name", el("a", { href: `#/records/${record.id}` }, record.name)),
    cell("Process", instance ? instance.process.name : "—"),
    cell("Stage", instance
      ? [instance.activeStage.name, instance.status === "ACTIVE" ? el("small", {}, ` for ${elapsed(instance.activeSince)}`) : "", overdueTag(instance)]
      : "—"),
    cell("Status", instance ? titleCase(instance.status) : "No process"),
    cell("Owner", record.owner),
    cell("Updated", when(record.updatedAt)),
  );
}

// "Overdue by 2 days", said after the stage of a record past its stay's due.
function overdueTag(instance) {
  if (instance.status !== "ACTIVE" || !instance.dueAt) return "";
  const { late, text } = dueIn(instance.dueAt, { overdue: instance.overdue });
  return late ? el("span", { class: "overdue-tag" }, ` ${text}`) : "";
}

function select(name, label, options, value) {
  const input = el("select", { id: `filter-${name}`, name },
    options.map(([key, text]) => el("option", { value: key }, text)));
  input.value = value;
  return el("label", { for: `filter-${name}` }, label, input);
}

function filterForm(catalog, reload) {
  const form = el("form", { class: "filters", role: "search", "aria-label": "Filter records" });
  function render() {
    const processes = catalog.processes.filter((p) => p.entity.key === filters.entity);
    const process = processes.find((p) => p.id === filters.process);
    form.replaceChildren(
      select("entity", "Entity", catalog.entities.map((e) => [e.key, e.name]), filters.entity),
      el("label", { for: "filter-search" }, "Search",
        el("input", { id: "filter-search", name: "search", type: "search", maxlength: 200, value: filters.search, placeholder: "Name contains…" })),
      select("process", "Process", [["", "Any process"], ...processes.map((p) => [p.id, p.name])], filters.process),
      select("stage", "Stage", [["", "Any stage"], ...(process ? process.stages.map((s) => [s.key, s.name]) : [])], filters.stage),
      select("status", "Status", [["", "Any status"], ["ACTIVE", "Active"], ["FINISHED", "Finished"], ["ABANDONED", "Abandoned"]], filters.status),
      select("overdue", "Overdue", [["", "Either"], ["true", "Overdue"], ["false", "Not overdue"]], filters.overdue),
      el("label", { for: "filter-owner" }, "Owner",
        el("input", { id: "filter-owner", name: "owner", maxlength: 200, value: filters.owner, placeholder: "Anyone" })),
    );
    form.querySelector("#filter-stage").disabled = !process;
  }
  let typing = null;
  form.addEventListener("input", (event) => {
    const { name, value } = event.target;
    filters[name] = value;
    if (name === "entity") Object.assign(filters, { process: "", stage: "" });
    if (name === "process") filters.stage = "";
    if (name === "entity" || name === "process") render();
    clearTimeout(typing);
    typing = setTimeout(reload, event.target.tagName === "INPUT" ? 250 : 0);
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  render();
  return form;
}

function newRecordForm(catalog) {
  const message = el("p", { class: "form-message", role: "alert" });
  const name = el("input", { id: "new-name", name: "name", required: true, maxlength: 200 });
  const entity = el("select", { id: "new-entity", name: "entity" },
    catalog.entities.map((e) => el("option", { value: e.key }, e.name)));
  entity.value = filters.entity;
  const process = el("select", { id: "new-process", name: "process" });
  function offer() {
    const active = catalog.processes.filter((p) => p.entity.key === entity.value && p.status === "ACTIVE");
    process.replaceChildren(...active.map((p) => el("option", { value: p.id }, p.name)),
      el("option", { value: "" }, "No process"));
  }
  entity.addEventListener("change", offer);
  offer();

  const submit = el("button", { type: "submit" }, "Create record");
  const form = el("form", { class: "new-record", "aria-label": "New record" },
    el("label", { for: "new-entity" }, "Entity", entity),
    el("label", { for: "new-name" }, "Name", name),
    el("label", { for: "new-process" }, "Process", process),
    submit,
    message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // One record per submission, however often the button is pressed meanwhile.
    if (submit.disabled) return;
    submit.disabled = true;
    message.textContent = "";
    try {
      const created = (await track(mutate("createRecord", CREATE, { entity: entity.value, name: name.value }))).createRecord;
      if (refused(created)) {
        message.textContent = created.message;
        return;
      }
      const id = created.record.id;
      if (process.value) {
        const started = (await track(mutate("startInstance", START, { recordId: id, processId: process.value }))).startInstance;
        if (refused(started)) message.textContent = started.message;
      }
      location.hash = `#/records/${id}`;
    } catch (error) {
      message.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

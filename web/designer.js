// The process designer: the list of processes, drafts and ready-to-use templates, and the
// editor of one process. The editor works on the definition in its file form; the server
// validates it and answers with problems whose paths point at the parts they concern.
import { graphql, mutate, refused } from "./api.js";
import { el, fieldInput, titleCase, when } from "./dom.js";

const CATEGORIES = ["QUALIFY", "DEVELOP", "PROPOSE", "CLOSE", "IDENTIFY", "RESEARCH", "RESOLVE", "APPROVAL"];
const FIELD_TYPES = ["TEXT", "NUMBER", "MONEY", "DATE", "BOOLEAN", "CHOICE", "USER"];
const OPERATORS = [
  ["eq", "equals"],
  ["ne", "does not equal"],
  ["gt", "is greater than"],
  ["gte", "is at least"],
  ["lt", "is less than"],
  ["lte", "is at most"],
  ["in", "is one of"],
  ["contains", "contains"],
  ["is_set", "is filled in"],
];
const CONDITION_KINDS = [
  ["compare", "A comparison"],
  ["all", "All of these hold"],
  ["any", "Any of these holds"],
  ["not", "Not"],
];
// As the server checks them: lowercase letters, digits, - or _, starting with a letter.
const KEY_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
const KEY_PATTERN_HTML = "[a-z][a-z0-9_\\-]{0,63}";
// The canonical order of a stage's parts in the file form.
const STAGE_KEYS = ["key", "name", "category", "guidance", "steps", "next", "branches"];

const PROBLEMS = "problems { path message }";
const DRAFT = `processId key name entity status definition version basedOn updatedAt updatedBy ${PROBLEMS}`;
const FIELDS = "key label type choices";
const DRAFT_REFUSALS = `... on Error { message }
  ... on InvalidDefinition { ${PROBLEMS} }
  ... on VersionConflict { currentVersion }`;

const LIST_QUERY = `query DesignerList {
  processes { id key name status version roles entity { key name } draft { version updatedAt updatedBy } }
  drafts { processId key name entity basedOn updatedAt updatedBy problems { path } }
  templates { key name entity description definition }
  entities { key name }
}`;
const EDIT_QUERY = `query DesignerEdit($id: ID!) {
  design(processId: $id) { ${DRAFT} }
  entities { key name fields { ${FIELDS} } }
}`;
const CHECK_QUERY = `query DesignerCheck($id: ID!) { design(processId: $id) { ${DRAFT} } }`;
const CREATE = `mutation DesignerCreate($input: CreateProcessInput!) {
  createProcess(input: $input) { ... on ProcessDraftSaved { draft { processId } } ${DRAFT_REFUSALS} }
}`;
const UPDATE = `mutation DesignerSave($input: UpdateProcessInput!) {
  updateProcess(input: $input) { ... on ProcessDraftSaved { draft { ${DRAFT} } } ${DRAFT_REFUSALS} }
}`;
const DISCARD = `mutation DesignerDiscard($input: DraftInput!) {
  discardDraft(input: $input) { ... on ProcessDraftSaved { draft { ${DRAFT} } } ${DRAFT_REFUSALS} }
}`;
const PUBLISH = `mutation DesignerPublish($input: DraftInput!) {
  publishProcess(input: $input) { ... on ProcessPublished { process { id version status } } ${DRAFT_REFUSALS} }
}`;
const SAVE_FIELD = `mutation DesignerSaveField($input: SaveFieldInput!) {
  saveField(input: $input) {
    ... on FieldSaved { entity { key name fields { ${FIELDS} } } }
    ... on Error { message }
    ... on InvalidDefinition { ${PROBLEMS} }
  }
}`;

const SET_ROLES = `mutation DesignerSetRoles($id: ID!, $roles: [String!]!) {
  setProcessRoles(processId: $id, roles: $roles) { ... on ProcessRolesSet { process { id roles } } ... on Error { message } }
}`;

// Offer a process for new records again, or stop offering it; the result union's member.
async function setProcessActive(processId, active) {
  const name = active ? "activateProcess" : "deactivateProcess";
  const query = `mutation DesignerSetActive($id: ID!) {
    ${name}(processId: $id) { ... on ProcessStatusChanged { process { id status } } ... on Error { message } }
  }`;
  return (await graphql(query, { id: processId }))[name];
}

// Who may run a process as people read it; an empty list lets everyone.
function whoMayRun(roles) {
  return roles.length ? roles.join(", ") : "Everyone";
}

let counter = 0;
const nextId = (name) => `designer-${name}-${++counter}`;

export async function show(container, [processId] = [], { notify = () => {} } = {}) {
  const root = el("div", { class: "designer" });
  container.append(root);
  const view = { alive: true };
  const editor = processId === undefined ? null : new Editor(root, processId, notify, view);
  try {
    if (editor) await editor.load();
    else await showList(root, view);
  } catch (error) {
    const text = error.code === "FORBIDDEN" ? "Designing processes takes a designer or an admin account." : error.message;
    if (view.alive) root.replaceChildren(el("h1", {}, "Process designer"), el("p", { class: "d-alert", role: "alert" }, text));
  }
  return () => {
    view.alive = false;
    editor?.leave();
  };
}

// A key as the server accepts it, made of the words of a name.
function slug(text, separator) {
  const words = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().match(/[a-z0-9]+/g) ?? [];
  let key = words.join(separator);
  if (key && !/^[a-z]/.test(key)) key = `k${separator}${key}`;
  return key.slice(0, 64).replace(/[-_]+$/, "");
}

// A labelled control, wrapped in the element that carries its path for problems.
// A quiet label is there for screen readers only.
function control(label, input, path, hint, { quiet = false } = {}) {
  input.id ||= nextId("input");
  const hintNode = hint && el("p", { class: "d-hint", id: nextId("hint") }, hint);
  if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
  return el("div", { class: "d-control", "data-path": path },
    el("label", { for: input.id, class: quiet ? "d-sr" : null }, label), input, hintNode);
}

function checkbox(label, checked, path, onchange) {
  const input = el("input", { type: "checkbox", checked, onchange: () => onchange(input.checked) });
  return el("div", { class: "d-control d-check", "data-path": path }, el("label", {}, input, ` ${label}`));
}

function button(text, onclick, attrs = {}) {
  return el("button", { type: "button", onclick, ...attrs }, text);
}

function textarea(value, attrs) {
  const node = el("textarea", attrs);
  node.value = value ?? "";
  return node;
}

// Messages from the server next to what they concern (the element whose data-path is the
// problem's path, else its nearest ancestor), and all of them in a summary at the top; a
// form's summary (`looseOnly`) lists those that concern nothing in it.
function placeProblems(root, problems, summary, { stale = false, checked = false, looseOnly = false } = {}) {
  for (const node of root.querySelectorAll(".d-problem")) node.remove();
  for (const node of root.querySelectorAll(".d-has-problem")) node.classList.remove("d-has-problem");
  for (const node of root.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    const described = (node.getAttribute("aria-describedby") ?? "").split(" ").filter((id) => !id.startsWith("designer-problem"));
    if (described.length) node.setAttribute("aria-describedby", described.join(" "));
    else node.removeAttribute("aria-describedby");
  }
  const byPath = new Map([...root.querySelectorAll("[data-path]")].map((node) => [node.dataset.path, node]));
  const items = problems.map((problem) => {
    const target = stale ? null : closest(byPath, problem.path);
    if (!target) return el("li", { class: "d-loose" }, where(problem.path), problem.message);
    const message = el("p", { class: "d-problem", id: nextId("problem") }, problem.message);
    target.classList.add("d-has-problem");
    const slot = target.querySelector(":scope > .d-slot");
    if (slot) slot.append(message);
    else target.append(message);
    const input = target.matches(".d-control") && target.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), message.id].filter(Boolean).join(" "));
    }
    const focusable = input || target;
    return el("li", {}, where(problem.path), problem.message, " ",
      button("Show", () => {
        if (!input) focusable.setAttribute("tabindex", "-1");
        focusable.scrollIntoView({ block: "center" });
        focusable.focus();
      }, { class: "d-link", "aria-label": `Show: ${problem.message}` }));
  });
  if (looseOnly) {
    const loose = items.filter((item) => item.matches(".d-loose"));
    summary.hidden = loose.length === 0;
    summary.replaceChildren(el("ul", {}, loose));
    return;
  }
  if (problems.length === 0) {
    summary.replaceChildren(checked ? el("p", { class: "d-ok" }, "No problems: the draft can be published.") : "");
    summary.hidden = !checked;
    return;
  }
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  const heading = stale
    ? `${count} at the last check; validate again to see them next to what they concern`
    : `${count} to fix before publishing`;
  summary.hidden = false;
  summary.replaceChildren(el("h2", {}, heading), el("ul", {}, items));
}

function closest(byPath, path) {
  for (let at = path; at; at = at.replace(/(\.[^.[]+|\[\d+\])$/, "")) {
    if (byPath.has(at)) return byPath.get(at);
    if (!/(\.[^.[]+|\[\d+\])$/.test(at)) break;
  }
  return null;
}

// Where a problem is, as people read it: "Stage 2, step 1, field: ".
function where(path) {
  if (!path) return "";
  const words = { name: "name", key: "key", category: "category", guidance: "guidance", steps: "steps", field: "field",
    required: "required", next: "default next stage", branches: "branches", to: "target stage", when: "condition",
    description: "description", entity: "entity", stages: "stages", not: "not" };
  const parts = [...path.matchAll(/([a-z_]+)(?:\[(\d+)\])?/g)].map(([, name, index]) => {
    const single = { stages: "stage", steps: "step", branches: "branch", all: "item", any: "item" }[name];
    if (index !== undefined && single) return `${single} ${Number(index) + 1}`;
    return words[name] ?? name;
  });
  const text = parts.join(", ");
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}: `;
}

// ---- The list: processes, drafts, templates, and starting a new process ----

async function showList(root, view) {
  const data = await graphql(LIST_QUERY);
  if (!view.alive) return;
  const entityNames = new Map(data.entities.map((entity) => [entity.key, entity.name]));
  const status = el("p", { class: "d-status", role: "status" });

  const setActive = async (process, active, target) => {
    target.disabled = true;
    try {
      const result = await setProcessActive(process.id, active);
      const error = refused(result);
      if (error) status.textContent = error.message;
      else {
        process.status = result.process.status;
        status.textContent = `${process.name} is now ${process.status.toLowerCase()}.`;
        target.replaceWith(activeButton(process));
        target.closest("tr")?.querySelector(".d-badge")?.replaceWith(badge(process.status));
      }
    } catch (error) {
      status.textContent = error.message;
    } finally {
      target.disabled = false;
    }
  };
  const activeButton = (process) => {
    const active = process.status !== "ACTIVE";
    const node = button(active ? "Activate" : "Deactivate", () => setActive(process, active, node),
      { "aria-label": `${active ? "Activate" : "Deactivate"} ${process.name}` });
    return node;
  };

  // The roles that may run a process, changed in place: comma-separated, empty for everyone.
  const rolesForm = (process) => {
    const input = el("input", { id: nextId("roles"), value: process.roles.join(", "), placeholder: "e.g. sales, finance",
      autocomplete: "off", spellcheck: "false", "aria-describedby": "designer-roles-hint" });
    const now = el("span", { class: "d-roles-now" }, whoMayRun(process.roles));
    const form = el("form", { class: "d-roles", "aria-label": `Who may run ${process.name}` },
      now,
      el("label", { for: input.id, class: "d-sr" }, `Roles that may run ${process.name}`),
      input,
      el("button", { type: "submit", "aria-label": `Set who may run ${process.name}` }, "Set"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const submit = form.querySelector("button");
      submit.disabled = true;
      try {
        const roles = input.value.split(",").map((role) => role.trim()).filter(Boolean);
        const result = (await graphql(SET_ROLES, { id: process.id, roles })).setProcessRoles;
        const error = refused(result);
        if (error) status.textContent = `${process.name}: ${error.message}`;
        else {
          process.roles = result.process.roles;
          input.value = process.roles.join(", ");
          now.textContent = whoMayRun(process.roles);
          status.textContent = process.roles.length
            ? `${process.name} may now be run by: ${process.roles.join(", ")}.`
            : `${process.name} may now be run by everyone.`;
        }
      } catch (error) {
        status.textContent = error.message;
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  };

  const processes = data.processes.length
    ? el("table", { class: "d-table" },
      el("thead", {}, el("tr", {}, ["Process", "Entity", "Version", "Status", "Draft", "Who may run", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, data.processes.map((process) => el("tr", { "data-process": process.id },
        el("th", { scope: "row" }, el("a", { href: `#/designer/${process.id}` }, process.name)),
        el("td", {}, process.entity.name),
        el("td", {}, `v${process.version}`),
        el("td", {}, badge(process.status)),
        el("td", {}, process.draft ? `Changes by ${process.draft.updatedBy ?? "someone"}, not published` : "—"),
        el("td", {}, rolesForm(process)),
        el("td", {}, activeButton(process))))))
    : el("p", { class: "d-empty" }, "No published processes yet.");

  const drafts = data.drafts.length
    ? el("ul", { class: "d-drafts" }, data.drafts.map((draft) => el("li", { "data-draft": draft.processId },
      el("a", { href: `#/designer/${draft.processId}` }, draft.name),
      ` · ${entityNames.get(draft.entity) ?? draft.entity} · `,
      draft.basedOn ? `changes to version ${draft.basedOn}` : "never published",
      draft.updatedAt ? ` · saved by ${draft.updatedBy}, ${when(draft.updatedAt)}` : "",
      draft.problems.length ? ` · ${draft.problems.length === 1 ? "1 problem" : `${draft.problems.length} problems`}` : " · ready to publish")))
    : el("p", { class: "d-empty" }, "No open drafts.");

  root.replaceChildren(
    el("h1", {}, "Process designer"),
    status,
    el("section", { "aria-labelledby": "designer-processes" }, el("h2", { id: "designer-processes" }, "Processes"), processes,
      el("p", { class: "d-hint", id: "designer-roles-hint" },
        "Who may run: roles separated by commas, team roles such as sales or a base role such as designer; "
        + "empty lets every signed-in user. Admins run every process.")),
    el("section", { "aria-labelledby": "designer-drafts" }, el("h2", { id: "designer-drafts" }, "Open drafts"), drafts),
    el("div", { class: "d-start" }, newProcessForm(data.entities), templateForm(data.templates, entityNames)),
  );
}

function badge(status) {
  return el("span", { class: `d-badge d-${status.toLowerCase()}` }, status);
}

// A form whose problems from the server show next to its inputs.
async function createFrom(form, input) {
  const problems = form.querySelector(".d-form-problems");
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const result = (await mutate("createProcess", CREATE, input)).createProcess;
    const error = refused(result);
    if (error) {
      placeProblems(form, error.problems ?? [{ path: "", message: error.message }], problems, { looseOnly: true });
      return;
    }
    location.hash = `#/designer/${result.draft.processId}`;
  } catch (error) {
    placeProblems(form, [{ path: "", message: error.message }], problems, { looseOnly: true });
  } finally {
    submit.disabled = false;
  }
}

function keyInput(hint) {
  return el("input", { required: true, pattern: KEY_PATTERN_HTML, maxlength: 64, autocomplete: "off", spellcheck: "false", placeholder: hint });
}

function newProcessForm(entities) {
  const entity = el("select", { required: true }, entities.map((e) => el("option", { value: e.key }, e.name)));
  const name = el("input", { required: true, maxlength: 100, autocomplete: "off" });
  const key = keyInput("e.g. quick-deal");
  let keyEdited = false;
  name.addEventListener("input", () => {
    if (!keyEdited) key.value = slug(name.value, "-");
  });
  key.addEventListener("input", () => {
    keyEdited = key.value !== "";
  });
  const form = el("form", {
    class: "d-card", "aria-labelledby": "designer-new",
    onsubmit: (event) => {
      event.preventDefault();
      createFrom(form, { definition: { key: key.value, name: name.value.trim(), entity: entity.value, stages: [] } });
    },
  },
  el("h2", { id: "designer-new" }, "New process"),
  el("div", { class: "d-form-problems", hidden: true, role: "alert" }),
  control("Entity", entity, "entity", "The kind of record the process guides."),
  control("Name", name, "name"),
  control("Key", key, "key", "Lowercase letters, digits, - or _; it cannot change later."),
  el("button", { type: "submit" }, "Create process"));
  return form;
}

// Every template in view, with its stages; the one picked is copied under a new key.
function templateForm(templates, entityNames) {
  const key = keyInput("e.g. my-sales");
  const options = templates.map((template, index) => {
    const id = nextId("template");
    const stages = Array.isArray(template.definition.stages) ? template.definition.stages : [];
    return el("li", { class: "d-template" },
      el("input", { type: "radio", name: "template", value: template.key, id, required: true, checked: index === 0, "aria-describedby": `${id}-about` }),
      el("div", {},
        el("label", { for: id }, template.name), " ",
        el("span", { class: "d-hint" }, entityNames.get(template.entity) ?? template.entity),
        el("div", { id: `${id}-about` },
          el("p", {}, template.description),
          el("ol", { class: "d-template-stages", "aria-label": "Stages" }, stages.map((stage) => el("li", {}, stage.name))))));
  });
  const form = el("form", {
    class: "d-card", "aria-labelledby": "designer-template",
    onsubmit: (event) => {
      event.preventDefault();
      createFrom(form, { template: form.elements.template.value, key: key.value });
    },
  },
  el("h2", { id: "designer-template" }, "Start from a template"),
  el("div", { class: "d-form-problems", hidden: true, role: "alert" }),
  el("fieldset", { class: "d-templates", "data-path": "template" }, el("legend", {}, "Template"), el("ul", {}, options)),
  control("Key of the new process", key, "key", "The template's stages and steps are copied into a new draft under this key."),
  el("button", { type: "submit" }, "Start from template"));
  return form;
}

// ---- The editor of one process ----

// In the file form: canonical key order, empty optional parts left out, unknown parts kept.
function fileForm(definition) {
  const { key, name, entity, description, stages, ...rest } = definition;
  const out = { key, name, entity };
  if (description) out.description = description;
  out.stages = stages.map((stage) => {
    const copy = {};
    for (const part of STAGE_KEYS) {
      const value = stage[part];
      if (value === undefined || value === null) continue;
      if ((part === "guidance" && value === "") || (part === "branches" && value.length === 0)) continue;
      copy[part] = value;
    }
    for (const [part, value] of Object.entries(stage)) if (!STAGE_KEYS.includes(part)) copy[part] = value;
    return copy;
  });
  return { ...out, ...rest };
}

function kindOf(condition) {
  if (condition && typeof condition === "object") {
    for (const kind of ["all", "any", "not"]) if (kind in condition) return kind;
  }
  return "compare";
}

function firstComparison(condition) {
  const kind = kindOf(condition);
  if (kind === "compare") return condition;
  if (kind === "not") return firstComparison(condition.not);
  const items = Array.isArray(condition[kind]) ? condition[kind] : [];
  for (const item of items) {
    const found = firstComparison(item);
    if (found) return found;
  }
  return null;
}

function convert(condition, kind) {
  const from = kindOf(condition);
  if (kind === "compare") return firstComparison(condition) ?? { field: "", op: "eq" };
  if (kind === "not") return { not: condition };
  if (from === "all" || from === "any") return { [kind]: condition[from] };
  return { [kind]: [condition] };
}

class Editor {
  constructor(root, processId, notify, view) {
    Object.assign(this, { root, processId, notify, view });
    this.uids = new WeakMap();
    this.autoKeys = new WeakSet();
    this.changes = 0;
    this.saved = 0;
    // Closing or reloading the tab with unsaved changes asks first.
    this.guard = (event) => {
      if (this.dirty) event.preventDefault();
    };
    window.addEventListener("beforeunload", this.guard);
  }

  leave() {
    window.removeEventListener("beforeunload", this.guard);
    if (this.dirty) this.notify(`Changes to ${this.definition.name || this.draft.key} were not saved.`);
  }

  get dirty() {
    return this.changes !== this.saved;
  }

  uid(stage) {
    if (!this.uids.has(stage)) this.uids.set(stage, nextId("stage"));
    return this.uids.get(stage);
  }

  async load() {
    const data = await graphql(EDIT_QUERY, { id: this.processId });
    if (!this.view.alive) return;
    if (!data.design) {
      this.root.replaceChildren(el("h1", {}, "Process not found"),
        el("p", {}, `There is no process ${this.processId}. `, el("a", { href: "#/designer" }, "Back to the designer")));
      return;
    }
    this.entities = data.entities;
    this.take(data.design);
    this.renderPage();
  }

  // The server's draft becomes the working copy.
  take(draft) {
    this.draft = draft;
    const definition = structuredClone(draft.definition ?? {});
    if (!Array.isArray(definition.stages)) definition.stages = [];
    definition.stages = definition.stages.map((stage) => (stage && typeof stage === "object" ? stage : {}));
    for (const stage of definition.stages) {
      if (!Array.isArray(stage.steps)) stage.steps = [];
      if (!Array.isArray(stage.branches)) stage.branches = [];
    }
    this.definition = definition;
    this.entity = this.entities.find((entity) => entity.key === definition.entity) ?? { key: definition.entity, name: definition.entity, fields: [] };
    this.problems = draft.problems;
    this.fresh = true;
    this.checked = false;
    this.changes = 0;
    this.saved = 0;
  }

  field(key) {
    return this.entity.fields.find((field) => field.key === key);
  }

  fieldLabel(key) {
    return this.field(key)?.label ?? key;
  }

  // ---- page frame: title, state, actions ----

  renderPage() {
    this.title = el("h1", {}, this.definition.name || this.draft.key);
    this.meta = el("div", { class: "d-meta" });
    this.status = el("p", { class: "d-status", role: "status" });
    this.alert = el("div", { class: "d-alert", role: "alert", hidden: true });
    this.actions = el("div", { class: "d-actions", role: "toolbar", "aria-label": "Draft actions" });
    this.summary = el("div", { class: "d-summary", tabindex: "-1", hidden: true });
    this.form = el("div", { class: "d-editor" });
    this.root.replaceChildren(
      el("p", { class: "d-back" }, el("a", { href: "#/designer" }, "All processes")),
      this.title, this.meta, this.actions, this.status, this.alert, this.summary, this.form,
    );
    this.renderActions();
    this.renderMeta();
    this.renderForm();
  }

  renderMeta() {
    const { draft } = this;
    const open = draft.updatedAt !== null;
    this.meta.replaceChildren(
      el("p", {}, `${this.entity.name} · key `, el("code", {}, draft.key), " · ",
        draft.basedOn ? `version ${draft.basedOn} published · ` : "never published · ",
        badge(draft.basedOn ? draft.status : "DRAFT")),
      el("p", {}, open
        ? `Draft saved by ${draft.updatedBy}, ${when(draft.updatedAt)}.`
        : "No open draft: saving changes starts one; the published version stays until you publish.",
      " ", el("span", { class: this.dirty ? "d-dirty" : "d-clean", "data-state": this.dirty ? "unsaved" : "saved" },
        this.dirty ? "Unsaved changes." : "All changes saved.")),
    );
  }

  renderActions() {
    const { draft } = this;
    const open = draft.updatedAt !== null;
    const buttons = [
      button("Save draft", () => this.act(() => this.save({ announce: true }))),
      button("Validate", () => this.act(() => this.validate())),
      button("Publish", () => this.act(() => this.publish()), { class: "d-primary" }),
    ];
    if (open && draft.basedOn > 0) buttons.push(button("Discard draft", () => this.confirmDiscard()));
    if (draft.basedOn > 0) {
      const active = draft.status !== "ACTIVE";
      buttons.push(button(active ? "Activate" : "Deactivate", () => this.act(() => this.setActive(active))));
    }
    this.actions.replaceChildren(...buttons);
  }

  // One action at a time; a failure of the network or the API shows as an alert.
  async act(action) {
    if (this.busy) return;
    this.busy = true;
    for (const node of this.actions.querySelectorAll("button")) node.disabled = true;
    this.root.setAttribute("aria-busy", "true");
    this.say("");
    try {
      await action();
    } catch (error) {
      this.showAlert(el("p", {}, error.message));
    } finally {
      this.busy = false;
      this.root.removeAttribute("aria-busy");
      if (this.view.alive) {
        for (const node of this.actions.querySelectorAll("button")) node.disabled = false;
      }
    }
  }

  say(text) {
    this.status.textContent = text;
  }

  showAlert(...children) {
    this.alert.hidden = children.length === 0;
    this.alert.replaceChildren(...children);
  }

  changed({ structure = false } = {}) {
    this.changes += 1;
    if (structure) this.fresh = false;
    this.checked = false;
    this.renderMeta();
  }

  // The answer to a refused mutation: problems in place, a conflict explained, else its message.
  refuse(result, what) {
    const error = refused(result);
    if (!error) return false;
    if (error.problems) {
      this.problems = error.problems;
      this.fresh = true;
      this.showProblems();
      const count = error.problems.length;
      this.say(`${what}: ${count === 1 ? "1 problem" : `${count} problems`} to fix.`);
      this.summary.focus();
    } else if (error.currentVersion !== undefined) {
      this.conflict(error.currentVersion);
    } else {
      this.showAlert(el("p", {}, error.message));
    }
    return true;
  }

  conflict(currentVersion) {
    this.showAlert(
      el("p", {}, el("strong", {}, "Someone else saved this process since you opened it. "),
        `You edited version ${this.draft.version} of the draft; it is now at version ${currentVersion}. Nothing of yours was saved.`),
      el("div", { class: "d-actions" },
        button("Load their version (drops your changes)", () => this.act(async () => {
          this.showAlert();
          await this.load();
          this.say("Loaded the latest draft.");
        })),
        button("Save yours over theirs", () => this.act(async () => {
          this.showAlert();
          this.draft = { ...this.draft, version: currentVersion };
          this.changes += 1;
          await this.save({ announce: true });
        }))),
    );
  }

  async save({ announce = false } = {}) {
    const sent = this.changes;
    const definition = fileForm(this.definition);
    const result = (await mutate("updateProcess", UPDATE, { processId: this.processId, definition, expectedVersion: this.draft.version })).updateProcess;
    if (!this.view.alive || this.refuse(result, "Not saved")) return false;
    this.draft = result.draft;
    this.saved = sent;
    this.problems = result.draft.problems;
    this.fresh = this.changes === sent;
    this.showProblems();
    this.renderMeta();
    this.renderActions();
    if (announce) {
      const count = this.problems.length;
      this.say(`Draft saved.${count ? ` ${count === 1 ? "1 problem" : `${count} problems`} to fix before publishing.` : ""}`);
    }
    return true;
  }

  async validate() {
    if (this.dirty) {
      if (!(await this.save())) return;
    } else {
      const design = (await graphql(CHECK_QUERY, { id: this.processId })).design;
      if (!this.view.alive) return;
      if (design.version !== this.draft.version) return this.conflict(design.version);
      this.problems = design.problems;
      this.fresh = true;
    }
    this.checked = true;
    this.showProblems();
    const count = this.problems.length;
    this.say(count ? `${count === 1 ? "1 problem" : `${count} problems`} to fix before publishing.` : "No problems: the draft can be published.");
    if (count) this.summary.focus();
  }

  async publish() {
    if (this.dirty && !(await this.save())) return;
    const input = { processId: this.processId, expectedVersion: this.draft.version };
    const result = (await mutate("publishProcess", PUBLISH, input)).publishProcess;
    if (!this.view.alive || this.refuse(result, "Not published")) return;
    const { version } = result.process;
    await this.load();
    const text = `Published ${this.definition.name} version ${version}.`;
    this.say(text);
    this.notify(text);
  }

  confirmDiscard() {
    this.showAlert(
      el("p", {}, `Discard the draft? The process stays as published in version ${this.draft.basedOn}.`),
      el("div", { class: "d-actions" },
        button("Discard the draft", () => this.act(async () => {
          this.showAlert();
          const input = { processId: this.processId, expectedVersion: this.draft.version };
          const result = (await mutate("discardDraft", DISCARD, input)).discardDraft;
          if (this.refuse(result, "Not discarded")) return;
          await this.load();
          this.say(`Draft discarded; showing version ${this.draft.basedOn}.`);
        })),
        button("Keep editing", () => this.showAlert())),
    );
  }

  async setActive(active) {
    const result = await setProcessActive(this.processId, active);
    if (this.refuse(result, "Not changed")) return;
    this.draft = { ...this.draft, status: result.process.status };
    this.renderMeta();
    this.renderActions();
    this.say(active ? "Offered for new records again." : "No longer offered for new records; running ones carry on.");
  }

  showProblems() {
    placeProblems(this.form, this.problems, this.summary, { stale: !this.fresh, checked: this.checked });
  }

  // ---- the form ----

  // Rebuilds the form after a change of structure; `focus` picks the element to focus after.
  renderForm(focus) {
    const d = this.definition;
    const name = el("input", { value: d.name ?? "", maxlength: 100, autocomplete: "off" });
    name.addEventListener("input", () => {
      d.name = name.value;
      this.title.textContent = name.value || this.draft.key;
      this.changed();
    });
    const description = textarea(d.description, { rows: 2, maxlength: 2000 });
    description.addEventListener("input", () => {
      d.description = description.value;
      this.changed();
    });
    const stages = el("section", { class: "d-stages", "data-path": "stages", "aria-labelledby": "designer-stages" },
      el("h2", { id: "designer-stages" }, "Stages"),
      el("div", { class: "d-slot" }),
      d.stages.length
        ? el("ol", { class: "d-stage-list" }, d.stages.map((stage, i) => this.stageCard(stage, i)))
        : el("p", { class: "d-empty" }, "No stages yet: add the first one below."),
      this.addStageForm());
    this.form.replaceChildren(
      el("section", { class: "d-card d-process", "aria-label": "Process" },
        control("Process name", name, "name"),
        control("Description", description, "description"),
        el("div", { class: "d-fixed" },
          el("div", { "data-path": "entity" }, el("span", {}, "Entity: "), el("strong", {}, this.entity.name)),
          el("div", { "data-path": "key" }, el("span", {}, "Key: "), el("code", {}, d.key ?? "")))),
      stages,
    );
    this.showProblems();
    const target = focus?.();
    if (target) target.focus();
  }

  restructure(focus) {
    this.changed({ structure: true });
    this.renderForm(focus);
  }

  // The element at `path` (or inside it, matching `selector`) once the form is rebuilt.
  at(path, selector) {
    return () => {
      const node = [...this.form.querySelectorAll("[data-path]")].find((n) => n.dataset.path === path);
      return selector ? node?.querySelector(selector) : node;
    };
  }

  stageOption(stage) {
    return el("option", { value: stage.key ?? "", "data-stage": this.uid(stage) }, stage.name || stage.key || "Unnamed stage");
  }

  // A select of the other stages, with `empty` as the choice of none.
  stageSelect(current, stage, empty, onchange) {
    const others = this.definition.stages.filter((s) => s !== stage);
    const select = el("select", {}, el("option", { value: "" }, empty), others.map((s) => this.stageOption(s)));
    if (current && !others.some((s) => s.key === current)) select.append(el("option", { value: current }, `${current} (no such stage)`));
    select.value = current ?? "";
    select.addEventListener("change", () => onchange(select.value || null));
    return select;
  }

  isLinear() {
    const { stages } = this.definition;
    return stages.every((stage, i) => (i === stages.length - 1 ? !stage.next : stage.next === stages[i + 1].key));
  }

  relink() {
    const { stages } = this.definition;
    stages.forEach((stage, i) => {
      if (i === stages.length - 1) delete stage.next;
      else stage.next = stages[i + 1].key;
    });
  }

  // Stage keys are unique; a new stage's key follows its name until edited by hand.
  uniqueKey(base, stage) {
    const taken = new Set(this.definition.stages.filter((s) => s !== stage).map((s) => s.key));
    const start = base || "stage";
    let key = start;
    for (let n = 2; taken.has(key); n += 1) key = `${start.slice(0, 60)}_${n}`;
    return key;
  }

  // The places that lead to a stage, as setters, taken before its key is edited so that
  // they follow the key however it changes on the way.
  references(stage) {
    const { stages } = this.definition;
    if (!stage.key || stages.some((s) => s !== stage && s.key === stage.key)) return [];
    const refs = [];
    for (const s of stages) {
      if (s.next === stage.key) refs.push((key) => (s.next = key));
      for (const branch of s.branches) if (branch.to === stage.key) refs.push((key) => (branch.to = key));
    }
    return refs;
  }

  setStageKey(stage, key, refs) {
    stage.key = key;
    for (const ref of refs) ref(key);
    for (const option of this.form.querySelectorAll(`option[data-stage="${this.uid(stage)}"]`)) option.value = key;
  }

  addStageForm() {
    const name = el("input", { required: true, maxlength: 100, autocomplete: "off" });
    const form = el("form", {
      class: "d-add-stage",
      onsubmit: (event) => {
        event.preventDefault();
        const { stages } = this.definition;
        const text = name.value.trim();
        if (!text) return;
        const category = CATEGORIES.includes(text.toUpperCase()) ? text.toUpperCase() : stages.at(-1)?.category ?? "QUALIFY";
        const stage = { key: this.uniqueKey(slug(text, "_")), name: text, category, guidance: "", steps: [], branches: [] };
        const last = stages.at(-1);
        stages.push(stage);
        // A new stage follows the last one, as people add stages in flow order.
        if (last && !last.next && last.branches.length === 0) last.next = stage.key;
        this.autoKeys.add(stage);
        this.restructure(() => this.form.querySelector(".d-add-stage input"));
        this.say(`Stage ${text} added.`);
      },
    }, control("New stage name", name, null), el("button", { type: "submit" }, "Add stage"));
    return form;
  }

  // Up and down buttons; `before` runs before the move and its answer goes to `render`.
  moveButtons(list, index, what, render, before = () => null) {
    const move = (by) => () => {
      const state = before();
      const [item] = list.splice(index, 1);
      list.splice(index + by, 0, item);
      render(index + by, by < 0 ? "up" : "down", state);
    };
    return [
      button("Up", move(-1), { "aria-label": `Move ${what} up`, disabled: index === 0, "data-move": "up" }),
      button("Down", move(1), { "aria-label": `Move ${what} down`, disabled: index === list.length - 1, "data-move": "down" }),
    ];
  }

  // Focus the same move button on the moved item, or its other one at an end of the list.
  movedFocus(path, direction) {
    return () => {
      const node = this.at(path)();
      const same = node?.querySelector(`:scope > .d-row-actions [data-move="${direction}"], :scope > header [data-move="${direction}"]`);
      if (same && !same.disabled) return same;
      return node?.querySelector(`[data-move="${direction === "up" ? "down" : "up"}"]`);
    };
  }

  stageCard(stage, i) {
    const path = `stages[${i}]`;
    const stages = this.definition.stages;
    const label = () => stage.name || stage.key || "Unnamed stage";
    const heading = el("h3", { id: nextId("stage") }, `${i + 1}. ${label()}`);

    let refs = [];
    const takeRefs = () => (refs = this.references(stage));
    const key = el("input", { value: stage.key ?? "", maxlength: 64, pattern: KEY_PATTERN_HTML, autocomplete: "off", spellcheck: "false", onfocus: takeRefs });
    key.addEventListener("input", () => {
      this.autoKeys.delete(stage);
      this.setStageKey(stage, key.value, refs);
      this.changed();
    });
    const name = el("input", { value: stage.name ?? "", maxlength: 100, autocomplete: "off", onfocus: takeRefs });
    name.addEventListener("input", () => {
      stage.name = name.value;
      heading.textContent = `${i + 1}. ${label()}`;
      for (const option of this.form.querySelectorAll(`option[data-stage="${this.uid(stage)}"]`)) option.textContent = label();
      if (this.autoKeys.has(stage) && name.value.trim()) {
        this.setStageKey(stage, this.uniqueKey(slug(name.value, "_"), stage), refs);
        key.value = stage.key;
      }
      this.changed();
    });
    const category = el("select", {}, CATEGORIES.map((c) => el("option", { value: c }, titleCase(c))));
    if (stage.category && !CATEGORIES.includes(stage.category)) category.append(el("option", { value: stage.category }, String(stage.category)));
    category.value = stage.category ?? "";
    category.addEventListener("change", () => {
      stage.category = category.value;
      this.changed();
    });
    const guidance = textarea(stage.guidance, { rows: 2, maxlength: 2000 });
    guidance.addEventListener("input", () => {
      stage.guidance = guidance.value;
      this.changed();
    });
    const next = this.stageSelect(stage.next, stage, "None: this is a last stage", (value) => {
      if (value) stage.next = value;
      else delete stage.next;
      this.changed();
    });

    // In a straight line the stages around close the gap; elsewhere what led to the stage
    // stays, marked as leading to no stage, for the designer to decide.
    const remove = () => {
      const linear = this.isLinear();
      stages.splice(i, 1);
      if (linear) this.relink();
      const neighbour = `stages[${Math.min(i, stages.length - 1)}]`;
      this.restructure(() => this.at(`${neighbour}.name`, "input")() ?? this.form.querySelector(".d-add-stage input"));
      this.say(`Stage ${label()} removed.`);
    };
    // Stages that followed one another by default still do after a move.
    const moves = this.moveButtons(stages, i, `stage ${label()}`, (to, direction, linear) => {
      if (linear) this.relink();
      this.restructure(this.movedFocus(`stages[${to}]`, direction));
    }, () => this.isLinear());

    return el("li", { class: "d-stage", "data-path": path, "aria-labelledby": heading.id },
      el("header", {}, heading, el("div", { class: "d-row-actions" }, ...moves,
        button("Remove stage", remove, { "aria-label": `Remove stage ${label()}`, class: "d-danger" }))),
      el("div", { class: "d-slot" }),
      el("div", { class: "d-grid" },
        control("Name", name, `${path}.name`),
        control("Key", key, `${path}.key`),
        control("Category", category, `${path}.category`)),
      control("Guidance", guidance, `${path}.guidance`),
      this.stepsPart(stage, path),
      this.branchesPart(stage, path),
      control("Default next stage", next, `${path}.next`, "Where the record goes when no branch applies."),
    );
  }

  fieldOptions(current, empty) {
    const options = [el("option", { value: "" }, empty)];
    for (const field of this.entity.fields) options.push(el("option", { value: field.key }, `${field.label} (${titleCase(field.type)})`));
    if (current && !this.field(current)) options.push(el("option", { value: current }, `${current} (no such field)`));
    return options;
  }

  stepsPart(stage, path) {
    const steps = stage.steps;
    const rows = steps.map((step, j) => {
      const stepPath = `${path}.steps[${j}]`;
      const label = this.fieldLabel(step.field);
      const field = el("select", {}, this.fieldOptions(step.field, "Choose a field…"));
      field.value = step.field ?? "";
      field.addEventListener("change", () => {
        step.field = field.value;
        this.changed();
      });
      return el("li", { class: "d-step", "data-path": stepPath },
        control(`Field of step ${j + 1}`, field, `${stepPath}.field`, null, { quiet: true }),
        checkbox("Required", step.required === true, `${stepPath}.required`, (value) => {
          step.required = value;
          this.changed();
        }),
        el("div", { class: "d-row-actions" },
          ...this.moveButtons(steps, j, `step ${label}`, (to, direction) => this.restructure(this.movedFocus(`${path}.steps[${to}]`, direction))),
          button("Remove", () => {
            steps.splice(j, 1);
            this.restructure(this.at(`${path}.steps`, ".d-add-step select"));
          }, { "aria-label": `Remove step ${label}`, class: "d-danger" })),
        el("div", { class: "d-slot" }));
    });

    const newField = this.newFieldPart(stage, path);
    const used = new Set(steps.map((step) => step.field));
    const pick = el("select", {}, el("option", { value: "" }, "Choose a field…"),
      this.entity.fields.filter((f) => !used.has(f.key)).map((f) => el("option", { value: f.key }, `${f.label} (${titleCase(f.type)})`)));
    const add = () => {
      if (!pick.value) return pick.focus();
      steps.push({ field: pick.value, required: false });
      this.restructure(this.at(`${path}.steps`, ".d-add-step select"));
    };
    return el("fieldset", { class: "d-steps", "data-path": `${path}.steps` },
      el("legend", {}, "Steps"),
      el("div", { class: "d-slot" }),
      rows.length ? el("ol", {}, rows) : el("p", { class: "d-empty" }, "No steps yet."),
      el("div", { class: "d-add-step" }, control("Add a step", pick, null), button("Add step", add), newField.opener),
      newField.form);
  }

  // A field made for the entity (every process of it can use it), added here as a step.
  newFieldPart(stage, path) {
    const label = el("input", { required: true, maxlength: 100, autocomplete: "off" });
    const key = el("input", { required: true, pattern: KEY_PATTERN_HTML, maxlength: 64, autocomplete: "off", spellcheck: "false" });
    const type = el("select", {}, FIELD_TYPES.map((t) => el("option", { value: t }, titleCase(t))));
    const choices = textarea("", { rows: 3 });
    const choicesControl = control("Choices, one per line", choices, null);
    const messages = el("div", { class: "d-form-problems", role: "alert", hidden: true });
    let keyEdited = false;
    label.addEventListener("input", () => {
      if (!keyEdited) key.value = slug(label.value, "_");
    });
    key.addEventListener("input", () => {
      keyEdited = key.value !== "";
    });
    const showChoices = () => {
      choicesControl.hidden = type.value !== "CHOICE";
    };
    type.addEventListener("change", showChoices);
    showChoices();
    const fail = (...texts) => {
      messages.hidden = false;
      messages.replaceChildren(...texts.map((text) => el("p", { class: "d-problem" }, text)));
    };
    const form = el("form", {
      class: "d-new-field", hidden: true, "aria-label": "New field",
      onsubmit: async (event) => {
        event.preventDefault();
        const list = choices.value.split("\n").map((c) => c.trim()).filter(Boolean);
        if (!KEY_PATTERN.test(key.value)) return fail("The key takes lowercase letters, digits, - or _, starting with a letter.");
        if (this.field(key.value)) return fail(`${this.entity.name} has a field ${key.value} already: pick it from the list of fields.`);
        if (type.value === "CHOICE" && list.length === 0) return fail("A choice field needs at least one choice.");
        const input = { entity: this.entity.key, key: key.value, label: label.value.trim(), type: type.value, choices: type.value === "CHOICE" ? list : null };
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const result = (await mutate("saveField", SAVE_FIELD, input)).saveField;
          const error = refused(result);
          if (error) return fail(...(error.problems?.length ? error.problems.map((p) => p.message) : [error.message]));
          this.entity = result.entity;
          this.entities = this.entities.map((e) => (e.key === result.entity.key ? result.entity : e));
          stage.steps.push({ field: input.key, required: false });
          this.restructure(this.at(`${path}.steps`, ".d-add-step select"));
          this.say(`Field ${input.label} created for ${this.entity.name} and added as a step.`);
        } catch (error) {
          fail(error.message);
        } finally {
          submit.disabled = false;
        }
      },
    },
    messages,
    el("div", { class: "d-grid" }, control("Field label", label, null), control("Field key", key, null), control("Type", type, null)),
    choicesControl,
    el("p", { class: "d-hint" }, `The field is added to ${this.entity.name} at once, for every process of it.`),
    el("div", { class: "d-row-actions" },
      el("button", { type: "submit" }, "Create field"),
      button("Cancel", () => toggle(false))));
    const opener = button("New field", () => toggle(form.hidden), { "aria-expanded": "false" });
    const toggle = (open) => {
      form.hidden = !open;
      opener.setAttribute("aria-expanded", String(open));
      if (open) label.focus();
      else opener.focus();
    };
    return { opener, form };
  }

  branchesPart(stage, path) {
    const branches = stage.branches;
    const rows = branches.map((branch, j) => {
      const branchPath = `${path}.branches[${j}]`;
      const target = this.stageSelect(branch.to, stage, "Choose a stage…", (value) => {
        branch.to = value ?? "";
        this.changed();
      });
      return el("li", { class: "d-branch", "data-path": branchPath },
        el("header", {}, el("h4", {}, `Branch ${j + 1}`),
          el("div", { class: "d-row-actions" },
            ...this.moveButtons(branches, j, `branch ${j + 1}`, (to, direction) => this.restructure(this.movedFocus(`${path}.branches[${to}]`, direction))),
            button("Remove", () => {
              branches.splice(j, 1);
              this.restructure(this.at(`${path}.branches`, ".d-add-branch"));
            }, { "aria-label": `Remove branch ${j + 1}`, class: "d-danger" }))),
        el("div", { class: "d-slot" }),
        control("Go to", target, `${branchPath}.to`),
        el("div", { class: "d-when" }, el("p", { class: "d-label" }, "When"),
          this.conditionEditor(branch.when, `${branchPath}.when`, (condition) => (branch.when = condition))));
    });
    const add = () => {
      const index = this.definition.stages.indexOf(stage);
      const after = this.definition.stages[index + 1];
      branches.push({ to: after?.key ?? "", when: { field: "", op: "eq" } });
      this.restructure(this.at(`${path}.branches[${branches.length - 1}]`, ".d-compare select"));
    };
    return el("fieldset", { class: "d-branches", "data-path": `${path}.branches` },
      el("legend", {}, "Branches"),
      el("div", { class: "d-slot" }),
      el("p", { class: "d-hint" }, "After this stage, the first branch whose condition holds picks the next stage; otherwise the default next stage does."),
      rows.length ? el("ol", {}, rows) : null,
      button("Add branch", add, { class: "d-add-branch" }));
  }

  // A condition: a comparison, or an all / any / not group of conditions, nested.
  conditionEditor(condition, path, replace, remove) {
    if (!condition || typeof condition !== "object") {
      condition = { field: "", op: "eq" };
      replace(condition);
    }
    const kind = kindOf(condition);
    const kindSelect = el("select", {}, CONDITION_KINDS.map(([value, text]) => el("option", { value }, text)));
    kindSelect.value = kind;
    kindSelect.addEventListener("change", () => {
      replace(convert(condition, kindSelect.value));
      this.restructure(this.at(path, "select"));
    });
    const box = el("div", { class: `d-condition d-kind-${kind}`, "data-path": path },
      el("div", { class: "d-condition-head" },
        control("Condition", kindSelect, null),
        remove ? button("Remove", remove, { "aria-label": "Remove this condition", class: "d-danger" }) : null),
      el("div", { class: "d-slot" }));
    if (kind === "compare") {
      box.append(this.comparison(condition));
    } else if (kind === "not") {
      box.append(this.conditionEditor(condition.not, `${path}.not`, (inner) => (condition.not = inner)));
    } else {
      if (!Array.isArray(condition[kind])) condition[kind] = [];
      const items = condition[kind];
      box.append(
        el("ul", { class: "d-group" }, items.map((item, k) => el("li", {},
          this.conditionEditor(item, `${path}.${kind}[${k}]`, (inner) => (items[k] = inner), () => {
            items.splice(k, 1);
            this.restructure(this.at(path, "select"));
          })))),
        el("div", { class: "d-row-actions" },
          button("Add comparison", () => {
            items.push({ field: "", op: "eq" });
            this.restructure(this.at(`${path}.${kind}[${items.length - 1}]`, ".d-compare select"));
          }),
          button("Add group", () => {
            items.push({ [kind === "all" ? "any" : "all"]: [{ field: "", op: "eq" }] });
            this.restructure(this.at(`${path}.${kind}[${items.length - 1}]`, "select"));
          })),
      );
    }
    return box;
  }

  comparison(node) {
    const field = el("select", {}, this.fieldOptions(node.field, "Choose a field…"));
    field.value = node.field ?? "";
    const op = el("select", {}, OPERATORS.map(([value, text]) => el("option", { value }, text)));
    if (node.op && !OPERATORS.some(([value]) => value === node.op)) op.append(el("option", { value: node.op }, String(node.op)));
    op.value = node.op ?? "eq";
    const value = el("div", { class: "d-value" });
    const renderValue = () => value.replaceChildren(this.valueControl(node));
    field.addEventListener("change", () => {
      const before = this.field(node.field)?.type;
      node.field = field.value;
      if (this.field(node.field)?.type !== before && node.op !== "is_set") delete node.value;
      renderValue();
      this.changed();
    });
    op.addEventListener("change", () => {
      const before = node.op;
      node.op = op.value;
      if (node.op === "is_set") node.value = true;
      else if (before === "is_set") delete node.value;
      else if (node.op === "in" && node.value !== undefined && !Array.isArray(node.value)) node.value = [node.value];
      else if (node.op !== "in" && Array.isArray(node.value)) node.value = node.value[0];
      if (node.value === undefined) delete node.value;
      renderValue();
      this.changed();
    });
    renderValue();
    return el("div", { class: "d-compare" }, control("Field", field, null), control("Operator", op, null), value);
  }

  valueControl(node) {
    const field = this.field(node.field);
    const set = (value) => {
      if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) delete node.value;
      else node.value = value;
      this.changed();
    };
    if (node.op === "is_set") {
      const select = el("select", {}, el("option", { value: "true" }, "yes"), el("option", { value: "false" }, "no"));
      select.value = node.value === false ? "false" : "true";
      select.addEventListener("change", () => set(select.value === "true"));
      return control("Value", select, null);
    }
    if (node.op === "in") {
      const current = Array.isArray(node.value) ? node.value : [];
      if (field?.type === "CHOICE") {
        const boxes = field.choices.map((choice) => {
          const box = el("input", { type: "checkbox", value: choice, checked: current.includes(choice) });
          box.addEventListener("change", () => set(boxes.filter((b) => b.checked).map((b) => b.value)));
          return box;
        });
        return el("fieldset", { class: "d-choices" }, el("legend", {}, "Values"),
          boxes.map((box) => el("label", {}, box, ` ${box.value}`)));
      }
      const input = el("input", { value: current.join(", "), autocomplete: "off" });
      input.addEventListener("input", () => {
        // The server reads each value as the field's type.
        set(input.value.split(",").map((part) => part.trim()).filter(Boolean));
      });
      return control("Values, separated by commas", input, null);
    }
    if (!field) {
      const input = el("input", { value: node.value ?? "", autocomplete: "off" });
      input.addEventListener("input", () => set(input.value === "" ? null : input.value));
      return control("Value", input, null);
    }
    const typed = fieldInput(field, node.value, nextId("value"));
    const read = () => set(typed.read());
    typed.input.addEventListener("input", read);
    typed.input.addEventListener("change", read);
    return control("Value", typed.input, null);
  }
}

// The designer's list: published processes (who may run them, active or not), open drafts,
// and the forms that start a new process, empty or from a template.
import { el, when } from "./dom.js";
import { createProcess, loadList, refused, setProcessActive, setProcessRoles } from "./designer-api.js";
import { badge, button, control, keyInput, nextId, placeProblems } from "./designer-controls.js";
import { slug, whoMayRun } from "./designer-model.js";

export async function showList(root, view) {
  const data = await loadList();
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
        const result = await setProcessRoles(process.id, roles);
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

  // On a narrow screen the table scrolls sideways in its own box, reachable by keyboard,
  // and the page does not.
  const processes = data.processes.length
    ? el("div", { class: "d-table-box", role: "region", "aria-labelledby": "designer-processes", tabindex: 0 }, el("table", { class: "d-table" },
      el("thead", {}, el("tr", {}, ["Process", "Entity", "Version", "Status", "Draft", "Who may run", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, data.processes.map((process) => el("tr", { "data-process": process.id },
        el("th", { scope: "row" }, el("a", { href: `#/designer/${process.id}` }, process.name)),
        el("td", {}, process.entity.name),
        el("td", {}, `v${process.version}`),
        el("td", {}, badge(process.status)),
        el("td", {}, process.draft ? `Changes by ${process.draft.updatedBy ?? "someone"}, not published` : "—"),
        el("td", {}, rolesForm(process)),
        el("td", {}, activeButton(process)))))))
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

// A form whose problems from the server show next to its inputs.
async function createFrom(form, input) {
  const problems = form.querySelector(".d-form-problems");
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const result = await createProcess(input);
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

// The entity last picked here is the next one's default, as designers tend to make several
// processes of one kind in a row; a first process asks for one rather than guess.
const LAST_ENTITY = "stageflow.designer.entity";

function lastEntity() {
  try {
    return localStorage.getItem(LAST_ENTITY);
  } catch {
    return null;
  }
}

function rememberEntity(key) {
  try {
    localStorage.setItem(LAST_ENTITY, key);
  } catch {
    // Storage refused (private mode, quota): the next form asks again.
  }
}

function newProcessForm(entities) {
  const entity = el("select", { required: true, onchange: () => rememberEntity(entity.value) },
    el("option", { value: "", disabled: true }, "Choose the kind of record…"),
    entities.map((e) => el("option", { value: e.key }, e.name)));
  const remembered = lastEntity();
  entity.value = entities.some((e) => e.key === remembered) ? remembered : "";
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
      rememberEntity(entity.value);
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


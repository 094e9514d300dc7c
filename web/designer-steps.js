// The steps part of a stage's card: the fields it asks for of the record it works on, and a
// new field made for that entity on the spot. Mixed into Editor.
import { el, titleCase } from "./dom.js";
import { refused, saveField } from "./designer-api.js";
import { button, checkbox, control, textarea } from "./designer-controls.js";
import { FIELD_TYPES, KEY_PATTERN, KEY_PATTERN_HTML, slug } from "./designer-model.js";

export const stepParts = {
  // Options of `fields`; `known` is the current field when it is not one of them.
  fieldOptions(current, empty, fields = this.entity.fields, known) {
    const option = (field) => el("option", { value: field.key }, `${field.label} (${titleCase(field.type)})`);
    const options = [el("option", { value: "" }, empty), ...fields.map(option)];
    if (current && !fields.some((field) => field.key === current)) {
      options.push(known ? option(known) : el("option", { value: current }, `${current} (no such field)`));
    }
    return options;
  },

  stepsPart(stage, path) {
    const steps = stage.steps;
    const entity = this.stageEntity(stage);
    const rows = steps.map((step, j) => {
      const stepPath = `${path}.steps[${j}]`;
      const label = entity.fields.find((f) => f.key === step.field)?.label ?? step.field;
      const field = el("select", {}, this.fieldOptions(step.field, "Choose a field…", entity.fields));
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
      entity.fields.filter((f) => !used.has(f.key)).map((f) => el("option", { value: f.key }, `${f.label} (${titleCase(f.type)})`)));
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
  },

  // A field made for the stage's entity (every process of it can use it), added here as a step.
  newFieldPart(stage, path) {
    const entity = this.stageEntity(stage);
    const label = el("input", { required: true, maxlength: 100, autocomplete: "off" });
    const key = el("input", { required: true, pattern: KEY_PATTERN_HTML, maxlength: 64, autocomplete: "off", spellcheck: "false" });
    const type = el("select", {}, FIELD_TYPES.map((t) => el("option", { value: t }, titleCase(t))));
    const choices = textarea("", { rows: 3 });
    const choicesControl = control("Choices, one per line", choices, null);
    // A lookup points at records of one entity.
    const target = el("select", {}, this.entities.map((e) => el("option", { value: e.key }, e.name)));
    // On a crossed entity, the lookup it most likely needs: back to the entity before it.
    const before = this.chain()[this.stagePosition(stage) - 1];
    if (before) target.value = before.key;
    const targetControl = control("Points at records of", target, null);
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
      targetControl.hidden = type.value !== "LOOKUP";
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
        if (entity.fields.some((f) => f.key === key.value)) return fail(`${entity.name} has a field ${key.value} already: pick it from the list of fields.`);
        if (type.value === "CHOICE" && list.length === 0) return fail("A choice field needs at least one choice.");
        const input = { entity: entity.key, key: key.value, label: label.value.trim(), type: type.value, choices: type.value === "CHOICE" ? list : null,
          target: type.value === "LOOKUP" ? target.value : null };
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const result = await saveField(input);
          const error = refused(result);
          if (error) return fail(...(error.problems?.length ? error.problems.map((p) => p.message) : [error.message]));
          if (result.entity.key === this.entity.key) this.entity = result.entity;
          this.entities = this.entities.map((e) => (e.key === result.entity.key ? result.entity : e));
          stage.steps.push({ field: input.key, required: false });
          this.restructure(this.at(`${path}.steps`, ".d-add-step select"));
          this.say(`Field ${input.label} created for ${result.entity.name} and added as a step.`);
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
    targetControl,
    el("p", { class: "d-hint" }, `The field is added to ${entity.name} at once, for every process of it.`),
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
  },
};

// The editor of one process: the page around the form (title, state, toolbar, problems,
// the drawing) and the draft's round trips with the server. The form's parts are rendered
// by designer-stages.js, designer-steps.js, designer-conditions.js and designer-crossings.js,
// mixed in below.
import { el, when } from "./dom.js";
import { checkDraft, discardDraft, loadDesign, publishProcess, refused, setProcessActive, updateProcess } from "./designer-api.js";
import { stageParts } from "./designer-stages.js";
import { stepParts } from "./designer-steps.js";
import { conditionParts } from "./designer-conditions.js";
import { crossingParts } from "./designer-crossings.js";
import { pipelineParts } from "./designer-pipeline.js";
import { badge, button, control, nextId, placeProblems, textarea } from "./designer-controls.js";
import { drawProcess } from "./designer-drawing.js";
import { fileForm } from "./designer-model.js";

export class Editor {
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
    // The toolbar sticks to the top of the window: the page keeps its height clear when it
    // scrolls a focused control into view, however many lines the toolbar wraps to.
    this.toolbarSize = new ResizeObserver(() => {
      const height = this.actions?.isConnected ? this.actions.offsetHeight : 0;
      document.documentElement.style.scrollPaddingTop = height ? `${height + 8}px` : "";
      if (height) this.root.style.setProperty("--d-toolbar", `${height}px`);
    });
    // Tabbing scrolls a control into view only when it is off the window: under the toolbar
    // it counts as seen, so the page moves it clear of the toolbar.
    root.addEventListener("focusin", (event) => {
      if (!this.actions?.isConnected || this.actions.contains(event.target) || !event.target.matches(":focus-visible")) return;
      const covered = this.actions.getBoundingClientRect().bottom - event.target.getBoundingClientRect().top;
      if (covered > 0) window.scrollBy(0, -(covered + 8));
    });
  }

  leave() {
    window.removeEventListener("beforeunload", this.guard);
    this.toolbarSize.disconnect();
    document.documentElement.style.scrollPaddingTop = "";
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
    const data = await loadDesign(this.processId);
    if (!this.view.alive) return;
    if (!data.design) {
      this.root.replaceChildren(el("h1", {}, "Process not found"),
        el("p", {}, `There is no process ${this.processId}. `, el("a", { href: "#/designer" }, "Back to the designer")));
      return;
    }
    this.entities = data.entities;
    this.templates = data.templates;
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
    this.takeCrossings(definition);
    this.definition = definition;
    this.entity = this.entities.find((entity) => entity.key === definition.entity) ?? { key: definition.entity, name: definition.entity, fields: [] };
    this.problems = draft.problems;
    this.fresh = true;
    this.changes = 0;
    this.saved = 0;
  }

  field(key) {
    return this.entity.fields.find((field) => field.key === key);
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
    // The drawing comes first: it is the map of the form beside it (above, on a narrow screen).
    this.drawing = el("section", { class: "d-drawing", "aria-labelledby": "designer-drawing" },
      el("h2", { id: "designer-drawing" }, "Flow"));
    this.root.replaceChildren(
      el("p", { class: "d-back" }, el("a", { href: "#/designer" }, "All processes")),
      this.title, this.meta, this.actions, this.status, this.alert, this.summary,
      el("div", { class: "d-body" }, this.drawing, this.form),
    );
    this.toolbarSize.disconnect();
    this.toolbarSize.observe(this.actions);
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

  // `ok` marks good news (nothing to fix), shown as such.
  say(text, { ok = false } = {}) {
    this.status.textContent = text;
    this.status.classList.toggle("d-ok", ok);
  }

  showAlert(...children) {
    this.alert.hidden = children.length === 0;
    this.alert.replaceChildren(...children);
  }

  changed({ structure = false } = {}) {
    this.changes += 1;
    if (structure) this.fresh = false;
    this.renderMeta();
    this.redraw();
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
    const result = await updateProcess({ processId: this.processId, definition, expectedVersion: this.draft.version });
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
      const design = await checkDraft(this.processId);
      if (!this.view.alive) return;
      if (design.version !== this.draft.version) return this.conflict(design.version);
      this.problems = design.problems;
      this.fresh = true;
    }
    this.showProblems();
    const count = this.problems.length;
    if (count) {
      this.say(`${count === 1 ? "1 problem" : `${count} problems`} to fix before publishing.`);
      this.summary.focus();
    } else {
      this.say("No problems: the draft can be published.", { ok: true });
    }
  }

  async publish() {
    if (this.dirty && !(await this.save())) return;
    const input = { processId: this.processId, expectedVersion: this.draft.version };
    const result = await publishProcess(input);
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
          const result = await discardDraft(input);
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
    placeProblems(this.form, this.problems, this.summary, { stale: !this.fresh });
    this.redraw();
  }

  // The drawing follows the working copy; problems are marked only while their paths still
  // point at the same stages. A stage box that had the focus keeps it.
  redraw() {
    if (!this.drawing?.isConnected) return;
    const focused = this.drawing.contains(document.activeElement) ? document.activeElement.dataset.stage : undefined;
    const svg = drawProcess(this.definition.stages, {
      problems: this.fresh ? this.problems : [],
      label: (key, i) => this.conditionLabel(this.definition.stages[i], key),
      open: (index) => this.openStage(index),
    });
    this.drawing.querySelector("svg, .d-empty")?.remove();
    this.drawing.append(svg);
    if (focused !== undefined) this.drawing.querySelector(`[data-stage="${focused}"]`)?.focus();
  }

  // From the drawing to the stage's editor: its first field, in view below the toolbar.
  openStage(index) {
    const card = this.at(`stages[${index}]`)();
    if (!card) return;
    card.scrollIntoView({ block: "start" });
    card.querySelector("input, select, textarea")?.focus({ preventScroll: true });
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
        this.pipelinePart(),
        el("div", { class: "d-fixed" },
          el("div", { "data-path": "entity" }, el("span", {}, "Entity: "), el("strong", {}, this.entity.name)),
          el("div", { "data-path": "key" }, el("span", {}, "Key: "), el("code", {}, d.key ?? "")))),
      this.crossingsPart(),
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
}

Object.assign(Editor.prototype, stageParts, stepParts, conditionParts, crossingParts, pipelineParts);

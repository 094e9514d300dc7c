// The form that registers a webhook or changes one: its URL, a description, the kinds of
// event it hears of, and which processes, stages and entities (none chosen: any).
import { el } from "./dom.js";
import { create, refused, TOPICS, update } from "./webhooks-api.js";

// `webhook`: the one to change (null: a new one). `saved(result)` gets the server's answer
// (WebhookCreated or WebhookSaved); `cancelled()`, when given, adds a Cancel button.
export function webhookForm({ webhook = null, processes, entities, saved, cancelled = null }) {
  const id = webhook ? `wh-${webhook.id}` : "wh-new";
  const message = el("p", { class: "form-message", role: "alert", id: `${id}-message` });
  const url = el("input", { id: `${id}-url`, name: "url", type: "url", required: true, maxlength: 2000,
    autocomplete: "off", spellcheck: "false", placeholder: "https://example.com/stageflow", value: webhook?.url ?? "" });
  const description = el("input", { id: `${id}-description`, name: "description", maxlength: 200,
    autocomplete: "off", value: webhook?.description ?? "" });
  const topics = checkboxes(`${id}-topic`, TOPICS, webhook?.topics ?? []);
  const chosenProcesses = checkboxes(`${id}-process`,
    processes.map((p) => [p.id, `${p.name} (${p.entity.key})`]), webhook?.processIds ?? []);
  const chosenEntities = checkboxes(`${id}-entity`, entities.map((e) => [e.key, e.name]), webhook?.entities ?? []);
  const stagesHint = el("p", { class: "hint", id: `${id}-stages-hint` });
  const stages = el("input", { id: `${id}-stages`, name: "stages", autocomplete: "off", spellcheck: "false",
    "aria-describedby": stagesHint.id, placeholder: "develop, propose", value: (webhook?.stages ?? []).join(", ") });
  const hintStages = () => {
    const picked = new Set(chosenProcesses.values());
    const shown = picked.size ? processes.filter((p) => picked.has(p.id)) : processes;
    const keys = [...new Set(shown.flatMap((p) => p.stages.map((s) => s.key)))].sort();
    stagesHint.textContent = `Stage keys, separated by commas; empty: any stage. Known: ${keys.join(", ")}.`;
  };
  chosenProcesses.node.addEventListener("change", hintStages);
  hintStages();

  const submit = el("button", { type: "submit", class: "primary" }, webhook ? "Save changes" : "Register webhook");
  const cancel = cancelled ? el("button", { type: "button", onclick: cancelled }, "Cancel") : null;
  const form = el("form", { class: "webhook-form", "aria-label": webhook ? `Change ${webhook.url}` : "New webhook" },
    el("div", { class: "webhook-form-row" },
      el("label", { for: url.id }, "URL", url),
      el("label", { for: description.id }, "Description (optional)", description)),
    el("fieldset", {}, el("legend", {}, "Events it hears of (at least one)"), topics.node),
    el("fieldset", {}, el("legend", {}, "Processes (none checked: every process)"), chosenProcesses.node),
    el("fieldset", {}, el("legend", {}, "Entities (none checked: every entity)"), chosenEntities.node),
    el("label", { for: stages.id, class: "webhook-stages" }, "Stages", stages),
    stagesHint,
    el("div", { class: "webhook-form-actions" }, submit, cancel),
    message);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const chosen = topics.values();
    if (chosen.length === 0) {
      message.textContent = "Choose at least one kind of event.";
      topics.node.querySelector("input").focus();
      return;
    }
    const input = {
      url: url.value.trim(),
      description: description.value,
      topics: chosen,
      processIds: chosenProcesses.values(),
      stages: stages.value.split(",").map((s) => s.trim()).filter(Boolean),
      entities: chosenEntities.values(),
    };
    submit.disabled = true;
    try {
      const result = webhook ? await update({ id: webhook.id, expectedVersion: webhook.version, ...input }) : await create(input);
      const error = refused(result);
      if (error) {
        message.textContent = error.currentVersion
          ? "Someone changed this webhook meanwhile: reload the page to see it as it is now."
          : error.message;
        return;
      }
      if (!webhook) form.reset();
      saved(result);
    } catch (error) {
      message.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// A group of checkboxes: `node` to show, `values()` the checked ones.
function checkboxes(prefix, options, checked) {
  const on = new Set(checked);
  const node = el("div", { class: "webhook-choices" },
    options.map(([value, label], index) => {
      const box = el("input", { type: "checkbox", id: `${prefix}-${index}`, value, checked: on.has(value) });
      return el("label", { for: box.id, class: "choice" }, box, ` ${label}`);
    }));
  return { node, values: () => [...node.querySelectorAll("input:checked")].map((box) => box.value) };
}

// Webhooks, for designers and admins: URLs that receive signed deliveries of process
// events. Register one (its secret is shown once), change, pause, resume, renew its secret
// or remove it, and read each one's delivery log.
import { announce } from "./announce.js";
import { confirmed } from "./dialog.js";
import { el, titleCase, when } from "./dom.js";
import { load, pause, refused, remove, renew, resume, TOPICS } from "./webhooks-api.js";
import { webhookForm } from "./webhooks-form.js";
import { deliveryLog } from "./webhooks-log.js";

const TOPIC_NAMES = Object.fromEntries(TOPICS);

export async function show(view) {
  const head = el("h1", {}, "Webhooks");
  let data;
  try {
    data = await load();
  } catch (error) {
    if (error.code !== "FORBIDDEN") throw error;
    view.replaceChildren(head, el("p", { class: "refusal", role: "alert" }, "Only designers and admins manage webhooks."));
    return;
  }
  const { processes, entities } = data;
  const status = el("p", { class: "status", role: "status" });
  const secret = el("div", { class: "secret", hidden: true });
  const list = el("div", { class: "webhooks" });
  const none = el("p", { class: "status" }, "No webhooks yet.");
  const page = { processes, entities, status, secret, list, refresh: () => { none.hidden = list.children.length > 0; } };

  const form = webhookForm({
    processes,
    entities,
    saved(result) {
      list.append(webhookCard(result.webhook, page));
      page.refresh();
      showSecret(page, result.webhook, result.secret, "created");
    },
  });
  view.replaceChildren(
    el("div", { class: "page-head" }, head),
    el("p", { class: "hint" },
      "A webhook receives each chosen event as a signed POST (Stageflow-Signature: HMAC-SHA256 with its secret), "
      + "tried again until it is delivered. Receivers drop a duplicate by its Stageflow-Delivery id."),
    el("section", { "aria-labelledby": "wh-new-title", class: "webhook-new" },
      el("h2", { id: "wh-new-title" }, "Register a webhook"), form),
    secret,
    status,
    el("h2", {}, "Registered webhooks"),
    list,
    none,
  );
  list.append(...data.webhooks.map((webhook) => webhookCard(webhook, page)));
  page.refresh();
}

// The secret of a webhook just made or renewed: shown this once, with a copy button.
function showSecret(page, webhook, value, what) {
  const input = el("input", { id: "webhook-secret", readonly: true, value, spellcheck: "false", autocomplete: "off" });
  input.addEventListener("focus", () => input.select());
  const copy = el("button", { type: "button" }, "Copy secret");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
      announce("Secret copied.");
    } catch {
      input.focus();
      announce("Copying was refused: the secret is selected, copy it with Ctrl+C.");
    }
  });
  const hide = el("button", { type: "button" }, "I have kept it");
  hide.addEventListener("click", () => {
    page.secret.hidden = true;
    page.secret.replaceChildren();
    page.status.textContent = "The secret is no longer shown.";
    document.querySelector(`[data-webhook="${webhook.id}"] h3`)?.focus();
  });
  page.secret.replaceChildren(
    el("label", { for: input.id }, `Signing secret of ${webhook.url}`),
    el("div", { class: "secret-row" }, input, copy, hide),
    el("p", { class: "hint", role: "note" },
      "Copy it now: it will not be shown again. If it is lost, renew the secret and give the receiver the new one."));
  page.secret.hidden = false;
  page.status.textContent = `Webhook ${what}: ${webhook.url}.`;
  input.focus();
}

function filters(webhook, page) {
  const names = webhook.processIds.map((id) => page.processes.find((p) => p.id === id)?.name ?? `process ${id}`);
  const entityNames = webhook.entities.map((key) => page.entities.find((e) => e.key === key)?.name ?? key);
  return [
    ["Events", webhook.topics.map((t) => TOPIC_NAMES[t] ?? t).join(", ")],
    ["Processes", names.join(", ") || "Every process"],
    ["Stages", webhook.stages.join(", ") || "Any stage"],
    ["Entities", entityNames.join(", ") || "Every entity"],
    ["Registered", `${when(webhook.createdAt)} by ${webhook.createdBy}`],
  ];
}

// One webhook: what it hears of, its state (a paused one says why, with Resume at hand),
// its buttons, and its delivery log on request.
function webhookCard(webhook, page) {
  const titleId = `wh-${webhook.id}-title`;
  const card = el("section", { class: "webhook", "data-webhook": webhook.id, "aria-labelledby": titleId });
  const message = el("p", { class: "form-message", role: "alert" });
  const logBox = el("div", { class: "webhook-log", id: `wh-${webhook.id}-log`, hidden: true });
  let logShown = false;

  const act = async (button, call, done) => {
    message.textContent = "";
    button.disabled = true;
    try {
      const result = await call(webhook);
      const error = refused(result);
      if (error) {
        message.textContent = error.currentVersion
          ? "Someone changed this webhook meanwhile: reload the page to see it as it is now."
          : error.message;
        return;
      }
      done(result);
    } catch (error) {
      message.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  };

  const draw = (focus = null) => {
    const paused = webhook.status === "PAUSED";
    const title = el("h3", { id: titleId, tabindex: "-1" }, webhook.description || webhook.url);
    const badge = el("span", { class: `badge status-${webhook.status.toLowerCase()}` }, titleCase(webhook.status));
    const resumeButton = el("button", { type: "button", class: "primary" }, "Resume");
    const pauseButton = el("button", { type: "button" }, "Pause");
    const editButton = el("button", { type: "button" }, "Edit");
    const renewButton = el("button", { type: "button" }, "Renew secret");
    const deleteButton = el("button", { type: "button", class: "danger" }, "Delete");
    const logButton = el("button", { type: "button", "aria-expanded": String(logShown), "aria-controls": logBox.id },
      logShown ? "Hide deliveries" : "Show deliveries");
    const label = webhook.description || webhook.url;
    for (const [button, verb] of [[resumeButton, "Resume"], [pauseButton, "Pause"], [editButton, "Edit"],
      [renewButton, "Renew secret of"], [deleteButton, "Delete"], [logButton, logShown ? "Hide deliveries of" : "Show deliveries of"]]) {
      button.setAttribute("aria-label", `${verb} ${label}`);
    }

    const banner = paused
      ? el("div", { class: "webhook-paused" },
          el("p", {}, el("strong", {}, "Paused: "), webhook.pausedReason || "no reason given",
            webhook.consecutiveFailures ? ` (${webhook.consecutiveFailures} failures in a row)` : "",
            ". Deliveries wait until it is resumed."),
          resumeButton)
      : null;
    card.classList.toggle("paused", paused);
    card.replaceChildren(
      el("div", { class: "webhook-head" }, title, badge),
      webhook.description ? el("p", { class: "webhook-url" }, webhook.url) : null,
      banner,
      el("dl", { class: "webhook-filters" }, filters(webhook, page).flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)])),
      el("div", { class: "webhook-actions" }, paused ? null : pauseButton, editButton, renewButton, deleteButton, logButton),
      message,
      logBox);

    resumeButton.addEventListener("click", () => act(resumeButton, resume, (result) => {
      Object.assign(webhook, result.webhook);
      say(`Resumed ${label}: waiting deliveries go out now.`);
      draw("pause");
    }));
    pauseButton.addEventListener("click", () => act(pauseButton, pause, (result) => {
      Object.assign(webhook, result.webhook);
      say(`Paused ${label}.`);
      draw("resume");
    }));
    renewButton.addEventListener("click", async () => {
      const sure = await confirmed({ title: "Renew the secret?", confirm: "Renew secret",
        text: `The current secret of ${webhook.url} stops signing at once; the receiver needs the new one.` });
      if (!sure) return;
      act(renewButton, renew, (result) => {
        Object.assign(webhook, result.webhook);
        draw();
        showSecret(page, webhook, result.secret, "secret renewed");
      });
    });
    deleteButton.addEventListener("click", async () => {
      const sure = await confirmed({ title: "Delete the webhook?", confirm: "Delete", danger: true,
        text: `${webhook.url} receives nothing more; deliveries still waiting are given up.` });
      if (!sure) return;
      act(deleteButton, remove, () => {
        card.remove();
        page.refresh();
        say(`Deleted ${label}.`);
        document.querySelector("#view h1")?.focus();
      });
    });
    editButton.addEventListener("click", () => {
      const form = webhookForm({
        webhook,
        processes: page.processes,
        entities: page.entities,
        saved(result) {
          Object.assign(webhook, result.webhook);
          say(`Saved ${webhook.description || webhook.url}.`);
          draw("title");
        },
        cancelled: () => draw("edit"),
      });
      card.replaceChildren(el("h3", { id: titleId }, `Change ${label}`), form);
      form.querySelector("input").focus();
    });
    logButton.addEventListener("click", async () => {
      logShown = !logShown;
      if (logShown) {
        logBox.replaceChildren(el("p", { class: "status" }, "Loading deliveries…"));
        logBox.hidden = false;
        try {
          logBox.replaceChildren(el("h4", {}, "Deliveries"), await deliveryLog(webhook));
        } catch (error) {
          logBox.replaceChildren(el("p", { role: "alert" }, error.message));
        }
      } else {
        logBox.hidden = true;
      }
      draw("log");
    });

    const targets = { pause: paused ? resumeButton : pauseButton, resume: paused ? resumeButton : pauseButton,
      edit: editButton, log: logButton, title };
    targets[focus]?.focus();
  };

  const say = (text) => {
    page.status.textContent = text;
    announce(text);
  };
  draw();
  return card;
}

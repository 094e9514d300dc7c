// Your API tokens: programs send one as `Authorization: Bearer <secret>` to act as you.
// A new token's secret is shown once; revoking a token stops it at once.
import { everyPage, graphql, PAGE, refused, RESULT_ERRORS } from "./api.js";
import { el, when } from "./dom.js";

const TOKENS = `query ApiTokens($after: ID) { apiTokens(first: ${PAGE}, after: $after) { id label createdAt } }`;
const CREATE = `mutation CreateApiToken($label: String!) {
  createApiToken(label: $label) { token { id label createdAt } secret }
}`;
const REVOKE = `mutation RevokeApiToken($id: ID!) {
  revokeApiToken(id: $id) { ... on ApiTokenRevoked { token { id } } ${RESULT_ERRORS} }
}`;

export async function show(view) {
  const apiTokens = await everyPage(TOKENS, "apiTokens", (token) => token.id);

  const status = el("p", { class: "status", role: "status" });
  const rows = el("tbody");
  const table = el("table", { class: "tokens" },
    el("thead", {}, el("tr", {}, ["Label", "Created", ""].map((h) => el("th", { scope: "col" }, h)))),
    rows);
  const none = el("p", { class: "status" }, "You have no API tokens.");
  const secret = el("div", { class: "secret", hidden: true });
  const refresh = () => {
    table.hidden = rows.children.length === 0;
    none.hidden = !table.hidden;
  };

  const revoke = async (token, row, target) => {
    target.disabled = true;
    try {
      const result = (await graphql(REVOKE, { id: token.id })).revokeApiToken;
      const error = refused(result);
      if (error) {
        status.textContent = error.message;
        return;
      }
      row.remove();
      if (secret.dataset.token === token.id) secret.hidden = true;
      refresh();
      status.textContent = `Revoked ${token.label}: it no longer works.`;
    } catch (error) {
      status.textContent = error.message;
    } finally {
      target.disabled = false;
    }
  };
  const tokenRow = (token) => {
    const button = el("button", { type: "button", class: "danger", "aria-label": `Revoke ${token.label}` }, "Revoke");
    const row = el("tr", { "data-token": token.id },
      el("td", {}, token.label), el("td", {}, when(token.createdAt)), el("td", {}, button));
    button.addEventListener("click", () => revoke(token, row, button));
    return row;
  };
  rows.append(...apiTokens.map(tokenRow));

  const showSecret = (token, value) => {
    const input = el("input", { id: "token-secret", readonly: true, value, spellcheck: "false", autocomplete: "off" });
    input.addEventListener("focus", () => input.select());
    secret.dataset.token = token.id;
    secret.replaceChildren(
      el("label", { for: "token-secret" }, `Secret of ${token.label}`),
      input,
      el("p", { class: "hint" }, "Copy it now: it is not shown again. Send it as Authorization: Bearer <secret>."));
    secret.hidden = false;
    input.focus();
  };

  view.replaceChildren(
    el("div", { class: "page-head" }, el("h1", {}, "API tokens"), newTokenForm((token, value) => {
      rows.append(tokenRow(token));
      refresh();
      showSecret(token, value);
      status.textContent = `Created ${token.label}.`;
    })),
    el("p", { class: "hint" }, "A token lets a program use the API as you, with your roles, until you revoke it."),
    secret,
    status,
    table,
    none,
  );
  refresh();
}

function newTokenForm(created) {
  const message = el("p", { class: "form-message", role: "alert" });
  const label = el("input", { id: "new-token-label", name: "label", required: true, maxlength: 100, autocomplete: "off",
    placeholder: "Reporting script" });
  const submit = el("button", { type: "submit", class: "primary" }, "Create token");
  const form = el("form", { class: "new-token", "aria-label": "New API token" },
    el("label", { for: "new-token-label" }, "Label", label), submit, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    submit.disabled = true;
    try {
      const { token, secret } = (await graphql(CREATE, { label: label.value })).createApiToken;
      form.reset();
      created(token, secret);
    } catch (error) {
      message.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

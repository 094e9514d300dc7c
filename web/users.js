// Users, for admins: who may sign in, with which base role and team roles, and new
// passwords. Processes name the roles that may run them.
import { everyPage, graphql, mutate, PAGE, refused, RESULT_ERRORS, session } from "./api.js";
import { el, titleCase } from "./dom.js";

const BASE_ROLES = ["USER", "DESIGNER", "ADMIN"];
const USER_FIELDS = "id name role roles active";

const USERS = `query Users($after: String) { users(first: ${PAGE}, after: $after) { ${USER_FIELDS} } }`;
const CREATE = `mutation CreateUser($input: CreateUserInput!) {
  createUser(input: $input) { ... on UserSaved { user { ${USER_FIELDS} } } ${RESULT_ERRORS} }
}`;
const UPDATE = `mutation UpdateUser($input: UpdateUserInput!) {
  updateUser(input: $input) { ... on UserSaved { user { ${USER_FIELDS} } } ${RESULT_ERRORS} }
}`;

// "sales, support" as the list the server takes.
function parseRoles(text) {
  return text.split(",").map((role) => role.trim()).filter(Boolean);
}

export async function show(view) {
  const head = el("h1", {}, "Users");
  let users;
  try {
    users = await everyPage(USERS, "users", (user) => user.name);
  } catch (error) {
    if (error.code !== "FORBIDDEN") throw error;
    view.replaceChildren(head, el("p", { class: "refusal", role: "alert" }, "Only admins manage users."));
    return;
  }

  const status = el("p", { class: "status", role: "status" });
  const rows = el("tbody");
  const count = () => {
    const total = rows.children.length;
    status.textContent = `${total} ${total === 1 ? "user" : "users"}`;
  };
  rows.append(...users.map((user) => userRow(user, status)));

  view.replaceChildren(
    el("div", { class: "page-head" }, head, newUserForm((user) => {
      rows.append(userRow(user, status));
      status.textContent = `Created ${user.name}.`;
    })),
    status,
    el("table", { class: "users" },
      el("thead", {}, el("tr", {},
        ["Name", "Base role", "Team roles", "Active", "New password", ""].map((h) => el("th", { scope: "col" }, h)))),
      rows),
    el("p", { class: "hint" },
      "Team roles are separated by commas. Processes name the roles that may run them; admins run every process. "
      + "Making a user inactive ends their sessions and API tokens at once."),
  );
  count();
}

function roleSelect(id, value) {
  const select = el("select", { id, name: "role" },
    BASE_ROLES.map((role) => el("option", { value: role }, titleCase(role))));
  select.value = value;
  return select;
}

function newUserForm(created) {
  const message = el("p", { class: "form-message", role: "alert" });
  const name = el("input", { id: "new-user-name", name: "name", required: true, maxlength: 100, autocomplete: "off" });
  const password = el("input", { id: "new-user-password", name: "password", type: "password", required: true,
    minlength: 10, maxlength: 200, autocomplete: "new-password" });
  const role = roleSelect("new-user-role", "USER");
  const roles = el("input", { id: "new-user-roles", name: "roles", placeholder: "sales, support", autocomplete: "off" });
  const submit = el("button", { type: "submit", class: "primary" }, "Create user");
  const form = el("form", { class: "new-user", "aria-label": "New user" },
    el("label", { for: "new-user-name" }, "Name", name),
    el("label", { for: "new-user-password" }, "Password", password),
    el("label", { for: "new-user-role" }, "Base role", role),
    el("label", { for: "new-user-roles" }, "Team roles", roles),
    submit,
    message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    submit.disabled = true;
    try {
      const input = { name: name.value, password: password.value, role: role.value, roles: parseRoles(roles.value) };
      const result = (await mutate("createUser", CREATE, input)).createUser;
      const error = refused(result);
      if (error) {
        message.textContent = error.message;
        return;
      }
      form.reset();
      created(result.user);
    } catch (error) {
      message.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// One user, changed in place: base role, team roles, active, and a new password.
function userRow(user, status) {
  const id = `user-${user.id}`;
  const self = session.user?.id === user.id;
  const message = el("p", { class: "form-message", role: "alert" });
  const role = roleSelect(`${id}-role`, user.role);
  const roles = el("input", { id: `${id}-roles`, name: "roles", value: user.roles.join(", "), placeholder: "None", autocomplete: "off" });
  const active = el("input", { id: `${id}-active`, name: "active", type: "checkbox", checked: user.active });
  const password = el("input", { id: `${id}-password`, name: "password", type: "password", minlength: 10, maxlength: 200,
    placeholder: "Unchanged", autocomplete: "new-password" });
  // Locking oneself out takes another admin.
  role.disabled = self;
  active.disabled = self;
  const save = el("button", { type: "button", "aria-label": `Save ${user.name}` }, "Save");

  const row = el("tr", { "data-user": user.id, class: user.active ? null : "inactive" },
    el("th", { scope: "row" }, user.name, self ? el("small", {}, " (you)") : null),
    // data-label: the column's name, shown beside the cell where the columns stack.
    el("td", { "data-label": "Base role" }, el("label", { for: role.id, class: "visually-hidden" }, `Base role of ${user.name}`), role),
    el("td", { "data-label": "Team roles" }, el("label", { for: roles.id, class: "visually-hidden" }, `Team roles of ${user.name}`), roles),
    el("td", {}, el("label", { for: active.id }, active, " Active", el("span", { class: "visually-hidden" }, ` (${user.name})`))),
    el("td", { "data-label": "New password" }, el("label", { for: password.id, class: "visually-hidden" }, `New password for ${user.name}`), password),
    el("td", {}, save, message));

  save.addEventListener("click", async () => {
    message.textContent = "";
    save.disabled = true;
    try {
      const input = { userId: user.id, roles: parseRoles(roles.value) };
      if (!self) Object.assign(input, { role: role.value, active: active.checked });
      if (password.value) input.password = password.value;
      const result = (await mutate("updateUser", UPDATE, input)).updateUser;
      const error = refused(result);
      if (error) {
        message.textContent = error.message;
        return;
      }
      Object.assign(user, result.user);
      role.value = user.role;
      roles.value = user.roles.join(", ");
      active.checked = user.active;
      password.value = "";
      row.classList.toggle("inactive", !user.active);
      status.textContent = `Saved ${user.name}${input.password ? ", with a new password" : ""}.`;
    } catch (error) {
      message.textContent = error.message;
    } finally {
      save.disabled = false;
    }
  });
  return row;
}

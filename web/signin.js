// Signing in: name and password; the server sets an HttpOnly session cookie.
import { signIn } from "./api.js";
import { el } from "./dom.js";

export async function show(view, _params, { signedIn }) {
  const message = el("p", { class: "form-message", role: "alert" });
  const name = el("input", { id: "sign-in-name", name: "name", autocomplete: "username", required: true, maxlength: 100 });
  const password = el("input", { id: "sign-in-password", name: "password", type: "password", autocomplete: "current-password", required: true, maxlength: 200 });
  const form = el("form", { class: "sign-in", "aria-labelledby": "sign-in-title" },
    el("h1", { id: "sign-in-title" }, "Sign in to Stageflow"),
    el("label", { for: "sign-in-name" }, "Name", name),
    el("label", { for: "sign-in-password" }, "Password", password),
    el("button", { type: "submit", class: "primary" }, "Sign in"),
    message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      const refusal = await signIn(name.value, password.value);
      if (refusal) {
        message.textContent = refusal;
        password.value = "";
        password.focus();
        return;
      }
      signedIn();
    } catch (error) {
      message.textContent = error.message;
    }
  });
  view.replaceChildren(form);
  name.focus();
}

// Wires the page: the route in the URL picks a view; the header holds the acting user
// and the live connection's state; notices say what others changed.
import { announce } from "./announce.js";
import { live, loadSession, session, signOut } from "./api.js";
import { el } from "./dom.js";
import { setTitle } from "./title.js";

// Each view is a module loaded when first shown: `show(container, params, page)` renders
// it and may return what to do when leaving it. The name titles the page until the view
// says more (a record's page names the record).
const ROUTES = [
  [/^#\/records\/(\d+)$/, "./record.js", "records", "Record"],
  [/^#\/records$/, "./records.js", "records", "Records"],
  [/^#\/board(?:\/(\d+))?$/, "./board.js", "board", "Board"],
  [/^#\/insights(?:\/(\d+))?$/, "./insights.js", "insights", "Insights"],
  [/^#\/designer(?:\/(\d+))?$/, "./designer.js", "designer", "Designer"],
  [/^#\/webhooks$/, "./webhooks.js", "webhooks", "Webhooks"],
  [/^#\/users$/, "./users.js", "users", "Users"],
  [/^#\/tokens$/, "./tokens.js", "tokens", "API tokens"],
];

const NOTICE_MS = 8000;
let leave = () => {};

export function notify(text) {
  const notices = document.getElementById("notices");
  const notice = el("p", { class: "notice" }, text);
  notices.append(notice);
  setTimeout(() => notice.remove(), NOTICE_MS);
}

// `moved`: the user went to another page (not the first load), so focus follows them there.
async function route({ moved = false } = {}) {
  const hash = location.hash || "#/records";
  showUser();
  if (!session.user) {
    showSignIn();
    return;
  }
  leave();
  leave = () => {};
  const view = freshView();
  for (const [pattern, path, nav, name] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    setTitle(name);
    const shown = hash;
    const current = () => location.hash === shown || (shown === "#/records" && !location.hash);
    try {
      const module = await import(path);
      const stop = await module.show(view, match.slice(1), { notify });
      if (current()) {
        if (typeof stop === "function") leave = stop;
        if (moved) arrive(view, name);
      } else if (typeof stop === "function") {
        stop();
      }
    } catch (error) {
      // Signed out meanwhile: the sign-in form takes the view instead.
      if (error.code === "UNAUTHENTICATED") return;
      view.replaceChildren(el("h1", {}, "Something went wrong"), el("p", { role: "alert" }, error.message));
      if (!current()) return;
      setTitle("Something went wrong");
      if (moved) arrive(view, "Something went wrong");
    }
    return;
  }
  setTitle("Not found");
  view.append(el("h1", {}, "Not found"), el("p", {}, el("a", { href: "#/records" }, "Back to records")));
  if (moved) arrive(view, "Not found");
}

// Each page draws into a box of its own: one still loading when the user moved on draws
// into a box no longer shown, not over the page that replaced it.
function freshView() {
  const box = el("div", { class: "page" });
  document.getElementById("view").replaceChildren(box);
  return box;
}

// A new page is said and focused at its heading: the link or form that led there is gone,
// and focus left on <body> would start the keyboard and the screen reader over from the top.
function arrive(view, name) {
  announce(`${name} page`);
  // The user is already at work in the new page (it showed its controls while loading).
  if (view.contains(document.activeElement)) return;
  const heading = view.querySelector("h1") || view;
  if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
  heading.focus();
}

// Nobody signed in: the sign-in form, then the page that was asked for.
async function showSignIn() {
  leave();
  leave = () => {};
  showUser();
  setTitle("Sign in");
  const view = freshView();
  const module = await import("./signin.js");
  await module.show(view, [], {
    async signedIn() {
      await loadSession();
      route({ moved: true });
    },
  });
}

function showUser() {
  const user = session.user;
  document.querySelector(".top nav").hidden = !user;
  document.querySelector(".user").hidden = !user;
  document.getElementById("user-name").textContent = user ? `${user.name} (${user.role.toLowerCase()})` : "";
  for (const link of document.querySelectorAll("[data-designers]")) {
    link.hidden = !user || user.role === "USER";
  }
  for (const link of document.querySelectorAll("[data-admins]")) {
    link.hidden = !user || user.role !== "ADMIN";
  }
}

async function main() {
  document.getElementById("sign-out").addEventListener("click", async () => {
    await signOut();
  });
  window.addEventListener("stageflow:signed-out", () => showSignIn());
  const state = document.getElementById("live-state");
  live.onState((value) => {
    state.dataset.state = value;
    state.textContent = { open: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", closed: "Live: off" }[value];
  });
  window.stageflowLive = live;
  window.addEventListener("hashchange", () => route({ moved: true }));
  // #view in the URL would be taken for a route: the link moves focus itself.
  document.getElementById("skip").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("view").focus();
  });
  try {
    await loadSession();
  } catch {
    // Signed out or unreachable: the sign-in form says more.
  }
  showUser();
  route();
}

main();

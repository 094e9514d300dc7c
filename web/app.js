// Wires the page: the route in the URL picks a view; the header holds the acting user
// and the live connection's state; notices say what others changed.
import { live, loadSession, session, signOut } from "./api.js";
import { el } from "./dom.js";

// Each view is a module loaded when first shown: `show(container, params, page)` renders
// it and may return what to do when leaving it.
const ROUTES = [
  [/^#\/records\/(\d+)$/, "./record.js", "records"],
  [/^#\/records$/, "./records.js", "records"],
  [/^#\/board(?:\/(\d+))?$/, "./board.js", "board"],
  [/^#\/designer(?:\/(\d+))?$/, "./designer.js", "designer"],
  [/^#\/users$/, "./users.js", "users"],
  [/^#\/tokens$/, "./tokens.js", "tokens"],
];

const NOTICE_MS = 8000;
let leave = () => {};

export function notify(text) {
  const notices = document.getElementById("notices");
  const notice = el("p", { class: "notice" }, text);
  notices.append(notice);
  setTimeout(() => notice.remove(), NOTICE_MS);
}

async function route() {
  const hash = location.hash || "#/records";
  showUser();
  if (!session.user) {
    showSignIn();
    return;
  }
  leave();
  leave = () => {};
  const view = document.getElementById("view");
  view.replaceChildren();
  for (const [pattern, path, nav] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const shown = hash;
    try {
      const module = await import(path);
      const stop = await module.show(view, match.slice(1), { notify });
      if (location.hash === shown || (shown === "#/records" && !location.hash)) {
        if (typeof stop === "function") leave = stop;
      } else if (typeof stop === "function") {
        stop();
      }
    } catch (error) {
      // Signed out meanwhile: the sign-in form takes the view instead.
      if (error.code === "UNAUTHENTICATED") return;
      view.replaceChildren(el("h1", {}, "Something went wrong"), el("p", { role: "alert" }, error.message));
    }
    return;
  }
  view.append(el("h1", {}, "Not found"), el("p", {}, el("a", { href: "#/records" }, "Back to records")));
}

// Nobody signed in: the sign-in form, then the page that was asked for.
async function showSignIn() {
  leave();
  leave = () => {};
  showUser();
  const view = document.getElementById("view");
  const module = await import("./signin.js");
  await module.show(view, [], {
    async signedIn() {
      await loadSession();
      route();
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
  window.addEventListener("hashchange", route);
  try {
    await loadSession();
  } catch {
    // Signed out or unreachable: the sign-in form says more.
  }
  showUser();
  route();
}

main();

// Navigation and the screen chrome: which screen the current view shows, the tabs, the
// connection line, the title, and the #/summary/{couple_id} address. Screens register
// themselves here by view name (see app.js), so the router imports none of them.

import { clear } from "./dom.js";
import { S, conn, main, nav, partnerLine, partnerName, setTitle } from "./state.js";

/* The screens, by view name: render(...args) draws the screen; redraw(), if given,
   re-draws what changed in it without disturbing a form being filled. */
const screens = new Map();

export function registerScreen(name, render, redraw = null) {
  screens.set(name, { render, redraw });
}

/** Draws the screen registered as `name`. */
export function show(name, ...args) {
  return screens.get(name).render(...args);
}

/** Re-draws the screen registered as `name` if it is the one showing. */
export function redraw(name) {
  const screen = screens.get(name);
  if (S.view.name === name && screen && screen.redraw) screen.redraw();
}

/* A summary has its own address (#/summary/{couple_id}), so it can be linked, reloaded
   and reached with the back button; every other screen lives in S.view. */
export function hashView() {
  const m = /^#\/summary\/([0-9a-fA-F-]{36})$/.exec(location.hash);
  return m ? { name: "summary", coupleId: m[1].toLowerCase() } : null;
}

window.addEventListener("hashchange", () => {
  if (!S.me) return;
  const hv = hashView();
  if (hv) S.view = hv;
  else if (S.view.name === "summary") S.view = { name: S.me.role === "partner" ? "therapist" : "couples" };
  else return;
  route();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
});

export function showScreen(title, withNav = false) {
  setTitle(title);
  clear(main);
  S.summary = null;
  document.body.classList.remove("wide");
  nav.hidden = !withNav;
  conn.hidden = !S.live;
  partnerLine.textContent = S.couple && S.couple.status === "paired" ? `with ${partnerName()}` : "";
  for (const b of nav.querySelectorAll("button")) {
    const current = S.view.name === "consent" ? "mine" : S.view.name === "summary" ? "therapist" : S.view.name;
    if (b.dataset.view === current) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
}

const CONN_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline · changes kept on this phone",
};

export function showConn(state) {
  S.conn = state;
  conn.dataset.state = state;
  conn.textContent = CONN_TEXT[state] || state;
}

// With large text the tabs wrap onto two rows; keep the page's end clear of them.
if ("ResizeObserver" in window) {
  new ResizeObserver(() => {
    document.body.style.paddingBottom = nav.hidden ? "" : `${nav.offsetHeight + 16}px`;
  }).observe(nav);
}

nav.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-view]");
  if (!b) return;
  go({ name: b.dataset.view });
});

export function go(view) {
  if (view.name !== "summary" && hashView()) history.pushState(null, "", location.pathname + location.search);
  S.view = view;
  route();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

export function route() {
  if (!S.me) return show("auth", "signup");
  if (S.me.role !== "partner") return S.view.name === "summary" ? show("summary") : show("couples");
  if (!S.couple || S.couple.status !== "paired") return show("pairing");
  switch (S.view.name) {
    case "summary":
    case "therapist":
    case "write":
    case "mine":
      return show(S.view.name);
    case "consent":
      return show("consent", S.view.id);
    default:
      return show("together");
  }
}

/** Re-draws a list view after data changed, without disturbing a form being filled. */
export function refresh() {
  if (!S.me || !S.couple || S.couple.status !== "paired") return;
  redraw("together");
  redraw("mine");
}

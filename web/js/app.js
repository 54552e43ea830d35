// Tandem's phone app: accounts, pairing, writing, consent, the shared timeline.

import { ApiError, OFFLINE_MESSAGE, get, post } from "./api.js";
import { clear, h, put, storage, uid } from "./dom.js";
import { busy, checkedValue, clearErrors, radioGroup, showError, textField } from "./forms.js";
import { KIND, KIND_HINT, NONE_OF_THESE, sentence, when, word } from "./labels.js";
import { Live } from "./live.js";
import { entryBody, entryCard } from "./render.js";
import { cleanBody, composeForm, loadCompose, saveCompose } from "./compose.js";
import { qrSvg } from "./qr.js";
import { dateOnly, dateTime, summaryPage } from "./summary.js";

const S = {
  me: null,
  couple: null,
  vocab: null,
  entries: new Map(),
  live: null,
  view: { name: "together" },
  conn: "connecting",
  outbox: [],
  joinCode: null,
  loadingList: null,
  buffered: null,
  summary: null,
  couples: null,
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const conn = document.getElementById("conn");
const partnerLine = document.getElementById("partner-line");
const announcer = document.getElementById("announce");

const partnerName = () => (S.couple && S.couple.partner && S.couple.partner.display_name) || "your partner";

function announce(text) {
  announcer.textContent = "";
  setTimeout(() => (announcer.textContent = text), 50);
}

function setTitle(part) {
  // Titles never carry entry text.
  document.title = part ? `${part} · Tandem` : "Tandem";
}

/* ------------------------------------------------------------------ start-up */

function readInviteLink() {
  if (location.pathname === "/join") {
    const code = decodeURIComponent(location.hash.replace(/^#/, "")).trim();
    if (code) sessionStorage.setItem("tandem:join", code);
    history.replaceState(null, "", "/");
  }
  S.joinCode = sessionStorage.getItem("tandem:join");
}

async function boot() {
  readInviteLink();
  try {
    const me = await get("/api/me");
    await signedIn(me);
  } catch (e) {
    if (e.status === 401) renderAuth(S.joinCode ? "signup" : "signup");
    else renderFatal(e);
  }
}

function renderFatal(e) {
  showScreen("Tandem");
  put(main, 
    h("section", { class: "card center" },
      h("h1", { text: "Tandem can't be reached" }),
      h("p", { text: e.code === "network" ? OFFLINE_MESSAGE : sentence(e.message) }),
      h("button", { class: "primary", type: "button", text: "Try again", onclick: () => boot() }),
    ),
  );
}

async function signedIn(me) {
  S.me = me.user;
  S.couple = me.couple;
  if (!S.vocab) {
    try {
      S.vocab = await get("/api/vocabulary");
    } catch {
      S.vocab = null;
    }
  }
  const fromLink = hashView();
  if (fromLink) S.view = fromLink;
  else if (S.me.role !== "partner") S.view = { name: "couples" };
  startLive();
  route();
}

/* A summary has its own address (#/summary/{couple_id}), so it can be linked, reloaded
   and reached with the back button; every other screen lives in S.view. */
function hashView() {
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

function startLive() {
  if (S.live) S.live.stop();
  S.entries = new Map();
  const partner = S.me.role === "partner";
  S.live = new Live(S.me.id, {
    status: (state) => showConn(state),
    ready: (msg, fresh) => (!fresh ? null : partner ? loadEntries() : refreshReader()),
    event: (msg) => onEvent(msg),
    ack: (msg) => {
      if (msg.entry) upsert(msg.entry);
      else if (msg.entry_id) removeEntry(msg.entry_id);
      refresh();
    },
    sessionEnded: () => {
      S.live = null;
      S.me = null;
      renderAuth("login", "Your session ended. Please log in again.");
    },
    outbox: (list) => {
      S.outbox = list;
      if (S.view.name === "mine") refresh();
    },
  });
  S.outbox = S.live.outbox;
  S.live.start();
}

async function loadEntries() {
  S.buffered = [];
  try {
    const all = [];
    let before = null;
    for (let page = 0; page < 10; page++) {
      const q = before ? `?limit=200&before=${encodeURIComponent(before)}` : "?limit=200";
      const res = await get(`/api/entries${q}`);
      all.push(...res.entries);
      if (!res.next_before) break;
      before = res.next_before;
    }
    S.entries = new Map(all.map((e) => [e.id, e]));
  } catch {
    /* the list reloads at the next connection */
  }
  const pending = S.buffered || [];
  S.buffered = null;
  for (const msg of pending) applyEvent(msg, false);
  refresh();
}

function onEvent(msg) {
  if (S.me && S.me.role !== "partner") {
    // A therapist hears only that a couple's summary changed (new entries, a grant, a revocation).
    if (msg.event === "summary") refreshReader(msg.couple_id);
    return;
  }
  if (S.buffered) {
    S.buffered.push(msg);
    return;
  }
  applyEvent(msg, true);
  refresh();
  if (S.view.name === "summary" && S.summary && ["couple", "entry", "entry_removed"].includes(msg.event)) S.summary.refetch();
}

/** Re-reads what a reader is looking at: the open summary, or the list of couples. */
function refreshReader(coupleId) {
  if (S.view.name === "summary" && S.summary && (!coupleId || coupleId === S.view.coupleId)) S.summary.refetch();
  else if (S.view.name === "couples") loadCouples();
}

function applyEvent(msg, live) {
  if (msg.event === "entry") {
    const isNew = !S.entries.has(msg.entry.id);
    upsert(msg.entry);
    if (live && isNew && !msg.entry.mine) {
      const what = msg.entry.kind === "reply" ? "a reply" : `a ${(KIND[msg.entry.kind] || "entry").toLowerCase()}`;
      announce(`${msg.entry.author.display_name} shared ${what}.`);
    }
  } else if (msg.event === "entry_removed") {
    removeEntry(msg.entry_id);
  } else if (msg.event === "couple") {
    const before = S.couple;
    S.couple = msg.couple;
    const tBefore = (before && before.therapist) || null;
    const tNow = (S.couple && S.couple.therapist) || null;
    if (JSON.stringify(tBefore) !== JSON.stringify(tNow)) {
      if (live) announceTherapist(tBefore, tNow);
      if (S.view.name === "therapist") updateCare();
    }
    const changed = JSON.stringify(before && before.partner) !== JSON.stringify(S.couple && S.couple.partner) || (before && before.status) !== (S.couple && S.couple.status);
    if (changed) {
      if (S.couple && S.couple.status === "paired") {
        storage.remove(inviteKey());
        announce(`${partnerName()} joined. You're paired.`);
        S.view = { name: "together" };
      }
      if (live) loadEntries();
      route();
    }
  }
}

function upsert(entry) {
  const old = S.entries.get(entry.id);
  if (old && old.updated_at > entry.updated_at) return;
  S.entries.set(entry.id, entry);
}

function removeEntry(id) {
  S.entries.delete(id);
}

/* ------------------------------------------------------------ screen chrome */

function showScreen(title, withNav = false) {
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

function showConn(state) {
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

function go(view) {
  if (view.name !== "summary" && hashView()) history.pushState(null, "", location.pathname + location.search);
  S.view = view;
  route();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function route() {
  if (!S.me) return renderAuth("signup");
  if (S.me.role !== "partner") return S.view.name === "summary" ? renderSummary() : renderCouples();
  if (!S.couple || S.couple.status !== "paired") return renderPairing();
  switch (S.view.name) {
    case "summary":
      return renderSummary();
    case "therapist":
      return renderCare();
    case "write":
      return renderWrite();
    case "mine":
      return renderMine();
    case "consent":
      return renderConsent(S.view.id);
    default:
      return renderTogether();
  }
}

/** Re-draws a list view after data changed, without disturbing a form being filled. */
function refresh() {
  if (!S.me || !S.couple || S.couple.status !== "paired") return;
  if (S.view.name === "together") updateTogether();
  else if (S.view.name === "mine") updateMine();
}

/* ----------------------------------------------------------------- accounts */

function renderAuth(mode, notice) {
  S.view = { name: "auth" };
  showScreen(mode === "login" ? "Log in" : "Sign up");
  conn.hidden = true;
  const signup = mode === "signup";
  const form = h("form", { class: "card auth", novalidate: true });
  const fields = [];
  if (signup) {
    fields.push(textField({ name: "display_name", label: "Your name", field: "display_name", autocomplete: "nickname", max: 60, hint: "Your partner sees this name." }));
  }
  fields.push(
    textField({ name: "email", label: "Email", field: "email", type: "email", autocomplete: "email", inputmode: "email" }),
    textField({ name: "password", label: "Password", field: "password", type: "password", autocomplete: signup ? "new-password" : "current-password", hint: signup ? "At least 10 characters." : undefined }),
  );
  if (signup) {
    fields.push(
      radioGroup({
        name: "role",
        legend: "I'm joining as",
        field: "role",
        value: "partner",
        options: [
          { value: "partner", label: "A partner" },
          { value: "therapist", label: "A therapist" },
        ],
      }),
    );
  }
  const submit = h("button", { type: "submit", class: "primary", text: signup ? "Create my account" : "Log in" });
  put(form, h("div", { class: "form-errors" }), ...fields, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = { email: form.elements.email.value, password: form.elements.password.value };
    if (signup) {
      body.display_name = form.elements.display_name.value;
      body.role = checkedValue(form, "role") || "partner";
    }
    await busy(submit, async () => {
      try {
        await post(signup ? "/api/signup" : "/api/login", body);
        const me = await get("/api/me");
        S.view = { name: "together" };
        await signedIn(me);
      } catch (err) {
        showError(form, err, err.code === "bad_credentials" ? "password" : null);
      }
    });
  });

  put(main, 
    h("section", { class: "welcome" },
      h("h1", { text: "Tandem" }),
      h("p", { class: "lead", text: "Check in with each other, gently. Everything you write stays private until you choose to share it." }),
    ),
    S.joinCode ? h("p", { class: "notice", text: `You've been invited to pair (code ${S.joinCode}). ${signup ? "Create your account" : "Log in"} first, then you can join.` }) : null,
    notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
    h("div", { class: "segmented", role: "group", "aria-label": "Account" },
      h("button", { type: "button", "aria-pressed": String(signup), text: "Sign up", onclick: () => renderAuth("signup") }),
      h("button", { type: "button", "aria-pressed": String(!signup), text: "Log in", onclick: () => renderAuth("login") }),
    ),
    form,
  );
}

async function logout() {
  try {
    await post("/api/logout");
  } catch {
    /* the cookie is gone or the server unreachable: forget locally either way */
  }
  if (S.me) {
    for (const k of ["seq", "outbox", "compose", "invite"]) storage.remove(`tandem:${k}:${S.me.id}`);
  }
  if (S.live) S.live.stop();
  S.live = null;
  S.me = null;
  S.couple = null;
  S.entries = new Map();
  renderAuth("login", "You're logged out.");
}

function accountSection() {
  const section = h("section", { class: "card account", "aria-labelledby": "account-h" },
    h("h2", { id: "account-h", text: "Account" }),
    h("p", { class: "muted", text: `Signed in as ${S.me.display_name} (${S.me.email}).` }),
    h("button", { type: "button", class: "secondary", text: "Log out", onclick: logout }),
  );
  if (S.couple) {
    const area = h("div", { class: "unpair" });
    const ask = h("button", {
      type: "button",
      class: "secondary",
      text: "Unpair…",
      onclick: () => {
        clear(area);
        const yes = h("button", { type: "button", class: "danger", text: "Unpair now" });
        yes.addEventListener("click", () =>
          busy(yes, async () => {
            try {
              await post("/api/couple/unpair");
              S.couple = null;
              route();
            } catch (err) {
              showError(area, err);
            }
          }),
        );
        put(area, 
          h("p", { text: `You can unpair on your own, at any time. You keep your own entries, and nothing of ${partnerName()}'s beyond what they had shared.` }),
          h("div", { class: "row" }, yes, h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => { clear(area); put(area, ask); } })),
        );
        yes.focus();
      },
    });
    put(area, ask);
    put(section, area);
  }
  return section;
}

/* ---------------------------------------------------------------- therapist */

function announceTherapist(before, now) {
  const name = (now || before).display_name;
  if (now && now.status === "active" && (!before || before.status !== "active")) announce(`${name} can now read the shared summary.`);
  else if (!now && before && before.status === "active") announce(`${name}'s access has ended.`);
  else if (!now && before) announce(`The proposal of ${name} was withdrawn.`);
  else if (now && !before && !now.approved_by_me) announce(`${partnerName()} proposed ${name} as your therapist.`);
}

/** A partner's therapist area: propose, approve, revoke, open the summary, see the view log. */
function renderCare() {
  showScreen("Therapist", true);
  put(main,
    h("h1", { class: "page-title", text: "Therapist" }),
    h("p", { class: "lead", text: "A therapist you both choose can read a summary of what either of you adds to it, and nothing else." }),
    h("div", { id: "care", "aria-live": "polite" }),
    h("section", { class: "card", "aria-labelledby": "summary-h" },
      h("h2", { id: "summary-h", text: "The shared summary" }),
      h("p", { text: "See what the therapist sees, minus anything your partner shared with the therapist alone: figures, charts and entries." }),
      h("a", { class: "primary", href: `#/summary/${S.couple.id}`, id: "open-summary", text: "Open the summary" }),
    ),
    h("section", { class: "card", "aria-labelledby": "views-h" },
      h("div", { class: "row spread" },
        h("h2", { id: "views-h" }),
        h("button", { type: "button", class: "link", text: "Refresh", onclick: () => loadViews() }),
      ),
      h("div", { id: "views" }, h("p", { class: "muted", text: "Loading…" })),
    ),
  );
  updateCare();
  loadViews();
}

function careAction(button, path, area, after) {
  return busy(button, async () => {
    try {
      const res = await post(path);
      const before = S.couple && S.couple.therapist;
      S.couple = res.couple;
      if (after) after(before);
      updateCare();
      loadViews();
    } catch (err) {
      if (area.isConnected) showError(area, err);
    }
  });
}

function updateCare() {
  const box = document.getElementById("care");
  if (!box) return;
  const t = S.couple && S.couple.therapist;
  const heading = document.getElementById("views-h");
  if (heading) heading.textContent = `When ${t ? t.display_name : "the therapist"} viewed it`;
  clear(box);
  const card = h("section", { class: "card care", "aria-labelledby": "care-h", "data-state": t ? t.status : "none" });
  put(box, card);
  if (!t) {
    const form = h("form", { novalidate: true });
    const send = h("button", { type: "submit", class: "primary", text: "Propose" });
    put(card,
      h("h2", { id: "care-h", text: "Invite a therapist" }),
      h("p", { text: `Propose your therapist by the email of their Tandem therapist account. ${partnerName()} approves too: nothing is shared with them until both of you do.` }),
      form,
    );
    put(form,
      h("div", { class: "form-errors" }),
      textField({ name: "email", label: "Therapist's email", field: "email", type: "email", autocomplete: "off", inputmode: "email" }),
      send,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      clearErrors(form);
      busy(send, async () => {
        try {
          const res = await post("/api/couple/therapist", { email: form.elements.email.value });
          S.couple = res.couple;
          announce(`Proposed. Waiting for ${partnerName()} to approve.`);
          updateCare();
        } catch (err) {
          showError(form, err, "email");
        }
      });
    });
    return;
  }
  const name = t.display_name;
  const revokeArea = h("div", { class: "revoke" });
  if (t.status === "active") {
    put(card,
      h("h2", { id: "care-h", text: name }),
      h("p", { class: "status-line active", text: `${name} can read the shared summary since ${dateOnly(t.active_since, true)}.` }),
      h("p", { class: "hint", text: "Only entries either of you added to the therapist summary count, and only while both of you keep this access." }),
    );
  } else if (t.approved_by_me) {
    put(card,
      h("h2", { id: "care-h", text: name }),
      h("p", { class: "status-line waiting", text: `Waiting for ${partnerName()} to approve ${name}.` }),
      h("p", { class: "hint", text: `You proposed ${name}. Until ${partnerName()} approves too, ${name} sees nothing.` }),
    );
  } else {
    const approve = h("button", { type: "button", class: "primary", text: `Approve ${name}` });
    approve.addEventListener("click", () => careAction(approve, "/api/couple/therapist/approve", card, () => announce(`Approved. ${name} can now read the shared summary.`)));
    put(card,
      h("h2", { id: "care-h", text: `Approve ${name}?` }),
      h("p", { class: "status-line", text: `${partnerName()} proposed ${name} as your therapist.` }),
      h("p", { text: `If you approve, ${name} can read the shared summary: only entries either of you adds to it. Either of you can end this at any time, and it takes effect at once.` }),
      h("div", { class: "row" }, approve),
    );
  }
  const ask = h("button", {
    type: "button",
    class: "secondary",
    text: t.status === "active" ? `End ${name}'s access…` : t.approved_by_me ? "Withdraw the proposal…" : "Decline…",
  });
  ask.addEventListener("click", () => {
    clear(revokeArea);
    const yes = h("button", { type: "button", class: "danger", text: t.status === "active" ? "End access now" : t.approved_by_me ? "Withdraw now" : "Decline now" });
    yes.addEventListener("click", () => careAction(yes, "/api/couple/therapist/revoke", revokeArea, () => announce(t.status === "active" ? `${name}'s access has ended.` : "Done.")));
    put(revokeArea,
      h("div", { class: "confirm", role: "group", "aria-label": "Confirm" },
        h("p", {
          text: t.status === "active"
            ? `This takes effect at once: ${name} can no longer open the summary, not even a page already open. What ${name} already read may be remembered.`
            : `This takes effect at once. You can propose a therapist again later.`,
        }),
        h("div", { class: "row" }, yes, h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => { clear(revokeArea); put(revokeArea, ask); } })),
      ),
    );
    yes.focus();
  });
  put(revokeArea, ask);
  put(card, revokeArea);
}

const VIEW_ACTION = { viewed: "Viewed the summary", exported_csv: "Exported it as CSV", exported_json: "Exported it as JSON" };

async function loadViews(all = false) {
  const box = document.getElementById("views");
  if (!box || !S.couple) return;
  try {
    const res = await get(`/api/summary/${S.couple.id}/views`);
    if (!box.isConnected) return;
    clear(box);
    const views = res.views || [];
    if (!views.length) {
      put(box, h("p", { class: "muted", text: "Not viewed yet." }));
      return;
    }
    const shown = all ? views : views.slice(0, 10);
    put(box,
      h("ul", { class: "views", id: "views-list" },
        shown.map((v) =>
          h("li", null,
            h("span", { class: "view-what", text: `${VIEW_ACTION[v.action] || word("action", v.action)}${v.viewer ? ` · ${v.viewer}` : ""}` }),
            h("span", { class: "meta", text: `${dateTime(v.at)} · covering ${dateOnly(v.period.from)} – ${dateOnly(new Date(new Date(v.period.to).getTime() - 1).toISOString())}` }),
          ),
        ),
      ),
      views.length > shown.length ? h("button", { type: "button", class: "link", text: `Show all ${views.length}`, onclick: () => loadViews(true) }) : null,
    );
  } catch (err) {
    if (!box.isConnected) return;
    clear(box);
    put(box, h("p", { class: "muted", text: err.code === "network" ? OFFLINE_MESSAGE : sentence(err.message) }));
  }
}

function renderSummary() {
  const partner = S.me.role === "partner";
  showScreen("Summary", partner);
  document.body.classList.add("wide");
  const t = partner && S.couple && S.couple.therapist;
  const page = summaryPage({
    coupleId: S.view.coupleId,
    role: S.me.role,
    therapistName: t ? t.display_name : null,
    back: partner ? { label: "‹ Therapist", go: () => go({ name: "therapist" }) } : { label: "‹ Your couples", go: () => go({ name: "couples" }) },
  });
  S.summary = page;
  put(main, page.el);
  page.refetch();
}

/** A therapist's home: the couples who share a summary with them. */
function renderCouples() {
  S.view = { name: "couples" };
  showScreen("Your couples");
  document.body.classList.add("wide");
  put(main,
    h("h1", { class: "page-title", text: `Hello, ${S.me.display_name}` }),
    h("p", { class: "lead", text: "The couples who share a summary with you. You see only what they chose to share with you, and only while both partners keep your access." }),
    h("section", { "aria-labelledby": "couples-h" },
      h("h2", { id: "couples-h", text: "Your couples" }),
      h("div", { id: "couples", class: "couples" }, h("p", { class: "muted", text: "Loading…" })),
    ),
    accountSection(),
  );
  loadCouples();
}

async function loadCouples() {
  const box = document.getElementById("couples");
  if (!box) return;
  try {
    const res = await get("/api/therapist/couples");
    if (!box.isConnected) return;
    clear(box);
    const couples = res.couples || [];
    if (!couples.length) {
      put(box, h("div", { class: "card empty-couples" },
        h("p", { text: "No couples yet." }),
        h("p", { class: "muted", text: `A couple proposes you with your email, ${S.me.email}. Once both partners approve, they appear here.` }),
      ));
      return;
    }
    put(box,
      h("table", { class: "couples-table" },
        h("thead", null, h("tr", null,
          h("th", { scope: "col", text: "Couple" }),
          h("th", { scope: "col", text: "Sharing with you since" }),
          h("th", { scope: "col", text: "Last new shared entry" }),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: "Summary" })),
        )),
        h("tbody", null, couples.map((c) =>
          h("tr", { "data-couple-id": c.couple_id },
            h("th", { scope: "row", class: "couple-names", text: (c.partners || []).join(" and ") }),
            h("td", { "data-label": "Sharing since", text: dateOnly(c.active_since, true) }),
            h("td", { "data-label": "Last new entry", text: c.last_shared_at ? dateTime(c.last_shared_at) : "Nothing shared yet" }),
            h("td", null, h("a", { class: "primary small", href: `#/summary/${c.couple_id}`, text: "Open the summary", "aria-label": `Open the summary of ${(c.partners || []).join(" and ")}` })),
          ),
        )),
      ),
    );
  } catch (err) {
    if (box.isConnected) {
      clear(box);
      put(box, h("p", { class: "error", text: err.code === "network" ? OFFLINE_MESSAGE : sentence(err.message) }));
    }
  }
}

/* ------------------------------------------------------------------ pairing */

const inviteKey = () => `tandem:invite:${S.me && S.me.id}`;

function renderPairing() {
  S.view = { name: "pairing" };
  showScreen("Pair up");
  const invite = storage.get(inviteKey());
  const live = invite && new Date(invite.expires_at) > new Date() && S.couple && S.couple.status === "waiting";

  const inviteArea = h("section", { class: "card", "aria-labelledby": "invite-h" });
  put(inviteArea, h("h2", { id: "invite-h", text: "Invite your partner" }));
  if (live) {
    const copyNote = h("p", { class: "hint", role: "status" });
    put(inviteArea, 
      h("p", { text: "Show this code to your partner, or send them the link. It works once." }),
      h("p", { class: "invite-code", id: "invite-code", "aria-label": `Invite code ${invite.code.split("").join(" ")}`, text: invite.code }),
      qrSvg(invite.link, "QR code of the invite link, to scan with your partner's phone"),
      h("p", { class: "invite-link" }, h("a", { href: invite.link, text: invite.link })),
      h("div", { class: "row" },
        h("button", {
          type: "button",
          class: "secondary",
          text: "Copy link",
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(invite.link);
              copyNote.textContent = "Link copied.";
            } catch {
              copyNote.textContent = "Couldn't copy here; press and hold the link instead.";
            }
          },
        }),
        navigator.share
          ? h("button", { type: "button", class: "secondary", text: "Share…", onclick: () => navigator.share({ title: "Tandem", text: "Pair with me on Tandem", url: invite.link }).catch(() => {}) })
          : null,
      ),
      copyNote,
      h("p", { class: "hint", text: `Expires ${new Date(invite.expires_at).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" })}. This screen updates by itself when your partner joins.` }),
    );
  } else {
    put(inviteArea, h("p", { text: S.couple ? "Your last code was used up or expired. Make a new one." : "Make a code and show it to your partner." }));
  }
  const make = h("button", { type: "button", class: live ? "secondary" : "primary", text: live ? "Make a new code" : "Make an invite code" });
  make.addEventListener("click", () =>
    busy(make, async () => {
      try {
        const res = await post("/api/couple");
        S.couple = res.couple;
        storage.set(inviteKey(), res.invite);
        renderPairing();
        const code = document.getElementById("invite-code");
        if (code) code.focus();
      } catch (err) {
        showError(inviteArea, err);
      }
    }),
  );
  put(inviteArea, make);

  const joinForm = h("form", { class: "card", novalidate: true, "aria-labelledby": "join-h" });
  const joinButton = h("button", { type: "submit", class: S.joinCode ? "primary" : "secondary", text: "Join" });
  put(joinForm, 
    h("h2", { id: "join-h", text: "Have a code from your partner?" }),
    h("div", { class: "form-errors" }),
    textField({ name: "code", label: "Invite code", field: "code", value: S.joinCode || "", autocomplete: "off", hint: "8 letters and digits, like ABCD-EFGH." }),
    joinButton,
  );
  const codeInput = joinForm.elements.code;
  codeInput.setAttribute("autocapitalize", "characters");
  codeInput.setAttribute("spellcheck", "false");
  joinForm.addEventListener("submit", (e) => {
    e.preventDefault();
    clearErrors(joinForm);
    busy(joinButton, async () => {
      try {
        const res = await post("/api/couple/join", { code: codeInput.value });
        sessionStorage.removeItem("tandem:join");
        S.joinCode = null;
        S.couple = res.couple;
        S.view = { name: "together" };
        announce(`You're paired with ${partnerName()}.`);
        loadEntries();
        route();
      } catch (err) {
        showError(joinForm, err, "code");
      }
    });
  });

  put(main, 
    h("h1", { class: "page-title", text: "Pair with your partner" }),
    h("p", { class: "lead", text: "Tandem is for the two of you. Once you're paired, you choose what each of you sees." }),
    ...(S.joinCode ? [joinForm, inviteArea] : [inviteArea, joinForm]),
    accountSection(),
  );
}

/* ----------------------------------------------------------------- timeline */

function repliesTo(id) {
  return [...S.entries.values()].filter((e) => e.kind === "reply" && e.reply_to === id).sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
}

function sharedTime(e) {
  return e.mine ? (e.consent && e.consent.partner) || e.created_at : e.shared_at || e.created_at;
}

function timelineEntries() {
  return [...S.entries.values()]
    .filter((e) => e.kind !== "reply" && (!e.mine || (e.consent && e.consent.partner)))
    .sort((a, b) => (sharedTime(a) < sharedTime(b) ? 1 : -1));
}

function renderTogether() {
  showScreen("Together", true);
  put(main, 
    h("h1", { class: "page-title", text: "Together" }),
    h("section", { id: "timeline", class: "timeline", "aria-label": `Shared between you and ${partnerName()}` }),
  );
  updateTogether();
}

/** Keyed update: unchanged cards stay in place (with any text being typed in them). */
function keyedUpdate(container, items, build, empty) {
  const existing = new Map([...container.children].filter((c) => c.dataset.key).map((c) => [c.dataset.id, c]));
  const wanted = [];
  for (const item of items) {
    let el = existing.get(item.id);
    if (!el || el.dataset.key !== item.key) {
      const fresh = build(item);
      fresh.dataset.id = item.id;
      fresh.dataset.key = item.key;
      if (el) el.replaceWith(fresh);
      el = fresh;
    }
    existing.delete(item.id);
    wanted.push(el);
  }
  for (const el of existing.values()) el.remove();
  for (const c of [...container.children]) if (!c.dataset.key) c.remove();
  wanted.forEach((el, i) => {
    if (container.children[i] !== el) container.insertBefore(el, container.children[i] || null);
  });
  if (!wanted.length && empty) put(container, empty());
}

function entryKey(e) {
  const replies = repliesTo(e.id).map((r) => r.id + r.updated_at).join(",");
  return [e.updated_at, JSON.stringify(e.consent || null), replies, partnerName()].join("|");
}

function updateTogether() {
  const tl = document.getElementById("timeline");
  if (!tl) return;
  const items = timelineEntries().map((e) => ({ id: e.id, key: entryKey(e), entry: e }));
  keyedUpdate(tl, items, ({ entry }) => timelineCard(entry), () =>
    h("div", { class: "empty" },
      h("p", { text: `Nothing shared yet. What you or ${partnerName()} choose to share appears here.` }),
      h("button", { type: "button", class: "primary", text: "Write a check-in", onclick: () => go({ name: "write", kind: "check_in" }) }),
    ),
  );
}

function timelineCard(entry) {
  const extra = [];
  if (entry.mine) {
    extra.push(consentActions(entry));
  } else {
    extra.push(replyArea(entry));
  }
  return entryCard(entry, { replies: repliesTo(entry.id), extra });
}

/* ---------------------------------------------------------------- replying */

function replyArea(entry) {
  const mineReplies = repliesTo(entry.id).filter((r) => r.mine);
  const area = h("div", { class: "reply-area" });
  const formId = uid("reply");
  const build = () => {
    const form = h("form", { class: "reply-form", novalidate: true, id: formId });
    let choices = null;
    if (entry.kind === "request") {
      choices = radioGroup({
        name: `choice-${entry.id}`,
        legend: "Your answer",
        field: "body.choice",
        options: [...(entry.body.options || []).map((o, i) => ({ value: String(i), label: o })), { value: "none", label: NONE_OF_THESE }],
      });
    } else if (entry.kind === "setback") {
      choices = radioGroup({
        name: `choice-${entry.id}`,
        legend: "A supportive reply",
        field: "body.choice",
        options: ((S.vocab && S.vocab.support) || ["thank_you_for_telling_me", "im_here_when_ready", "take_the_time_you_need"]).map((v) => ({ value: v, label: word("support", v) })),
      });
    }
    const send = h("button", { type: "submit", class: "primary", text: entry.kind === "request" ? "Send my answer" : "Send reply" });
    put(form, 
      h("div", { class: "form-errors" }),
      choices,
      textField({ name: "note", label: choices ? "A short note" : "Reply with a short note", field: "body.note", multiline: true, optional: Boolean(choices), max: 1000 }),
      h("p", { class: "hint", text: `Replies are shared with ${entry.author.display_name} as you send them.` }),
      h("div", { class: "row" }, send, h("button", { type: "button", class: "secondary", text: "Not now", onclick: () => collapse() })),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      clearErrors(form);
      const raw = checkedValue(form, `choice-${entry.id}`);
      const body = { to: entry.id };
      if (raw !== null) {
        if (entry.kind === "request") body.choice = raw === "none" ? "none_of_these" : { option: Number(raw) };
        else body.choice = { support: raw };
      }
      const noteText = form.elements.note.value.trim();
      if (noteText) body.note = noteText;
      if (entry.kind === "request" && body.choice === undefined) {
        showError(form, { field: "body.choice", message: "Choose one of the options, or \"None of these, let's talk\"" });
        return;
      }
      if (body.choice === undefined && !body.note) {
        showError(form, { field: choices ? "body.choice" : "body.note", message: choices ? "Choose a reply or write a short note" : "Write a short note first" });
        return;
      }
      submitWrite(form, send, { type: "create_entry", kind: "reply", body }, () => {});
    });
    return form;
  };
  const collapse = () => {
    clear(area);
    put(area, 
      h("button", {
        type: "button",
        class: "secondary",
        "aria-expanded": "false",
        "aria-controls": formId,
        text: entry.kind === "request" ? (mineReplies.length ? "Answer again" : "Answer") : "Reply",
        onclick: () => {
          clear(area);
          const f = build();
          put(area, f);
          const first = f.querySelector("input, textarea");
          if (first) first.focus();
        },
      }),
    );
  };
  if (entry.kind === "request" && !mineReplies.length) put(area, build());
  else collapse();
  return area;
}

/**
 * Sends a write through the live connection and reports back in `form`. Offline, the
 * write waits on this phone and is sent on reconnection.
 */
async function submitWrite(form, button, message, onAck) {
  const { sent, done } = S.live.write(message);
  let status = form.querySelector(".write-status");
  if (!status) {
    status = h("p", { class: "write-status hint", role: "status" });
    put(form, status);
  }
  if (!sent) status.textContent = "You're offline. This is kept on this phone and will be sent when you're back online.";
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const ack = await done;
    onAck(ack);
  } catch (err) {
    if (form.isConnected) showError(form, err);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (status.isConnected) status.textContent = "";
  }
}

/* ------------------------------------------------------------------ consent */

function consentLine(entry) {
  const c = entry.consent || {};
  const parts = [];
  if (c.partner) parts.push(`Shared with ${partnerName()} ${when(c.partner)}`);
  if (c.therapist) parts.push("in the therapist summary");
  if (!parts.length) return "Private draft · only you can see this";
  return parts.join(" · ");
}

function consentActions(entry) {
  const box = h("div", { class: "consent-actions" });
  const c = entry.consent || {};
  const shared = Boolean(c.partner || c.therapist);
  put(box, h("p", { class: `consent-line ${shared ? "shared" : "private"}`, text: consentLine(entry) }));
  const row = h("div", { class: "row" });
  put(box, row);

  if (entry.kind === "small_step" && !entry.body.outcome && shared) {
    box.insertBefore(outcomeForm(entry), row);
  }
  if (!shared) {
    put(row, 
      h("button", { type: "button", class: "primary", text: "Review and share", onclick: () => go({ name: "consent", id: entry.id }) }),
      deleteButton(entry, box),
    );
    return box;
  }
  const therapist = h("button", { type: "button", class: "link", text: c.therapist ? "Take out of therapist summary" : "Add to therapist summary" });
  therapist.addEventListener("click", () => {
    const type = c.therapist ? "withdraw" : "share";
    submitWrite(box, therapist, { type, entry_id: entry.id, scopes: ["therapist"] }, () => {});
  });
  const stop = h("button", { type: "button", class: "secondary", text: "Stop sharing…" });
  stop.addEventListener("click", () => {
    clear(row);
    const scopes = [c.partner ? "partner" : null, c.therapist ? "therapist" : null].filter(Boolean);
    const confirm = h("button", { type: "button", class: "danger", text: "Stop sharing" });
    const confirmBox = h("div", { class: "confirm", role: "group", "aria-label": "Stop sharing?" },
      h("p", { text: `${c.partner ? `It disappears from ${partnerName()}'s screen now` : "It leaves the therapist summary now"}${c.partner && c.therapist ? ", and from the therapist summary" : ""}. What was already read may be remembered: stopping sharing can't undo that.` }),
      h("div", { class: "row" }, confirm, h("button", { type: "button", class: "secondary", text: "Keep sharing", onclick: () => box.replaceWith(consentActions(entry)) })),
    );
    put(row, confirmBox);
    confirm.addEventListener("click", () =>
      submitWrite(box, confirm, { type: "withdraw", entry_id: entry.id, scopes }, () => announce(`Stopped sharing. It's private again.`)),
    );
    confirm.focus();
  });
  put(row, stop, therapist);
  return box;
}

function outcomeForm(entry) {
  const form = h("form", { class: "outcome", novalidate: true });
  const save = h("button", { type: "submit", class: "secondary small", text: "Save how it went" });
  put(form, 
    radioGroup({
      name: `outcome-${entry.id}`,
      legend: "How did it go?",
      field: "outcome",
      options: ((S.vocab && S.vocab.outcome) || ["tried", "went_well", "was_hard"]).map((v) => ({ value: v, label: word("outcome", v) })),
      hint: "Any answer is fine, \"was hard\" too.",
    }),
    save,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const outcome = checkedValue(form, `outcome-${entry.id}`);
    if (!outcome) {
      showError(form, { field: "outcome", message: "Choose how it went first" });
      return;
    }
    submitWrite(form, save, { type: "set_outcome", entry_id: entry.id, outcome }, () => {});
  });
  return form;
}

function deleteButton(entry, box) {
  const del = h("button", { type: "button", class: "link", text: "Delete…" });
  del.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger", text: "Delete for good" });
    const confirmBox = h("div", { class: "confirm", role: "group", "aria-label": "Delete this draft?" },
      h("p", { text: "Delete this draft? This can't be undone." }),
      h("div", { class: "row" }, yes, h("button", { type: "button", class: "secondary", text: "Keep it", onclick: () => confirmBox.remove() })),
    );
    put(box, confirmBox);
    yes.addEventListener("click", () => submitWrite(box, yes, { type: "delete_entry", entry_id: entry.id }, () => announce("Draft deleted.")));
    yes.focus();
  });
  return del;
}

async function renderConsent(id) {
  showScreen("Review", true);
  const entry = S.entries.get(id);
  const holder = h("section", { class: "consent", "aria-labelledby": "consent-h" });
  put(main, holder);
  put(holder, h("h1", { id: "consent-h", class: "page-title", text: `This is exactly what ${partnerName()} will see` }));
  const previewBox = h("div", { class: "preview", "aria-label": "Preview", role: "region" }, h("p", { class: "muted", text: "Loading the preview…" }));
  put(holder, previewBox);
  try {
    const res = await get(`/api/entries/${id}/preview`);
    clear(previewBox);
    put(previewBox, entryCard(res.partner_view, { preview: true, headingLevel: "h2" }));
  } catch (err) {
    clear(previewBox);
    put(previewBox, h("p", { class: "error", role: "alert", text: err.status === 404 ? "This entry is no longer here." : sentence(err.message) }));
    if (err.status === 404) return;
  }
  const form = h("form", { class: "card choose", novalidate: true });
  const therapistId = uid("therapist");
  const share = h("button", { type: "submit", class: "primary big", text: `Share with ${partnerName()}` });
  const keep = h("button", { type: "button", class: "secondary big", text: "Keep it private" });
  put(form, 
    h("h2", { text: "Who should see it?" }),
    h("div", { class: "form-errors" }),
    h("div", { class: "check", "data-field": "scopes" },
      h("input", { type: "checkbox", id: therapistId, name: "therapist", checked: Boolean(entry && entry.consent && entry.consent.therapist) }),
      h("label", { for: therapistId }, "Also include in the therapist summary", h("span", { class: "sub", text: "Only a therapist you both approve can read the summary. You can take it out later." })),
    ),
    share,
    keep,
    h("p", { class: "hint", text: "You can stop sharing at any time." }),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const scopes = ["partner"];
    if (form.elements.therapist.checked) scopes.push("therapist");
    submitWrite(form, share, { type: "share", entry_id: id, scopes }, () => {
      announce(`Shared with ${partnerName()}.`);
      go({ name: "together" });
    });
  });
  keep.addEventListener("click", () => {
    announce("Kept private. It's in your drafts.");
    go({ name: "mine" });
  });
  put(holder, form);
}

/* -------------------------------------------------------------------- write */

function renderWrite() {
  showScreen("Write", true);
  const kind = S.view.kind;
  if (!kind) {
    put(main, 
      h("h1", { class: "page-title", text: "What would you like to write?" }),
      h("p", { class: "lead", text: "Everything starts private. You'll see exactly what would be shared before anything is." }),
      h("ul", { class: "kinds" },
        ["check_in", "appreciation", "request", "setback", "small_step"].map((k) =>
          h("li", null,
            h("button", { type: "button", class: "kind", "data-kind": k, onclick: () => go({ name: "write", kind: k }) },
              h("span", { class: "kind-name", text: KIND[k] }),
              h("span", { class: "kind-hint", text: KIND_HINT[k] }),
            ),
          ),
        ),
      ),
    );
    return;
  }
  const drafts = loadCompose(S.me.id);
  const save = () => {
    const all = loadCompose(S.me.id);
    all[kind] = collect();
    saveCompose(S.me.id, all);
  };
  const { form, collect, title, hint } = composeForm(kind, S.vocab, drafts[kind], () => save(), partnerName());
  put(main, 
    h("button", { type: "button", class: "link back", text: "‹ Choose another kind", onclick: () => go({ name: "write" }) }),
    h("h1", { class: "page-title", text: title }),
    h("p", { class: "lead", text: hint }),
    form,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = cleanBody(kind, collect());
    const missing = requiredMissing(kind, body);
    if (missing) {
      showError(form, missing);
      return;
    }
    const button = form.querySelector("button[type=submit]");
    const { sent, done } = S.live.write({ type: "create_entry", kind, body }, { kind });
    const forget = () => {
      const all = loadCompose(S.me.id);
      delete all[kind];
      saveCompose(S.me.id, all);
    };
    if (!sent) {
      // Offline: the write waits in the outbox (kept on this phone) and is sent on reconnection.
      forget();
      announce("Kept on this phone. It will be saved when you're back online.");
      go({ name: "mine" });
      done.then((ack) => (ack.entry ? upsert(ack.entry) : null), () => {}).finally(refresh);
      return;
    }
    busy(button, async () => {
      try {
        const ack = await done;
        forget();
        if (ack.entry) upsert(ack.entry);
        go({ name: "consent", id: ack.entry_id });
      } catch (err) {
        showError(form, err);
      }
    });
  });
}

const REQUIRED = {
  check_in: [["mood", "Choose your mood, from 1 to 5"], ["closeness", "Choose how close you'd like to be"], ["felt_appreciated", "Say whether you felt appreciated (\"Rather not say\" is fine)"], ["ready_to_talk", "Say whether you're ready to talk"]],
  appreciation: [["text", "Write what you appreciate"], ["shown_by", "Choose how it was shown"]],
  request: [["about", "Say what it is about"]],
  setback: [["how_hard", "Choose how hard it was"], ["would_help", "Choose what would help now"]],
  small_step: [["step", "Describe the small step"], ["intimacy", "Choose a kind of closeness"]],
};

function requiredMissing(kind, body) {
  for (const [key, message] of REQUIRED[kind] || []) {
    const v = body[key];
    if (v === null || v === undefined || (typeof v === "string" && !v.trim())) return { field: `body.${key}`, message };
  }
  if (kind === "request") {
    const i = body.options.findIndex((o) => !o.trim());
    if (i >= 0) return { field: `body.options[${i}]`, message: "Fill in this option, or remove it" };
  }
  return null;
}

/* --------------------------------------------------------------------- mine */

function renderMine() {
  showScreen("Mine", true);
  put(main, 
    h("h1", { class: "page-title", text: "Mine" }),
    h("section", { "aria-labelledby": "pending-h", id: "pending-section" },
      h("h2", { id: "pending-h", text: "Waiting to be sent" }),
      h("div", { id: "pending", class: "list" }),
    ),
    h("section", { "aria-labelledby": "drafts-h" },
      h("h2", { id: "drafts-h", text: "Private drafts" }),
      h("p", { class: "hint", text: "Only you can see these." }),
      h("div", { id: "drafts", class: "list" }),
    ),
    h("section", { "aria-labelledby": "shared-h" },
      h("h2", { id: "shared-h", text: "What you've shared" }),
      h("div", { id: "shared", class: "list" }),
    ),
    accountSection(),
  );
  updateMine();
}

function updateMine() {
  const pending = document.getElementById("pending");
  if (!pending) return;
  const waiting = S.outbox.filter((w) => w.message.type === "create_entry" && w.message.kind !== "reply");
  document.getElementById("pending-section").hidden = waiting.length === 0;
  keyedUpdate(
    pending,
    waiting.map((w) => ({ id: w.request_id, key: w.request_id, w })),
    ({ w }) =>
      h("article", { class: "entry pending", "data-pending": w.request_id },
        h("h3", { class: "entry-title", text: KIND[w.message.kind] || "Entry" }),
        entryBody({ kind: w.message.kind, body: w.message.body }),
        h("p", { class: "consent-line private", text: "Kept on this phone · it will be saved privately when you're back online." }),
        h("div", { class: "row" }, h("button", { type: "button", class: "link", text: "Discard", onclick: () => S.live.discard(w.request_id) })),
      ),
  );
  const mine = [...S.entries.values()].filter((e) => e.mine && e.kind !== "reply").sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  const isShared = (e) => e.consent && (e.consent.partner || e.consent.therapist);
  const card = ({ entry }) => entryCard(entry, { replies: repliesTo(entry.id), extra: [consentActions(entry)] });
  keyedUpdate(
    document.getElementById("drafts"),
    mine.filter((e) => !isShared(e)).map((e) => ({ id: e.id, key: entryKey(e), entry: e })),
    card,
    () => h("p", { class: "muted", text: "No drafts." }),
  );
  keyedUpdate(
    document.getElementById("shared"),
    mine.filter(isShared).map((e) => ({ id: e.id, key: entryKey(e), entry: e })),
    card,
    () => h("p", { class: "muted", text: "Nothing shared yet." }),
  );
}

/* ----------------------------------------------------------------- go */

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}
boot();

// Start-up and the live session: reading an invite link, finding out who is signed in,
// the live connection to the server, loading the entries and applying what the server
// says changed. Screens are reached through the router (show, redraw), never imported.

import { OFFLINE_MESSAGE, get } from "./api.js";
import { h, put, storage } from "./dom.js";
import { KIND, sentence } from "./labels.js";
import { Live } from "./live.js";
import { hashView, redraw, refresh, route, show, showConn, showScreen } from "./router.js";
import { S, announce, inviteKey, main, partnerName, removeEntry, upsert } from "./state.js";

function readInviteLink() {
  if (location.pathname === "/join") {
    const code = decodeURIComponent(location.hash.replace(/^#/, "")).trim();
    if (code) sessionStorage.setItem("tandem:join", code);
    history.replaceState(null, "", "/");
  }
  S.joinCode = sessionStorage.getItem("tandem:join");
}

export async function boot() {
  readInviteLink();
  try {
    const me = await get("/api/me");
    await signedIn(me);
  } catch (e) {
    if (e.status === 401) show("auth", "signup");
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

export async function signedIn(me) {
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
      show("auth", "login", "Your session ended. Please log in again.");
    },
    outbox: (list) => {
      S.outbox = list;
      if (S.view.name === "mine") refresh();
    },
  });
  S.outbox = S.live.outbox;
  S.live.start();
}

export async function loadEntries() {
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
  else redraw("couples");
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
      redraw("therapist");
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

function announceTherapist(before, now) {
  const name = (now || before).display_name;
  if (now && now.status === "active" && (!before || before.status !== "active")) announce(`${name} can now read the shared summary.`);
  else if (!now && before && before.status === "active") announce(`${name}'s access has ended.`);
  else if (!now && before) announce(`The proposal of ${name} was withdrawn.`);
  else if (now && !before && !now.approved_by_me) announce(`${partnerName()} proposed ${name} as your therapist.`);
}

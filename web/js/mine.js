// The Mine screen: one's own entries waiting to be sent, private drafts and what one
// has shared, with the account card.

import { accountSection } from "./account.js";
import { consentActions } from "./consent.js";
import { h, put } from "./dom.js";
import { entryKey, keyedUpdate, repliesTo } from "./entry-lists.js";
import { KIND } from "./labels.js";
import { entryBody, entryCard } from "./render.js";
import { showScreen } from "./router.js";
import { S, main } from "./state.js";

export function renderMine() {
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

export function updateMine() {
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

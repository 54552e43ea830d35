// The Together screen: the timeline of what both partners shared.

import { consentActions } from "./consent.js";
import { h, put } from "./dom.js";
import { entryKey, keyedUpdate, repliesTo, timelineEntries } from "./entry-lists.js";
import { replyArea } from "./replies.js";
import { entryCard } from "./render.js";
import { go, showScreen } from "./router.js";
import { main, partnerName } from "./state.js";

export function renderTogether() {
  showScreen("Together", true);
  put(main, 
    h("h1", { class: "page-title", text: "Together" }),
    h("section", { id: "timeline", class: "timeline", "aria-label": `Shared between you and ${partnerName()}` }),
  );
  updateTogether();
}

export function updateTogether() {
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

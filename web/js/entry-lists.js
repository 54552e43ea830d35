// What the entry lists (Together, Mine) are made of: an entry's replies, the timeline's
// order, and the keyed update that leaves unchanged cards (and text typed in them) alone.

import { put } from "./dom.js";
import { S, partnerName } from "./state.js";

export function repliesTo(id) {
  return [...S.entries.values()].filter((e) => e.kind === "reply" && e.reply_to === id).sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
}

function sharedTime(e) {
  return e.mine ? (e.consent && e.consent.partner) || e.created_at : e.shared_at || e.created_at;
}

export function timelineEntries() {
  return [...S.entries.values()]
    .filter((e) => e.kind !== "reply" && (!e.mine || (e.consent && e.consent.partner)))
    .sort((a, b) => (sharedTime(a) < sharedTime(b) ? 1 : -1));
}

/** Keyed update: unchanged cards stay in place (with any text being typed in them). */
export function keyedUpdate(container, items, build, empty) {
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

export function entryKey(e) {
  const replies = repliesTo(e.id).map((r) => r.id + r.updated_at).join(",");
  return [e.updated_at, JSON.stringify(e.consent || null), replies, partnerName()].join("|");
}

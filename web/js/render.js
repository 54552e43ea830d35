// How entries look. The same renderer draws the timeline and the consent preview, so
// the preview is exactly what the partner will see.

import { h, uid } from "./dom.js";
import { CLOSENESS, HOW_HARD, KIND, MOOD, NONE_OF_THESE, when, word } from "./labels.js";

function fact(term, ...value) {
  return [h("dt", { text: term }), h("dd", null, ...value)];
}

function note(text, cls = "note") {
  return text ? h("p", { class: cls, text }) : null;
}

/** The body of an entry, as definition lists and paragraphs. */
export function entryBody(entry) {
  const b = entry.body || {};
  switch (entry.kind) {
    case "check_in":
      return [
        h(
          "dl",
          { class: "facts" },
          fact("Mood", `${MOOD[b.mood] || b.mood} (${b.mood} of 5)`),
          b.emotions && b.emotions.length
            ? fact("Feeling", h("span", { class: "chips" }, b.emotions.map((e) => h("span", { class: "chip", text: word("emotion", e) }))))
            : null,
          fact("Closeness", CLOSENESS[b.closeness] || String(b.closeness)),
          fact("Felt appreciated", word("felt_appreciated", b.felt_appreciated)),
          fact("Ready to talk", word("ready_to_talk", b.ready_to_talk)),
        ),
        note(b.note),
      ];
    case "appreciation":
      return [h("p", { class: "quote", text: b.text }), h("dl", { class: "facts" }, fact("Shown through", word("shown_by", b.shown_by)))];
    case "request":
      return [
        h("p", { class: "lead", text: b.about }),
        h("ol", { class: "options" }, (b.options || []).map((o) => h("li", { text: o }))),
        b.by_when ? h("dl", { class: "facts" }, fact("By", formatDate(b.by_when))) : null,
      ];
    case "setback":
      return [
        note(b.what_happened, "quote"),
        h(
          "dl",
          { class: "facts" },
          fact("How hard it was", `${HOW_HARD[b.how_hard] || b.how_hard} (${b.how_hard} of 5)`),
          fact("What would help now", word("would_help", b.would_help)),
        ),
      ];
    case "small_step":
      return [
        h("p", { class: "lead", text: b.step }),
        h(
          "dl",
          { class: "facts" },
          fact("Kind of closeness", word("intimacy", b.intimacy)),
          b.outcome ? fact("How it went", word("outcome", b.outcome)) : null,
        ),
      ];
    default:
      return [h("p", { class: "muted", text: "An entry of a kind this app does not know yet." })];
  }
}

function formatDate(ymd) {
  const d = new Date(ymd + "T12:00:00");
  if (Number.isNaN(d.getTime())) return ymd;
  return d.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
}

/** What a reply says, in words, given the entry it answers. */
export function replyText(reply, target) {
  const c = reply.body && reply.body.choice;
  let choice = null;
  if (c === "none_of_these") choice = NONE_OF_THESE;
  else if (c && typeof c === "object" && "option" in c) {
    const opts = (target && target.body && target.body.options) || [];
    choice = opts[c.option] !== undefined ? `Chose: ${opts[c.option]}` : `Chose option ${c.option + 1}`;
  } else if (c && typeof c === "object" && "support" in c) choice = word("support", c.support);
  return choice;
}

export function replyView(reply, target, mine) {
  const choice = replyText(reply, target);
  const who = mine ? "You" : reply.author.display_name;
  return h(
    "li",
    { class: "reply", "data-entry-id": reply.id },
    h("p", { class: "meta" }, h("strong", { text: who }), ` replied · ${when(reply.created_at)}`),
    choice ? h("p", { class: "reply-choice", text: choice }) : null,
    reply.body && reply.body.note ? h("p", { class: "note", text: reply.body.note }) : null,
  );
}

/**
 * An entry card.
 * @param entry the entry as the viewer sees it
 * @param opts { replies: [], headingLevel, extra: Node[] (actions), preview: bool }
 */
export function entryCard(entry, opts = {}) {
  const id = uid("entry");
  const level = opts.headingLevel || "h3";
  const author = entry.mine && !opts.preview ? "You" : entry.author.display_name;
  const time = entry.shared_at && !entry.mine ? entry.shared_at : entry.created_at;
  const replies = opts.replies || [];
  return h(
    "article",
    { class: `entry kind-${entry.kind}${entry.mine && !opts.preview ? " mine" : ""}`, "aria-labelledby": id, "data-entry-id": entry.id, "data-kind": entry.kind },
    h(
      "header",
      { class: "entry-head" },
      h(level, { id, class: "entry-title" }, `${KIND[entry.kind] || entry.kind}`, h("span", { class: "visually-hidden", text: ` from ${author}` })),
      h("p", { class: "meta", "aria-hidden": "true" }, `${author} · ${when(time)}`),
      h("p", { class: "visually-hidden", text: when(time) }),
    ),
    entryBody(entry),
    replies.length ? h("ul", { class: "replies", "aria-label": "Replies" }, replies.map((r) => replyView(r, entry, r.mine))) : null,
    opts.extra || null,
  );
}

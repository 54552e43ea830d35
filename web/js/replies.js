// Answering a partner's entry: a request's options, a supportive reply to a setback, or
// a short note.

import { clear, h, put, uid } from "./dom.js";
import { checkedValue, clearErrors, radioGroup, showError, textField } from "./forms.js";
import { NONE_OF_THESE, word } from "./labels.js";
import { repliesTo } from "./entry-lists.js";
import { submitWrite } from "./send.js";
import { S } from "./state.js";

export function replyArea(entry) {
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

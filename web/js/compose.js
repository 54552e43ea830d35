// Writing an entry: one form per kind, typed text kept on this phone as it is typed.

import { h, put, storage } from "./dom.js";
import { CLOSENESS, HOW_HARD, KIND, KIND_HINT, MOOD, word } from "./labels.js";
import { checkedValue, checkedValues, checkGroup, radioGroup, textField } from "./forms.js";

const list = (vocab, key) => (vocab && vocab[key]) || [];

/**
 * Builds the form for `kind`. Returns { form, collect } where collect() gives the
 * entry body. `saved` is the typed state kept in localStorage (restored on reload).
 */
export function composeForm(kind, vocab, saved, onChange, partnerName) {
  const s = saved || {};
  const form = h("form", { class: "compose", novalidate: true, "data-kind": kind });
  const limits = (vocab && vocab.limits) || { note: 1000, short: 200, emotions: 3 };
  let collect;

  if (kind === "check_in") {
    put(form, 
      radioGroup({
        name: "mood",
        legend: "How is your mood?",
        field: "body.mood",
        cls: "scale",
        value: s.mood,
        options: [1, 2, 3, 4, 5].map((v) => ({ value: v, label: String(v), sub: MOOD[v] })),
      }),
      checkGroup({
        name: "emotions",
        legend: "Which feelings fit?",
        field: "body.emotions",
        max: limits.emotions || 3,
        values: s.emotions || [],
        options: list(vocab, "emotions").map((e) => ({ value: e, label: word("emotion", e) })),
      }),
      radioGroup({
        name: "closeness",
        legend: "Closeness right now",
        field: "body.closeness",
        cls: "scale closeness",
        value: s.closeness,
        options: [-2, -1, 0, 1, 2].map((v) => ({ value: v, label: CLOSENESS[v] })),
      }),
      radioGroup({
        name: "felt_appreciated",
        legend: "Did you feel appreciated?",
        field: "body.felt_appreciated",
        value: s.felt_appreciated,
        options: list(vocab, "felt_appreciated").map((v) => ({ value: v, label: word("felt_appreciated", v) })),
      }),
      radioGroup({
        name: "ready_to_talk",
        legend: "Ready to talk?",
        field: "body.ready_to_talk",
        value: s.ready_to_talk,
        options: list(vocab, "ready_to_talk").map((v) => ({ value: v, label: word("ready_to_talk", v) })),
      }),
      textField({ name: "note", label: "Anything you'd like to add", field: "body.note", multiline: true, max: limits.note, optional: true, value: s.note || "" }),
    );
    collect = () => {
      const mood = checkedValue(form, "mood");
      const closeness = checkedValue(form, "closeness");
      return {
        mood: mood === null ? null : Number(mood),
        emotions: checkedValues(form, "emotions"),
        closeness: closeness === null ? null : Number(closeness),
        felt_appreciated: checkedValue(form, "felt_appreciated"),
        ready_to_talk: checkedValue(form, "ready_to_talk"),
        note: form.elements.note.value,
      };
    };
  } else if (kind === "appreciation") {
    put(form, 
      textField({ name: "text", label: `What I appreciate about ${partnerName || "you"}`, field: "body.text", multiline: true, max: limits.note, value: s.text || "" }),
      radioGroup({
        name: "shown_by",
        legend: "How it was shown",
        field: "body.shown_by",
        value: s.shown_by,
        options: list(vocab, "shown_by").map((v) => ({ value: v, label: word("shown_by", v) })),
      }),
    );
    collect = () => ({ text: form.elements.text.value, shown_by: checkedValue(form, "shown_by") });
  } else if (kind === "request") {
    const opts = (s.options && s.options.length >= 2 ? s.options : ["", ""]).slice(0, 4);
    const optionList = h("ol", { class: "option-inputs" });
    const addButton = h("button", { type: "button", class: "secondary small", text: "Add an option" });
    const renumber = () => {
      const items = [...optionList.children];
      items.forEach((li, i) => {
        li.dataset.field = `body.options[${i}]`;
        li.querySelector("label").textContent = `Option ${i + 1}`;
        const rm = li.querySelector("button");
        rm.hidden = items.length <= 2;
        rm.setAttribute("aria-label", `Remove option ${i + 1}`);
      });
      addButton.hidden = items.length >= 4;
    };
    const addOption = (value) => {
      const input = h("input", { type: "text", name: "option", maxlength: limits.short, value, oninput: onChange });
      const id = `opt-${Math.random().toString(36).slice(2)}`;
      input.id = id;
      const li = h(
        "li",
        { class: "field option-input" },
        h("label", { for: id }),
        h("div", { class: "row" }, input, h("button", { type: "button", class: "icon", text: "✕", onclick: () => { li.remove(); renumber(); onChange(); } })),
      );
      put(optionList, li);
      renumber();
      return input;
    };
    addButton.addEventListener("click", () => addOption("").focus());
    opts.forEach((o) => addOption(o));
    put(form, 
      textField({ name: "about", label: "What is it about?", field: "body.about", max: limits.short, value: s.about || "" }),
      h(
        "fieldset",
        { class: "group", "data-field": "body.options" },
        h("legend", { text: "Options to choose from" }),
        h("p", { class: "hint", text: `Give 2 to 4 concrete options. ${partnerName || "Your partner"} can always answer "None of these, let's talk".` }),
        optionList,
        addButton,
      ),
      textField({ name: "by_when", label: "By when", field: "body.by_when", type: "date", optional: true, value: s.by_when || "" }),
    );
    collect = () => ({
      about: form.elements.about.value,
      options: [...form.querySelectorAll("input[name=option]")].map((i) => i.value),
      by_when: form.elements.by_when.value || undefined,
    });
  } else if (kind === "setback") {
    put(form, 
      h("p", { class: "calm", text: "Setbacks are expected and okay. Say as much or as little as you like." }),
      textField({ name: "what_happened", label: "What happened", field: "body.what_happened", multiline: true, max: limits.note, optional: true, value: s.what_happened || "" }),
      radioGroup({
        name: "how_hard",
        legend: "How hard was it?",
        field: "body.how_hard",
        cls: "scale",
        value: s.how_hard,
        options: [1, 2, 3, 4, 5].map((v) => ({ value: v, label: String(v), sub: HOW_HARD[v] })),
      }),
      radioGroup({
        name: "would_help",
        legend: "What would help now?",
        field: "body.would_help",
        value: s.would_help,
        options: list(vocab, "would_help").map((v) => ({ value: v, label: word("would_help", v) })),
      }),
    );
    collect = () => {
      const hard = checkedValue(form, "how_hard");
      return { what_happened: form.elements.what_happened.value, how_hard: hard === null ? null : Number(hard), would_help: checkedValue(form, "would_help") };
    };
  } else if (kind === "small_step") {
    put(form, 
      textField({ name: "step", label: "A small step toward closeness", field: "body.step", max: limits.short, value: s.step || "", hint: "Something small you'd both be comfortable trying." }),
      radioGroup({
        name: "intimacy",
        legend: "What kind of closeness?",
        field: "body.intimacy",
        value: s.intimacy,
        options: list(vocab, "intimacy").map((v) => ({ value: v, label: word("intimacy", v) })),
      }),
    );
    collect = () => ({ step: form.elements.step.value, intimacy: checkedValue(form, "intimacy") });
  }

  form.addEventListener("input", onChange);
  form.addEventListener("change", onChange);
  put(form, 
    h("div", { class: "form-errors" }),
    h("p", { class: "hint", text: "Saved privately first. Nothing is shared until you choose." }),
    h("button", { type: "submit", class: "primary", text: "Review before sharing" }),
  );
  return { form, collect, title: KIND[kind], hint: KIND_HINT[kind] };
}

/** The body as it is sent: empty optional text dropped, missing choices left for the server to name. */
export function cleanBody(kind, body) {
  const out = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined) continue;
    if (typeof v === "string" && v.trim() === "" && ["note", "what_happened", "by_when"].includes(k)) continue;
    out[k] = v;
  }
  return out;
}

export const composeKey = (userId) => `tandem:compose:${userId}`;
export const loadCompose = (userId) => storage.get(composeKey(userId), {});
export const saveCompose = (userId, all) => storage.set(composeKey(userId), all);

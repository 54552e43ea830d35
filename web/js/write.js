// The Write screen: choosing a kind of entry, composing it (typed text kept on this
// phone), checking what is required, and saving it as a private draft.

import { busy, clearErrors, showError } from "./forms.js";
import { cleanBody, composeForm, loadCompose, saveCompose } from "./compose.js";
import { h, put } from "./dom.js";
import { KIND, KIND_HINT } from "./labels.js";
import { go, refresh, showScreen } from "./router.js";
import { S, announce, main, partnerName, upsert } from "./state.js";

export function renderWrite() {
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

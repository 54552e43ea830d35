// Consent: the review screen (exactly what the partner will see, then share or keep
// private) and, on each of one's own entries, who sees it, stop sharing, the therapist
// summary, a small step's outcome and deleting a draft.

import { get } from "./api.js";
import { clear, h, put, uid } from "./dom.js";
import { checkedValue, radioGroup, showError } from "./forms.js";
import { sentence, when, word } from "./labels.js";
import { entryCard } from "./render.js";
import { go, showScreen } from "./router.js";
import { submitWrite } from "./send.js";
import { S, announce, main, partnerName } from "./state.js";

function consentLine(entry) {
  const c = entry.consent || {};
  const parts = [];
  if (c.partner) parts.push(`Shared with ${partnerName()} ${when(c.partner)}`);
  if (c.therapist) parts.push("in the therapist summary");
  if (!parts.length) return "Private draft · only you can see this";
  return parts.join(" · ");
}

export function consentActions(entry) {
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

export async function renderConsent(id) {
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

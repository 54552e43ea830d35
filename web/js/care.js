// A partner's therapist area: propose, approve or revoke a therapist, open the shared
// summary, see when the therapist viewed or exported it.

import { OFFLINE_MESSAGE, get, post } from "./api.js";
import { clear, h, put } from "./dom.js";
import { busy, clearErrors, showError, textField } from "./forms.js";
import { sentence, word } from "./labels.js";
import { showScreen } from "./router.js";
import { S, announce, main, partnerName } from "./state.js";
import { dateOnly, dateTime } from "./summary.js";

/** A partner's therapist area: propose, approve, revoke, open the summary, see the view log. */
export function renderCare() {
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

export function updateCare() {
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

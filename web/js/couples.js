// A therapist's screens: the couples who share a summary with them, and the summary
// screen (which partners open too, from their therapist area).

import { OFFLINE_MESSAGE, get } from "./api.js";
import { accountSection } from "./account.js";
import { clear, h, put } from "./dom.js";
import { sentence } from "./labels.js";
import { go, showScreen } from "./router.js";
import { S, main } from "./state.js";
import { dateOnly, dateTime, summaryPage } from "./summary.js";

export function renderSummary() {
  const partner = S.me.role === "partner";
  showScreen("Summary", partner);
  document.body.classList.add("wide");
  const t = partner && S.couple && S.couple.therapist;
  const page = summaryPage({
    coupleId: S.view.coupleId,
    role: S.me.role,
    therapistName: t ? t.display_name : null,
    back: partner ? { label: "‹ Therapist", go: () => go({ name: "therapist" }) } : { label: "‹ Your couples", go: () => go({ name: "couples" }) },
  });
  S.summary = page;
  put(main, page.el);
  page.refetch();
}

/** A therapist's home: the couples who share a summary with them. */
export function renderCouples() {
  S.view = { name: "couples" };
  showScreen("Your couples");
  document.body.classList.add("wide");
  put(main,
    h("h1", { class: "page-title", text: `Hello, ${S.me.display_name}` }),
    h("p", { class: "lead", text: "The couples who share a summary with you. You see only what they chose to share with you, and only while both partners keep your access." }),
    h("section", { "aria-labelledby": "couples-h" },
      h("h2", { id: "couples-h", text: "Your couples" }),
      h("div", { id: "couples", class: "couples" }, h("p", { class: "muted", text: "Loading…" })),
    ),
    accountSection(),
  );
  loadCouples();
}

export async function loadCouples() {
  const box = document.getElementById("couples");
  if (!box) return;
  try {
    const res = await get("/api/therapist/couples");
    if (!box.isConnected) return;
    clear(box);
    const couples = res.couples || [];
    if (!couples.length) {
      put(box, h("div", { class: "card empty-couples" },
        h("p", { text: "No couples yet." }),
        h("p", { class: "muted", text: `A couple proposes you with your email, ${S.me.email}. Once both partners approve, they appear here.` }),
      ));
      return;
    }
    put(box,
      h("table", { class: "couples-table" },
        h("thead", null, h("tr", null,
          h("th", { scope: "col", text: "Couple" }),
          h("th", { scope: "col", text: "Sharing with you since" }),
          h("th", { scope: "col", text: "Last new shared entry" }),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: "Summary" })),
        )),
        h("tbody", null, couples.map((c) =>
          h("tr", { "data-couple-id": c.couple_id },
            h("th", { scope: "row", class: "couple-names", text: (c.partners || []).join(" and ") }),
            h("td", { "data-label": "Sharing since", text: dateOnly(c.active_since, true) }),
            h("td", { "data-label": "Last new entry", text: c.last_shared_at ? dateTime(c.last_shared_at) : "Nothing shared yet" }),
            h("td", null, h("a", { class: "primary small", href: `#/summary/${c.couple_id}`, text: "Open the summary", "aria-label": `Open the summary of ${(c.partners || []).join(" and ")}` })),
          ),
        )),
      ),
    );
  } catch (err) {
    if (box.isConnected) {
      clear(box);
      put(box, h("p", { class: "error", text: err.code === "network" ? OFFLINE_MESSAGE : sentence(err.message) }));
    }
  }
}

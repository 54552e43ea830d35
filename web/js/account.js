// The account card at the foot of a partner's and a therapist's home (who is signed
// in, log out, unpair) and logging out.

import { post } from "./api.js";
import { renderAuth } from "./auth.js";
import { clear, h, put, storage } from "./dom.js";
import { busy, showError } from "./forms.js";
import { route } from "./router.js";
import { S, partnerName } from "./state.js";

async function logout() {
  try {
    await post("/api/logout");
  } catch {
    /* the cookie is gone or the server unreachable: forget locally either way */
  }
  if (S.me) {
    for (const k of ["seq", "outbox", "compose", "invite"]) storage.remove(`tandem:${k}:${S.me.id}`);
  }
  if (S.live) S.live.stop();
  S.live = null;
  S.me = null;
  S.couple = null;
  S.entries = new Map();
  renderAuth("login", "You're logged out.");
}

export function accountSection() {
  const section = h("section", { class: "card account", "aria-labelledby": "account-h" },
    h("h2", { id: "account-h", text: "Account" }),
    h("p", { class: "muted", text: `Signed in as ${S.me.display_name} (${S.me.email}).` }),
    h("button", { type: "button", class: "secondary", text: "Log out", onclick: logout }),
  );
  if (S.couple) {
    const area = h("div", { class: "unpair" });
    const ask = h("button", {
      type: "button",
      class: "secondary",
      text: "Unpair…",
      onclick: () => {
        clear(area);
        const yes = h("button", { type: "button", class: "danger", text: "Unpair now" });
        yes.addEventListener("click", () =>
          busy(yes, async () => {
            try {
              await post("/api/couple/unpair");
              S.couple = null;
              route();
            } catch (err) {
              showError(area, err);
            }
          }),
        );
        put(area, 
          h("p", { text: `You can unpair on your own, at any time. You keep your own entries, and nothing of ${partnerName()}'s beyond what they had shared.` }),
          h("div", { class: "row" }, yes, h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => { clear(area); put(area, ask); } })),
        );
        yes.focus();
      },
    });
    put(area, ask);
    put(section, area);
  }
  return section;
}

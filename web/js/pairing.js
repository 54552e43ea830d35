// Pairing: making an invite code (with its link and QR code) and joining with one.

import { post } from "./api.js";
import { accountSection } from "./account.js";
import { h, put, storage } from "./dom.js";
import { busy, clearErrors, showError, textField } from "./forms.js";
import { qrSvg } from "./qr.js";
import { route, showScreen } from "./router.js";
import { loadEntries } from "./session.js";
import { S, announce, inviteKey, main, partnerName } from "./state.js";

export function renderPairing() {
  S.view = { name: "pairing" };
  showScreen("Pair up");
  const invite = storage.get(inviteKey());
  const live = invite && new Date(invite.expires_at) > new Date() && S.couple && S.couple.status === "waiting";

  const inviteArea = h("section", { class: "card", "aria-labelledby": "invite-h" });
  put(inviteArea, h("h2", { id: "invite-h", text: "Invite your partner" }));
  if (live) {
    const copyNote = h("p", { class: "hint", role: "status" });
    put(inviteArea, 
      h("p", { text: "Show this code to your partner, or send them the link. It works once." }),
      h("p", { class: "invite-code", id: "invite-code", "aria-label": `Invite code ${invite.code.split("").join(" ")}`, text: invite.code }),
      qrSvg(invite.link, "QR code of the invite link, to scan with your partner's phone"),
      h("p", { class: "invite-link" }, h("a", { href: invite.link, text: invite.link })),
      h("div", { class: "row" },
        h("button", {
          type: "button",
          class: "secondary",
          text: "Copy link",
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(invite.link);
              copyNote.textContent = "Link copied.";
            } catch {
              copyNote.textContent = "Couldn't copy here; press and hold the link instead.";
            }
          },
        }),
        navigator.share
          ? h("button", { type: "button", class: "secondary", text: "Share…", onclick: () => navigator.share({ title: "Tandem", text: "Pair with me on Tandem", url: invite.link }).catch(() => {}) })
          : null,
      ),
      copyNote,
      h("p", { class: "hint", text: `Expires ${new Date(invite.expires_at).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" })}. This screen updates by itself when your partner joins.` }),
    );
  } else {
    put(inviteArea, h("p", { text: S.couple ? "Your last code was used up or expired. Make a new one." : "Make a code and show it to your partner." }));
  }
  const make = h("button", { type: "button", class: live ? "secondary" : "primary", text: live ? "Make a new code" : "Make an invite code" });
  make.addEventListener("click", () =>
    busy(make, async () => {
      try {
        const res = await post("/api/couple");
        S.couple = res.couple;
        storage.set(inviteKey(), res.invite);
        renderPairing();
        const code = document.getElementById("invite-code");
        if (code) code.focus();
      } catch (err) {
        showError(inviteArea, err);
      }
    }),
  );
  put(inviteArea, make);

  const joinForm = h("form", { class: "card", novalidate: true, "aria-labelledby": "join-h" });
  const joinButton = h("button", { type: "submit", class: S.joinCode ? "primary" : "secondary", text: "Join" });
  put(joinForm, 
    h("h2", { id: "join-h", text: "Have a code from your partner?" }),
    h("div", { class: "form-errors" }),
    textField({ name: "code", label: "Invite code", field: "code", value: S.joinCode || "", autocomplete: "off", hint: "8 letters and digits, like ABCD-EFGH." }),
    joinButton,
  );
  const codeInput = joinForm.elements.code;
  codeInput.setAttribute("autocapitalize", "characters");
  codeInput.setAttribute("spellcheck", "false");
  joinForm.addEventListener("submit", (e) => {
    e.preventDefault();
    clearErrors(joinForm);
    busy(joinButton, async () => {
      try {
        const res = await post("/api/couple/join", { code: codeInput.value });
        sessionStorage.removeItem("tandem:join");
        S.joinCode = null;
        S.couple = res.couple;
        S.view = { name: "together" };
        announce(`You're paired with ${partnerName()}.`);
        loadEntries();
        route();
      } catch (err) {
        showError(joinForm, err, "code");
      }
    });
  });

  put(main, 
    h("h1", { class: "page-title", text: "Pair with your partner" }),
    h("p", { class: "lead", text: "Tandem is for the two of you. Once you're paired, you choose what each of you sees." }),
    ...(S.joinCode ? [joinForm, inviteArea] : [inviteArea, joinForm]),
    accountSection(),
  );
}

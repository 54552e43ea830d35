// The sign-up and log-in screen.

import { get, post } from "./api.js";
import { h, put } from "./dom.js";
import { busy, checkedValue, clearErrors, radioGroup, showError, textField } from "./forms.js";
import { showScreen } from "./router.js";
import { signedIn } from "./session.js";
import { S, conn, main } from "./state.js";

export function renderAuth(mode, notice) {
  S.view = { name: "auth" };
  showScreen(mode === "login" ? "Log in" : "Sign up");
  conn.hidden = true;
  const signup = mode === "signup";
  const form = h("form", { class: "card auth", novalidate: true });
  const fields = [];
  if (signup) {
    fields.push(textField({ name: "display_name", label: "Your name", field: "display_name", autocomplete: "nickname", max: 60, hint: "Your partner sees this name." }));
  }
  fields.push(
    textField({ name: "email", label: "Email", field: "email", type: "email", autocomplete: "email", inputmode: "email" }),
    textField({ name: "password", label: "Password", field: "password", type: "password", autocomplete: signup ? "new-password" : "current-password", hint: signup ? "At least 10 characters." : undefined }),
  );
  if (signup) {
    fields.push(
      radioGroup({
        name: "role",
        legend: "I'm joining as",
        field: "role",
        value: "partner",
        options: [
          { value: "partner", label: "A partner" },
          { value: "therapist", label: "A therapist" },
        ],
      }),
    );
  }
  const submit = h("button", { type: "submit", class: "primary", text: signup ? "Create my account" : "Log in" });
  put(form, h("div", { class: "form-errors" }), ...fields, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = { email: form.elements.email.value, password: form.elements.password.value };
    if (signup) {
      body.display_name = form.elements.display_name.value;
      body.role = checkedValue(form, "role") || "partner";
    }
    await busy(submit, async () => {
      try {
        await post(signup ? "/api/signup" : "/api/login", body);
        const me = await get("/api/me");
        S.view = { name: "together" };
        await signedIn(me);
      } catch (err) {
        showError(form, err, err.code === "bad_credentials" ? "password" : null);
      }
    });
  });

  put(main, 
    h("section", { class: "welcome" },
      h("h1", { text: "Tandem" }),
      h("p", { class: "lead", text: "Check in with each other, gently. Everything you write stays private until you choose to share it." }),
    ),
    S.joinCode ? h("p", { class: "notice", text: `You've been invited to pair (code ${S.joinCode}). ${signup ? "Create your account" : "Log in"} first, then you can join.` }) : null,
    notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
    h("div", { class: "segmented", role: "group", "aria-label": "Account" },
      h("button", { type: "button", "aria-pressed": String(signup), text: "Sign up", onclick: () => renderAuth("signup") }),
      h("button", { type: "button", "aria-pressed": String(!signup), text: "Log in", onclick: () => renderAuth("login") }),
    ),
    form,
  );
}

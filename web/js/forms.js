// Form controls sized for a thumb, wired for screen readers, and server errors shown
// next to the control they name.

import { h, put, uid } from "./dom.js";
import { fieldName, sentence } from "./labels.js";

/** A set of radio buttons drawn as large pills, in a fieldset with a legend. */
export function radioGroup({ name, legend, field, options, value, hint, cls = "", onChange }) {
  const hintId = hint ? uid("hint") : null;
  return h(
    "fieldset",
    { class: `group ${cls}`, "data-field": field, "aria-describedby": hintId },
    h("legend", { text: legend }),
    hint ? h("p", { class: "hint", id: hintId, text: hint }) : null,
    h(
      "div",
      { class: "pills" },
      options.map((o) => {
        const id = uid(name);
        return h(
          "div",
          { class: "pill" },
          h("input", {
            type: "radio",
            id,
            name,
            value: String(o.value),
            checked: value !== undefined && value !== null && String(value) === String(o.value),
            onchange: onChange,
          }),
          h("label", { for: id }, o.label, o.sub ? h("span", { class: "sub", text: o.sub }) : null),
        );
      }),
    ),
  );
}

/** Checkboxes drawn as chips; at most `max` may be ticked. */
export function checkGroup({ name, legend, field, options, values = [], max, hint, onChange }) {
  const hintId = uid("hint");
  const set = h("fieldset", { class: "group", "data-field": field, "aria-describedby": hintId });
  const update = () => {
    const boxes = [...set.querySelectorAll("input[type=checkbox]")];
    const n = boxes.filter((b) => b.checked).length;
    for (const b of boxes) b.disabled = !b.checked && n >= max;
  };
  put(set, 
    h("legend", { text: legend }),
    h("p", { class: "hint", id: hintId, text: hint || `Choose up to ${max}, or none.` }),
    h(
      "div",
      { class: "pills chips-pick" },
      options.map((o) => {
        const id = uid(name);
        return h(
          "div",
          { class: "pill" },
          h("input", {
            type: "checkbox",
            id,
            name,
            value: o.value,
            checked: values.includes(o.value),
            onchange: () => {
              update();
              if (onChange) onChange();
            },
          }),
          h("label", { for: id, text: o.label }),
        );
      }),
    ),
  );
  update();
  return set;
}

/** A labelled text input or textarea. */
export function textField({ name, label, field, value = "", multiline = false, max, optional = false, hint, type = "text", autocomplete, onInput, inputmode }) {
  const id = uid(name);
  const hintId = hint ? uid("hint") : null;
  const attrs = {
    id,
    name,
    value,
    maxlength: max,
    autocomplete,
    inputmode,
    "aria-describedby": hintId,
    oninput: onInput,
  };
  const control = multiline ? h("textarea", { ...attrs, rows: 3 }) : h("input", { ...attrs, type });
  if (multiline) control.value = value;
  return h(
    "div",
    { class: "field", "data-field": field },
    h("label", { for: id }, label, optional ? h("span", { class: "optional", text: " (optional)" }) : null),
    hint ? h("p", { class: "hint", id: hintId, text: hint }) : null,
    control,
  );
}

export function checkedValue(form, name) {
  const el = form.querySelector(`input[name="${name}"]:checked`);
  return el ? el.value : null;
}

export function checkedValues(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((e) => e.value);
}

/** Removes every error message shown in `root`. */
export function clearErrors(root) {
  for (const e of root.querySelectorAll(".error")) e.remove();
  for (const c of root.querySelectorAll("[aria-invalid]")) {
    c.removeAttribute("aria-invalid");
    const ids = (c.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && !x.startsWith("err-"));
    if (ids.length) c.setAttribute("aria-describedby", ids.join(" "));
    else c.removeAttribute("aria-describedby");
  }
}

/**
 * Shows an error next to the control its `field` names (the closest match, so
 * "body.choice.option" lands on "body.choice"), or at the top of `root` otherwise.
 */
export function showError(root, err, fallbackField) {
  clearErrors(root);
  let target = null;
  let field = err.field || fallbackField || null;
  while (field && !target) {
    target = root.querySelector(`[data-field="${CSS.escape(field)}"]`);
    if (!target) {
      const shorter = field.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
      field = shorter === field ? null : shorter;
    }
  }
  const id = uid("err");
  const where = err.field && !target ? `${fieldName(err.field)}: ` : "";
  const msg = h("p", { class: "error", id, role: "alert" }, sentence(where + err.message));
  if (!target) {
    target = root.querySelector(".form-errors") || root;
    target.prepend(msg);
    return;
  }
  const legendOrLabel = target.querySelector(":scope > legend, :scope > label");
  if (legendOrLabel) legendOrLabel.after(msg);
  else target.prepend(msg);
  const controls = target.matches("input, textarea, select") ? [target] : [...target.querySelectorAll("input, textarea, select")];
  for (const c of controls) {
    c.setAttribute("aria-invalid", "true");
    const ids = (c.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    c.setAttribute("aria-describedby", [...ids, id].join(" "));
  }
  const focusable = controls.find((c) => !c.disabled);
  if (focusable) focusable.focus();
}

/** A busy state for a button while its request runs. */
export async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

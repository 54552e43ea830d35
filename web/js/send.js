// Sending a write (share, withdraw, reply, outcome, delete) over the live connection,
// with its progress and errors shown in the form it came from.

import { h, put } from "./dom.js";
import { showError } from "./forms.js";
import { S } from "./state.js";

/**
 * Sends a write through the live connection and reports back in `form`. Offline, the
 * write waits on this phone and is sent on reconnection.
 */
export async function submitWrite(form, button, message, onAck) {
  const { sent, done } = S.live.write(message);
  let status = form.querySelector(".write-status");
  if (!status) {
    status = h("p", { class: "write-status hint", role: "status" });
    put(form, status);
  }
  if (!sent) status.textContent = "You're offline. This is kept on this phone and will be sent when you're back online.";
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const ack = await done;
    onAck(ack);
  } catch (err) {
    if (form.isConnected) showError(form, err);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (status.isConnected) status.textContent = "";
  }
}

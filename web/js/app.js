// Tandem's phone app: the entry point. Registers each screen with the router under its
// view name, registers the service worker and starts the app.

import { renderAuth } from "./auth.js";
import { renderCare, updateCare } from "./care.js";
import { renderConsent } from "./consent.js";
import { loadCouples, renderCouples, renderSummary } from "./couples.js";
import { renderMine, updateMine } from "./mine.js";
import { renderPairing } from "./pairing.js";
import { registerScreen } from "./router.js";
import { boot } from "./session.js";
import { renderTogether, updateTogether } from "./together.js";
import { renderWrite } from "./write.js";

registerScreen("auth", renderAuth);
registerScreen("pairing", renderPairing);
registerScreen("together", renderTogether, updateTogether);
registerScreen("write", renderWrite);
registerScreen("consent", renderConsent);
registerScreen("mine", renderMine, updateMine);
registerScreen("therapist", renderCare, updateCare);
registerScreen("summary", renderSummary);
registerScreen("couples", renderCouples, loadCouples);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}
boot();

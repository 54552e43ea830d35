// Keeps the app's own files so Tandem opens without a connection. Network first, so
// an update is picked up at once; the API is never cached (entries stay on the server).

const CACHE = "tandem-shell-v3";
const SHELL = [
  "/",
  "/app.css",
  "/js/app.js",
  "/js/account.js",
  "/js/api.js",
  "/js/auth.js",
  "/js/care.js",
  "/js/compose.js",
  "/js/consent.js",
  "/js/couples.js",
  "/js/dom.js",
  "/js/entry-lists.js",
  "/js/forms.js",
  "/js/labels.js",
  "/js/live.js",
  "/js/mine.js",
  "/js/pairing.js",
  "/js/qr.js",
  "/js/render.js",
  "/js/replies.js",
  "/js/router.js",
  "/js/send.js",
  "/js/session.js",
  "/js/state.js",
  "/js/summary.js",
  "/js/together.js",
  "/js/write.js",
  "/vendor/qrcode-generator.js",
  "/manifest.webmanifest",
  "/icons/icon.svg",
  "/icons/icon-192.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  event.respondWith(
    fetch(event.request)
      .then((res) => {
        if (res.ok && SHELL.includes(url.pathname)) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(event.request, copy));
        }
        return res;
      })
      .catch(() => caches.match(event.request).then((hit) => hit || caches.match("/"))),
  );
});

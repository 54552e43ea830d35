// What the app holds while it runs (who is signed in, the couple, the entries on this
// phone, the open view, the connection), the page's fixed elements, and small helpers
// every screen uses: the partner's name, screen-reader announcements, the page title,
// adding and removing an entry in the copy kept here.

export const S = {
  me: null,
  couple: null,
  vocab: null,
  entries: new Map(),
  live: null,
  view: { name: "together" },
  conn: "connecting",
  outbox: [],
  joinCode: null,
  loadingList: null,
  buffered: null,
  summary: null,
  couples: null,
};

export const main = document.getElementById("main");
export const nav = document.getElementById("nav");
export const conn = document.getElementById("conn");
export const partnerLine = document.getElementById("partner-line");
const announcer = document.getElementById("announce");

export const partnerName = () => (S.couple && S.couple.partner && S.couple.partner.display_name) || "your partner";

export function announce(text) {
  announcer.textContent = "";
  setTimeout(() => (announcer.textContent = text), 50);
}

export function setTitle(part) {
  // Titles never carry entry text.
  document.title = part ? `${part} · Tandem` : "Tandem";
}

export const inviteKey = () => `tandem:invite:${S.me && S.me.id}`;

export function upsert(entry) {
  const old = S.entries.get(entry.id);
  if (old && old.updated_at > entry.updated_at) return;
  S.entries.set(entry.id, entry);
}

export function removeEntry(id) {
  S.entries.delete(id);
}

// Words people read, for every value of the server's closed vocabularies.

export const KIND = {
  check_in: "Check-in",
  appreciation: "Appreciation",
  request: "Request",
  setback: "Setback",
  small_step: "Small step",
  reply: "Reply",
};

export const KIND_HINT = {
  check_in: "How you are, how close you'd like to be, whether you're ready to talk.",
  appreciation: "Something you appreciate about your partner.",
  request: "Something you'd like, as a few options to choose from.",
  setback: "A hard moment. Setbacks are expected and okay.",
  small_step: "A small step toward closeness you'd like to try.",
};

export const MOOD = { 1: "Very low", 2: "Low", 3: "Okay", 4: "Good", 5: "Very good" };

export const CLOSENESS = {
  "-2": "I'd like more closeness",
  "-1": "A little more closeness",
  0: "Just right",
  1: "A little more space",
  2: "I need more space",
};

export const HOW_HARD = { 1: "A little", 2: "Somewhat", 3: "Quite", 4: "Very", 5: "Extremely" };

const WORDS = {
  felt_appreciated: { yes: "Yes", somewhat: "Somewhat", not_really: "Not really", rather_not_say: "Rather not say" },
  ready_to_talk: { now: "Now", later: "Later", not_yet: "Not yet" },
  shown_by: { words: "Words", time_together: "Time together", help: "Help", touch: "Touch", gift: "A gift", support: "Support" },
  would_help: {
    some_space: "Some space",
    reassurance: "Reassurance",
    talk_later: "Talking later",
    being_close: "Being close",
    nothing_right_now: "Nothing right now",
  },
  intimacy: { intellectual: "Intellectual", emotional: "Emotional", experiential: "Experiential", physical: "Physical", spiritual: "Spiritual" },
  outcome: { tried: "Tried it", went_well: "Went well", was_hard: "Was hard" },
  support: {
    thank_you_for_telling_me: "Thank you for telling me",
    im_here_when_ready: "I'm here when you're ready",
    take_the_time_you_need: "Take the time you need",
  },
};

/** The label of a vocabulary value: known wording, or the value made readable. */
export function word(list, value) {
  const known = WORDS[list] && WORDS[list][value];
  if (known) return known;
  const s = String(value).replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export const NONE_OF_THESE = "None of these, let's talk";

/** "5 min ago", "yesterday 21:40", "3 Mar" — calm, relative, no counters. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const now = new Date();
  const mins = Math.round((now - d) / 60000);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (mins < 1) return "just now";
  if (mins < 60) return `${mins} min ago`;
  const sameDay = d.toDateString() === now.toDateString();
  if (sameDay) return `today ${time}`;
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (d.toDateString() === y.toDateString()) return `yesterday ${time}`;
  return d.toLocaleDateString([], { day: "numeric", month: "short" });
}

/** The human name of a server field path ("body.mood" → "mood"). */
export function fieldName(field) {
  return String(field || "")
    .replace(/^body\./, "")
    .replace(/\[(\d+)\]/g, (_, i) => ` ${Number(i) + 1}`)
    .replace(/_/g, " ");
}

/** A server message made into a sentence. */
export function sentence(message) {
  const s = String(message || "").trim();
  if (!s) return "Something went wrong.";
  const first = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(first) ? first : first + ".";
}

// The shared summary: the very page a couple's therapist reads, which both partners can
// open too. Every figure and chart comes from the server, built only from entries shared
// with the therapist; the charts are the server's SVG, parsed as SVG (never as HTML).

import { get } from "./api.js";
import { clear, h, put, uid } from "./dom.js";
import { showError } from "./forms.js";
import { KIND, sentence, word } from "./labels.js";
import { entryBody, replyText } from "./render.js";

const DAY = 24 * 60 * 60 * 1000;

/** "Mon 3 Mar, 21:40": absolute, so a printed summary still reads right next week. */
export function dateTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

/** "3 Mar", with the year when asked or when it is not this year. */
export function dateOnly(iso, withYear = false) {
  if (!iso) return "";
  const d = new Date(iso);
  const year = withYear || d.getFullYear() !== new Date().getFullYear();
  return d.toLocaleDateString([], { day: "numeric", month: "short", year: year ? "numeric" : undefined });
}

const utcDay = (ms) => new Date(ms).toISOString().slice(0, 10);

function localDay(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** Parses the server's chart markup as SVG and keeps only drawing: no scripts, links or handlers. */
function svgNode(markup) {
  if (typeof markup !== "string") return null;
  const doc = new DOMParser().parseFromString(markup, "image/svg+xml");
  const root = doc.documentElement;
  if (!root || root.localName !== "svg" || doc.getElementsByTagName("parsererror").length) return null;
  for (const bad of root.querySelectorAll("script, foreignObject, a, iframe, use")) bad.remove();
  for (const el of [root, ...root.querySelectorAll("*")]) {
    for (const attr of [...el.attributes]) {
      if (/^on/i.test(attr.name) || /href$/i.test(attr.name) || attr.name === "style") el.removeAttribute(attr.name);
    }
  }
  return document.importNode(root, true);
}

const num = (v) => (v === null || v === undefined ? "—" : String(v));
const avg = (v, of) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(1).replace("-", "−")}${of ? ` of ${of}` : ""}`);

/** "yes 1 · not really 1" — the non-zero counts of a map, in the order given. */
function counts(map, order, list) {
  const keys = order || Object.keys(map || {});
  const parts = keys.filter((k) => map && map[k] > 0).map((k) => `${list ? word(list, k).toLowerCase() : k.replace(/_/g, " ")} ${map[k]}`);
  return parts.length ? parts.join(" · ") : "none";
}

function sub(text) {
  return h("span", { class: "cell-sub", text });
}

/** The rows of the figures table: [key, label, cell(figures)]. */
const ROWS = [
  ["check_ins", "Check-ins", (f) => num(f.check_ins)],
  ["mood_average", "Mood, average (1 low – 5 high)", (f) => avg(f.mood && f.mood.average)],
  [
    "emotions",
    "Emotions named",
    (f) => {
      const e = Object.entries(f.emotions || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      return e.length ? h("span", { class: "chips" }, e.map(([k, n]) => h("span", { class: "chip", text: `${word("emotion", k).toLowerCase()} ${n}` }))) : "none";
    },
  ],
  [
    "closeness",
    "Closeness wished for (in check-ins)",
    (f) => {
      const b = (f.closeness && f.closeness.balance) || {};
      const c = f.closeness || {};
      if (!f.check_ins) return "—";
      return [
        h("span", { class: "balance" },
          h("span", { class: b.more_closeness ? "on" : "", text: `more closeness ${num(b.more_closeness)}` }),
          h("span", { class: b.just_right ? "on" : "", text: `just right ${num(b.just_right)}` }),
          h("span", { class: b.more_space ? "on" : "", text: `more space ${num(b.more_space)}` }),
        ),
        sub(`average ${avg(c.average)} (scale −2 to +2)`),
      ];
    },
  ],
  ["appreciation_said", "Appreciation said (entries)", (f) => num(f.appreciation && f.appreciation.given)],
  [
    "appreciation_felt",
    "Felt appreciated (in check-ins)",
    (f) => (f.check_ins ? counts(f.appreciation && f.appreciation.felt, ["yes", "somewhat", "not_really", "rather_not_say"], "felt_appreciated") : "—"),
  ],
  [
    "requests",
    "Requests made · answered",
    (f) => {
      const r = f.requests || {};
      return [`${num(r.made)} · ${num(r.answered)}`, r.made ? sub(`option chosen ${num(r.option_chosen)}, "let's talk" ${num(r.lets_talk)}`) : null];
    },
  ],
  [
    "setbacks",
    "Setbacks shared · replied to",
    (f) => {
      const s = f.setbacks || {};
      return [`${num(s.shared)} · ${num(s.replied_to)}`, s.shared ? sub(`how hard, average ${avg(s.average_how_hard, 5)}`) : null];
    },
  ],
  [
    "small_steps",
    "Small steps",
    (f) => {
      const s = f.small_steps || {};
      if (!s.total) return "0";
      return [String(s.total), sub(counts(s.by_intimacy, null, "intimacy")), sub(counts(s.outcomes, ["went_well", "tried", "was_hard", "not_marked"], "outcome"))];
    },
  ],
  ["replies", "Replies", (f) => num(f.replies)],
];

function figuresTable(s) {
  const cols = [...(s.partners || []).map((p) => ({ who: p.id, name: p.display_name, f: p.figures || {} })), { who: "couple", name: "Both", f: s.couple || {} }];
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "figures", id: "summary-figures" },
      h("caption", { class: "visually-hidden", text: "Figures for each partner and for the couple" }),
      h("thead", null, h("tr", null, h("th", { scope: "col", text: "" }), cols.map((c) => h("th", { scope: "col", text: c.name })))),
      h(
        "tbody",
        null,
        ROWS.map(([key, label, cell]) =>
          h("tr", { "data-row": key }, h("th", { scope: "row", text: label }), cols.map((c) => h("td", { "data-metric": key, "data-who": c.who, "data-name": c.name }, cell(c.f)))),
        ),
      ),
    ),
  );
}

const CHARTS = [
  ["mood", "Mood over time"],
  ["closeness", "Closeness over time"],
  ["emotions", "Emotions named"],
  ["appreciation", "Appreciation said and felt"],
  ["small_steps", "Small steps by kind of intimacy"],
];

function charts(s) {
  const box = h("div", { class: "charts", id: "summary-charts" });
  for (const [key, name] of CHARTS) {
    const svg = svgNode(s.charts && s.charts[key]);
    put(box, h("figure", { class: `chart-box chart-${key}`, "data-chart": key }, svg || h("p", { class: "muted", text: `${name}: not available.` })));
  }
  return box;
}

function entriesList(s) {
  const all = s.entries || [];
  const roots = all.filter((e) => e.kind !== "reply").sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  const list = h("div", { class: "list summary-entries", id: "summary-entries" });
  if (!roots.length) put(list, h("p", { class: "muted", text: "Nothing was shared with the therapist in this period." }));
  for (const e of roots) {
    const id = uid("sentry");
    const replies = all.filter((r) => r.kind === "reply" && r.reply_to === e.id).sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
    put(
      list,
      h(
        "article",
        { class: `entry kind-${e.kind}`, "aria-labelledby": id, "data-entry-id": e.id, "data-kind": e.kind },
        h("header", { class: "entry-head" }, h("h3", { id, class: "entry-title", text: KIND[e.kind] || e.kind }), h("p", { class: "meta", text: `${e.author.display_name} · ${dateTime(e.created_at)}` })),
        entryBody(e),
        replies.length
          ? h(
              "ul",
              { class: "replies", "aria-label": "Replies" },
              replies.map((r) => {
                const choice = replyText(r, e);
                return h(
                  "li",
                  { class: "reply", "data-entry-id": r.id },
                  h("p", { class: "meta" }, h("strong", { text: r.author.display_name }), ` replied · ${dateTime(r.created_at)}`),
                  choice ? h("p", { class: "reply-choice", text: choice }) : null,
                  r.body && r.body.note ? h("p", { class: "note", text: r.body.note }) : null,
                );
              }),
            )
          : null,
      ),
    );
  }
  return list;
}

/**
 * The summary page for `coupleId`. `role` is the reader's ("therapist" or "partner");
 * `therapistName` names the couple's therapist for partners. Returns { el, refetch }.
 */
export function summaryPage({ coupleId, role, therapistName, back }) {
  const therapist = role === "therapist";
  const st = {
    period: therapist ? "since_last_view" : "30d",
    from: localDay(Date.now() - 30 * DAY),
    to: localDay(Date.now()),
    since: null, // the therapist's previous view, pinned at the first "since" answer
    seq: 0,
    shown: false,
  };
  const periods = [
    ["since_last_view", therapist ? "Since your last view" : `Since ${therapistName || "the therapist"} last viewed`],
    ["7d", "Last 7 days"],
    ["30d", "Last 30 days"],
    ["90d", "Last 90 days"],
    ["custom", "Choose dates"],
  ];
  if (!therapist) periods.push(periods.shift());

  const el = h("div", { class: "summary", id: "summary" });
  const title = h("h1", { class: "page-title", id: "summary-title", text: "Shared summary" });
  const lead = h("p", { class: "lead", id: "summary-period" });
  const status = h("p", { class: "hint", id: "summary-status", role: "status" });
  const body = h("div", { id: "summary-body" }, h("p", { class: "muted", text: "Loading the summary…" }));

  const name = `period-${uid("p")}`;
  const picker = h(
    "fieldset",
    { class: "group period-picker", "data-field": "period" },
    h("legend", { text: "Period" }),
    h(
      "div",
      { class: "pills" },
      periods.map(([value, label]) => {
        const id = uid("period");
        return h(
          "div",
          { class: "pill" },
          h("input", { type: "radio", id, name, value, checked: value === st.period, onchange: () => choose(value) }),
          h("label", { for: id, text: label }),
        );
      }),
    ),
  );
  const fromId = uid("from");
  const toId = uid("to");
  const dates = h(
    "form",
    { class: "dates", novalidate: true, hidden: st.period !== "custom" },
    h("div", { class: "form-errors" }),
    h("div", { class: "field", "data-field": "from" }, h("label", { for: fromId, text: "From" }), h("input", { type: "date", id: fromId, name: "from", value: st.from })),
    h("div", { class: "field", "data-field": "to" }, h("label", { for: toId, text: "To" }), h("input", { type: "date", id: toId, name: "to", value: st.to })),
    h("button", { type: "submit", class: "secondary small", text: "Show these dates" }),
  );
  dates.addEventListener("submit", (e) => {
    e.preventDefault();
    st.from = dates.elements.from.value;
    st.to = dates.elements.to.value;
    refetch();
  });
  const csv = h("a", { class: "secondary small", download: "tandem-summary.csv", text: "Export CSV" });
  const json = h("a", { class: "secondary small", download: "tandem-summary.json", text: "Export JSON" });
  const actions = h(
    "div",
    { class: "row summary-actions" },
    csv,
    json,
    h("button", { type: "button", class: "secondary small", text: "Print", onclick: () => window.print() }),
  );
  const toolbar = h("div", { class: "card toolbar no-print", id: "summary-toolbar" }, picker, dates, actions);
  const intro = h("p", {
    class: "calm no-print",
    text: therapist
      ? "Only what the partners chose to share with you appears here, and only while both keep your access."
      : `This is what ${therapistName || "a therapist you both approve"} sees, without anything your partner shared with the therapist alone. Only entries added to the therapist summary count.`,
  });

  put(el, back ? h("button", { type: "button", class: "link back no-print", text: back.label, onclick: back.go }) : null, title, lead, intro, toolbar, status, body);

  function choose(value) {
    st.period = value;
    dates.hidden = value !== "custom";
    if (value === "custom") {
      dates.elements.from.focus();
      return;
    }
    refetch();
  }

  /** The query for the chosen period. A therapist's "since last view" is pinned once known. */
  function query() {
    if (st.period === "custom") return `period=custom&from=${encodeURIComponent(st.from)}&to=${encodeURIComponent(st.to)}`;
    if (st.period === "since_last_view" && therapist && st.since) return `period=custom&from=${utcDay(st.since)}&to=${utcDay(Date.now())}`;
    return `period=${st.period}`;
  }

  function periodText(s) {
    const p = s.period || {};
    const to = new Date(new Date(p.to).getTime() - 1).toISOString();
    const range = `${dateOnly(p.from)} – ${dateOnly(to, true)}`;
    if (st.period === "since_last_view" && therapist && st.since && /^\d{4}-\d{2}-\d{2} to /.test(p.label || "")) {
      return st.sinceFirst ? `Your first view: the last 30 days (${range})` : `Since the day of your last view (${range})`;
    }
    if (therapist && /not viewed/.test(p.label || "")) return `Last 30 days: you haven't viewed this summary before (${range})`;
    const label = p.label ? sentence(p.label).replace(/\.$/, "") : "";
    return label ? `${label} (${range})` : range;
  }

  function show(s) {
    const names = (s.partners || []).map((p) => p.display_name);
    title.textContent = names.length ? `Shared summary · ${names.join(" and ")}` : "Shared summary";
    lead.textContent = periodText(s);
    toolbar.hidden = false;
    intro.hidden = false;
    const q = query();
    csv.href = `/api/summary/${coupleId}/export.csv?${q}`;
    json.href = `/api/summary/${coupleId}/export.json?${q}`;
    clear(body);
    put(
      body,
      h("section", { class: "card", "aria-labelledby": "glance-h" }, h("h2", { id: "glance-h", text: "At a glance" }), figuresTable(s)),
      h("section", { class: "charts-section", "aria-labelledby": "charts-h" }, h("h2", { id: "charts-h", text: "Charts" }), charts(s)),
      h("section", { class: "entries-section", "aria-labelledby": "entries-h" }, h("h2", { id: "entries-h", text: "Shared entries" }), entriesList(s)),
      h("p", { class: "hint generated", text: `Generated ${dateTime(s.generated_at)}. Only entries shared with the therapist are counted, in every figure and chart.` }),
    );
    st.shown = true;
  }

  /** Access ended (revoked, or the couple is gone): nothing of the summary stays on the page. */
  function ended() {
    clear(body);
    toolbar.hidden = true;
    intro.hidden = true;
    csv.removeAttribute("href");
    json.removeAttribute("href");
    title.textContent = therapist ? "Access was revoked" : "This summary is no longer available";
    lead.textContent = "";
    status.textContent = "";
    put(
      body,
      h(
        "div",
        { class: "card ended", id: "summary-ended", role: "alert" },
        h("p", {
          text: therapist
            ? "The couple revoked your access to this summary. It took effect at once, so what was shown has been cleared from this page."
            : "You're no longer paired, so there is no shared summary to show.",
        }),
      ),
    );
    st.shown = false;
  }

  async function refetch() {
    const seq = ++st.seq;
    const q = query();
    if (st.shown) status.textContent = "Updating…";
    try {
      const s = await get(`/api/summary/${coupleId}?${q}`);
      if (seq !== st.seq || !el.isConnected) return;
      if (therapist && st.period === "since_last_view" && !st.since && s.period) {
        // Reading the summary counts as a view, so asking "since the last view" again
        // would start from this very page; later updates keep the first answer's start.
        st.since = new Date(s.period.from).getTime();
        st.sinceFirst = !/since/.test(s.period.label || "");
      }
      status.textContent = "";
      show(s);
    } catch (err) {
      if (seq !== st.seq || !el.isConnected) return;
      if (err.status === 404) {
        ended();
        return;
      }
      status.textContent = "";
      if (err.status === 422) {
        dates.hidden = false;
        showError(dates, err);
        return;
      }
      status.textContent = err.code === "network" ? "Can't reach Tandem right now; this shows what was loaded before." : sentence(err.message);
      if (!st.shown) clear(body);
    }
  }

  return { el, refetch };
}

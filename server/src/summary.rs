//! The therapist summary: figures, charts and exports built only from entries shared
//! with scope `therapist` that its reader may see (`consent::in_summary`), for a chosen
//! period.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::consent;
use crate::entry::{Emotion, FeltAppreciated, Intimacy, Outcome, ShownBy, WouldHelp};
use crate::store::EntryRecord;
use crate::time::rfc3339;

/// The period a summary covers, in Unix milliseconds, `from` inclusive, `to` exclusive,
/// against the time each entry was shared with the therapist.
#[derive(Debug, Clone)]
pub struct Period {
    pub from: i64,
    pub to: i64,
    pub label: String,
}

/// The partners of the couple: (id, display name), in a stable order.
pub type Members = [(String, String)];

fn body(e: &EntryRecord) -> Value {
    serde_json::from_str(&e.body).unwrap_or(Value::Null)
}

/// An entry as the therapist sees it: no consent details beyond when it was shared with them.
pub fn therapist_view(e: &EntryRecord) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "body": body(e),
        "author": { "id": e.author_id, "display_name": e.author_name },
        "reply_to": e.reply_to,
        "created_at": rfc3339(e.created_at),
        "shared_at": e.shared_therapist_at.map(rfc3339),
    })
}

/// The entries a summary of `period` counts for its reader: of the couple's entries
/// (`all`) those `consent::in_summary` lets them see, each entry (not a reply) shared with
/// the therapist during the period, with the replies to it (a reply counts in the period
/// of the entry it answers, whenever it was shared itself).
pub fn select<'a>(
    all: &'a [EntryRecord],
    viewer: &str,
    reader_is_therapist: bool,
    period: &Period,
) -> Vec<&'a EntryRecord> {
    let readable = consent::in_summary(all, viewer, reader_is_therapist);
    let in_period = |e: &EntryRecord| e.shared_therapist_at.is_some_and(|t| t >= period.from && t < period.to);
    let roots: HashSet<&str> = readable
        .iter()
        .filter(|e| e.kind != "reply" && in_period(e))
        .map(|e| e.id.as_str())
        .collect();
    readable
        .into_iter()
        .filter(|e| roots.contains(e.id.as_str()) || e.reply_to.as_deref().is_some_and(|t| roots.contains(t)))
        .collect()
}

fn counts(names: &[&'static str]) -> Map<String, Value> {
    names.iter().map(|n| (n.to_string(), json!(0))).collect()
}

fn bump(map: &mut Map<String, Value>, key: &str) {
    let n = map.get(key).and_then(Value::as_i64).unwrap_or(0);
    map.insert(key.to_string(), json!(n + 1));
}

fn average(values: &[i64]) -> Value {
    if values.is_empty() {
        Value::Null
    } else {
        let avg = values.iter().sum::<i64>() as f64 / values.len() as f64;
        json!((avg * 10.0).round() / 10.0)
    }
}

/// Figures for the entries of one writer (or of both, for the couple).
fn figures(entries: &[&EntryRecord], all: &[&EntryRecord], writer: Option<&str>) -> Value {
    let mine: Vec<&&EntryRecord> = entries
        .iter()
        .filter(|e| writer.is_none_or(|w| e.author_id == w))
        .collect();
    let replies_to = |id: &str| -> Vec<&EntryRecord> {
        all.iter()
            .copied()
            .filter(|r| r.reply_to.as_deref() == Some(id))
            .collect()
    };

    let (mut moods, mut mood_points, mut closeness, mut closeness_points) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut emotions = counts(Emotion::ALL);
    let mut felt = counts(FeltAppreciated::ALL);
    let mut balance = counts(&["more_closeness", "just_right", "more_space"]);
    let mut shown_by = counts(ShownBy::ALL);
    let mut would_help = counts(WouldHelp::ALL);
    let mut by_intimacy = counts(Intimacy::ALL);
    let mut outcomes = counts(Outcome::ALL);
    outcomes.insert("not_marked".into(), json!(0));
    let (mut check_ins, mut appreciations, mut requests, mut answered, mut options_chosen, mut lets_talk) =
        (0, 0, 0, 0, 0, 0);
    let (mut setbacks, mut setbacks_replied, mut how_hard, mut steps, mut replies) = (0, 0, Vec::new(), 0, 0);
    for e in &mine {
        let b = body(e);
        match e.kind.as_str() {
            "check_in" => {
                check_ins += 1;
                let mood = b["mood"].as_i64().unwrap_or_default();
                let close = b["closeness"].as_i64().unwrap_or_default();
                moods.push(mood);
                closeness.push(close);
                mood_points.push(json!({ "at": rfc3339(e.created_at), "value": mood, "author_id": e.author_id }));
                closeness_points.push(json!({ "at": rfc3339(e.created_at), "value": close, "author_id": e.author_id }));
                for em in b["emotions"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    bump(&mut emotions, em);
                }
                bump(&mut felt, b["felt_appreciated"].as_str().unwrap_or_default());
                bump(
                    &mut balance,
                    if close < 0 {
                        "more_closeness"
                    } else if close > 0 {
                        "more_space"
                    } else {
                        "just_right"
                    },
                );
            }
            "appreciation" => {
                appreciations += 1;
                bump(&mut shown_by, b["shown_by"].as_str().unwrap_or_default());
            }
            "request" => {
                requests += 1;
                let answers = replies_to(&e.id);
                if !answers.is_empty() {
                    answered += 1;
                }
                for r in answers {
                    match &body(r)["choice"] {
                        Value::String(s) if s == "none_of_these" => lets_talk += 1,
                        Value::Object(o) if o.contains_key("option") => options_chosen += 1,
                        _ => {}
                    }
                }
            }
            "setback" => {
                setbacks += 1;
                how_hard.push(b["how_hard"].as_i64().unwrap_or_default());
                bump(&mut would_help, b["would_help"].as_str().unwrap_or_default());
                if !replies_to(&e.id).is_empty() {
                    setbacks_replied += 1;
                }
            }
            "small_step" => {
                steps += 1;
                bump(&mut by_intimacy, b["intimacy"].as_str().unwrap_or_default());
                bump(&mut outcomes, b["outcome"].as_str().unwrap_or("not_marked"));
            }
            "reply" => replies += 1,
            _ => {}
        }
    }
    emotions.retain(|_, v| v.as_i64() != Some(0));
    json!({
        "entries": mine.len(),
        "check_ins": check_ins,
        "mood": { "average": average(&moods), "points": mood_points },
        "emotions": emotions,
        "closeness": { "average": average(&closeness), "balance": balance, "points": closeness_points },
        "appreciation": { "given": appreciations, "shown_by": shown_by, "felt": felt },
        "requests": { "made": requests, "answered": answered, "option_chosen": options_chosen, "lets_talk": lets_talk },
        "setbacks": { "shared": setbacks, "replied_to": setbacks_replied, "average_how_hard": average(&how_hard), "would_help": would_help },
        "small_steps": { "total": steps, "by_intimacy": by_intimacy, "outcomes": outcomes },
        "replies": replies,
    })
}

fn choice_label(choice: &Value, request: Option<&Value>) -> Option<String> {
    match choice {
        Value::String(s) if s == "none_of_these" => Some("None of these, let's talk".into()),
        Value::Object(o) => {
            if let Some(i) = o.get("option").and_then(Value::as_u64) {
                let text = request
                    .and_then(|r| r["options"].get(i as usize))
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                Some(text.to_string())
            } else {
                o.get("support")
                    .and_then(Value::as_str)
                    .map(support_label)
                    .map(str::to_string)
            }
        }
        _ => None,
    }
}

fn support_label(s: &str) -> &'static str {
    match s {
        "thank_you_for_telling_me" => "Thank you for telling me",
        "im_here_when_ready" => "I'm here when you're ready",
        "take_the_time_you_need" => "Take the time you need",
        _ => "",
    }
}

/// The whole summary as JSON (charts included as SVG markup), as `viewer` (the therapist
/// when `reader_is_therapist`, else a partner) may read it, from the couple's entries `all`.
pub fn build(
    couple_id: &str,
    members: &Members,
    all: &[EntryRecord],
    viewer: &str,
    reader_is_therapist: bool,
    period: &Period,
    now: i64,
) -> Value {
    let entries = select(all, viewer, reader_is_therapist, period);
    let by_id: HashMap<&str, &EntryRecord> = entries.iter().map(|e| (e.id.as_str(), *e)).collect();
    let partners: Vec<Value> = members
        .iter()
        .map(|(id, name)| json!({ "id": id, "display_name": name, "figures": figures(&entries, &entries, Some(id)) }))
        .collect();
    let couple = figures(&entries, &entries, None);

    let answers_of = |id: &str| -> Vec<Value> {
        entries
            .iter()
            .filter(|r| r.reply_to.as_deref() == Some(id))
            .map(|r| {
                let b = body(r);
                let parent = by_id.get(id).map(|p| body(p));
                json!({
                    "id": r.id, "by": r.author_name, "at": rfc3339(r.created_at),
                    "choice": choice_label(&b["choice"], parent.as_ref()), "note": b["note"],
                })
            })
            .collect()
    };
    let list_of = |kind: &str| -> Vec<Value> {
        entries
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| json!({ "id": e.id, "by": e.author_name, "at": rfc3339(e.created_at), "body": body(e), "replies": answers_of(&e.id) }))
            .collect()
    };
    let charts = json!({
        "mood": line_chart("Mood over time", "1 = low, 5 = high", members, &entries, "mood", (1, 5), period, &["1", "2", "3", "4", "5"]),
        "closeness": line_chart(
            "Closeness over time", "below the line: would like more closeness; above: needs more space",
            members, &entries, "closeness", (-2, 2), period,
            &["more closeness", "", "just right", "", "more space"],
        ),
        "emotions": bar_chart("Emotions named", members, &partners, |f| f["emotions"].clone(), Emotion::ALL),
        "appreciation": bar_chart("Appreciation said and felt", members, &partners, |f| json!({
            "said (entries)": f["appreciation"]["given"],
            "felt: yes": f["appreciation"]["felt"]["yes"],
            "felt: somewhat": f["appreciation"]["felt"]["somewhat"],
            "felt: not really": f["appreciation"]["felt"]["not_really"],
        }), &["said (entries)", "felt: yes", "felt: somewhat", "felt: not really"]),
        "small_steps": bar_chart("Small steps by kind of intimacy", members, &partners, |f| f["small_steps"]["by_intimacy"].clone(), Intimacy::ALL),
    });
    json!({
        "couple_id": couple_id,
        "period": { "from": rfc3339(period.from), "to": rfc3339(period.to), "label": period.label },
        "generated_at": rfc3339(now),
        "partners": partners,
        "couple": couple,
        "requests": list_of("request"),
        "setbacks": list_of("setback"),
        "small_steps": list_of("small_step"),
        "entries": entries.iter().map(|e| therapist_view(e)).collect::<Vec<_>>(),
        "charts": charts,
    })
}

const COLORS: [&str; 2] = ["#2f5f8f", "#a4471f"];
const DASHES: [&str; 2] = ["", " stroke-dasharray=\"6 4\""];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Names each partner's colour: a line (dashed for the second) or a bar swatch.
fn legend(svg: &mut String, members: &Members, x: f64, y: f64, bars: bool) {
    for (i, (_, name)) in members.iter().enumerate() {
        let lx = x + i as f64 * 160.0;
        if bars {
            let _ = write!(
                svg,
                "<rect x=\"{lx}\" y=\"{}\" width=\"24\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>",
                y - 5.0,
                COLORS[i % 2],
                lx + 30.0,
                y + 4.0,
                esc(name)
            );
            continue;
        }
        let _ = write!(
            svg,
            "<line x1=\"{lx}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"3\"{}/><text x=\"{}\" y=\"{}\">{}</text>",
            lx + 24.0,
            COLORS[i % 2],
            DASHES[i % 2],
            lx + 30.0,
            y + 4.0,
            esc(name)
        );
    }
}

/// One line per partner of a check-in field over the period.
#[allow(clippy::too_many_arguments)]
fn line_chart(
    title: &str,
    desc: &str,
    members: &Members,
    entries: &[&EntryRecord],
    field: &str,
    (lo, hi): (i64, i64),
    period: &Period,
    labels: &[&str],
) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 260.0, 110.0, 20.0, 40.0, 50.0);
    // Points sit at the time each check-in was written, which may precede the period (it
    // counts from when it was shared): the axis then starts at the earliest.
    let start = entries
        .iter()
        .filter(|e| e.kind == "check_in")
        .map(|e| e.created_at)
        .fold(period.from, i64::min);
    let span = (period.to - start).max(1) as f64;
    let x = |t: i64| left + (t - start) as f64 / span * (w - left - right);
    let y = |v: i64| top + (hi - v) as f64 / (hi - lo) as f64 * (h - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"t-{field} d-{field}\" class=\"chart\">\
         <title id=\"t-{field}\">{}</title><desc id=\"d-{field}\">{}</desc>\
         <text x=\"{left}\" y=\"20\" class=\"chart-title\">{}</text>",
        esc(title),
        esc(desc),
        esc(title)
    );
    for (i, v) in (lo..=hi).enumerate() {
        let _ = write!(
            svg,
            "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#d0d4da\"/><text x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{4}</text>",
            y(v),
            w - right,
            left - 8.0,
            y(v) + 4.0,
            esc(labels.get(i).copied().unwrap_or_default())
        );
    }
    let mut points_total = 0;
    for (i, (id, _)) in members.iter().enumerate() {
        let pts: Vec<(f64, f64)> = entries
            .iter()
            .filter(|e| e.kind == "check_in" && e.author_id == *id)
            .filter_map(|e| body(e)[field].as_i64().map(|v| (x(e.created_at), y(v))))
            .collect();
        points_total += pts.len();
        if pts.len() > 1 {
            let path: Vec<String> = pts.iter().map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
            let _ = write!(
                svg,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\"{} points=\"{}\"/>",
                COLORS[i % 2],
                DASHES[i % 2],
                path.join(" ")
            );
        }
        for (px, py) in &pts {
            let _ = write!(
                svg,
                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"{}\"/>",
                COLORS[i % 2]
            );
        }
    }
    if points_total == 0 {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">No check-ins shared for this period</text>",
            w / 2.0,
            h / 2.0
        );
    }
    legend(&mut svg, members, left, h - 15.0, false);
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars per category, one bar per partner.
fn bar_chart(
    title: &str,
    members: &Members,
    partners: &[Value],
    pick: impl Fn(&Value) -> Value,
    categories: &[&str],
) -> String {
    let values: Vec<BTreeMap<String, i64>> = partners
        .iter()
        .map(|p| {
            pick(&p["figures"])
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0))).collect())
                .unwrap_or_default()
        })
        .collect();
    let shown: Vec<&str> = categories
        .iter()
        .copied()
        .filter(|c| values.iter().any(|v| v.get(*c).copied().unwrap_or(0) > 0))
        .collect();
    let max = values
        .iter()
        .flat_map(|v| v.values())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (w, left, right, row) = (640.0, 150.0, 40.0, 14.0);
    let group = row * members.len().max(1) as f64 + 10.0;
    let h = 40.0 + group * shown.len().max(1) as f64 + 40.0;
    let slug: String = title.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"t-{slug}\" class=\"chart\">\
         <title id=\"t-{slug}\">{}</title><text x=\"{left}\" y=\"20\" class=\"chart-title\">{}</text>",
        esc(title),
        esc(title)
    );
    if shown.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">Nothing shared for this period</text>",
            w / 2.0,
            50.0
        );
    }
    for (gi, cat) in shown.iter().enumerate() {
        let gy = 36.0 + gi as f64 * group;
        let label = cat.replace('_', " ");
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            gy + group / 2.0,
            esc(&label)
        );
        for (pi, v) in values.iter().enumerate() {
            let n = v.get(*cat).copied().unwrap_or(0);
            let bw = n as f64 / max * (w - left - right);
            let by = gy + pi as f64 * row;
            let _ = write!(
                svg,
                "<rect x=\"{left}\" y=\"{by}\" width=\"{bw:.1}\" height=\"{}\" fill=\"{}\"><title>{}: {n}</title></rect>\
                 <text x=\"{}\" y=\"{}\" class=\"bar-value\">{n}</text>",
                row - 3.0,
                COLORS[pi % 2],
                esc(&members.get(pi).map(|m| m.1.clone()).unwrap_or_default()),
                left + bw + 4.0,
                by + row - 4.0
            );
        }
    }
    legend(&mut svg, members, left, h - 15.0, true);
    svg.push_str("</svg>");
    svg
}

/// The summary's entries as CSV, one row per entry, with every field in its own column.
pub fn csv(summary: &Value) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "entry_id",
        "kind",
        "author",
        "created_at",
        "shared_with_therapist_at",
        "reply_to",
        "mood",
        "emotions",
        "closeness",
        "felt_appreciated",
        "ready_to_talk",
        "text",
        "shown_by",
        "options",
        "by_when",
        "how_hard",
        "would_help",
        "intimacy",
        "outcome",
        "choice",
        "note",
    ])?;
    for e in summary["entries"].as_array().into_iter().flatten() {
        let b = &e["body"];
        let s = |v: &Value| match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        let text = [&b["text"], &b["about"], &b["what_happened"], &b["step"]]
            .into_iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Null);
        out.write_record([
            s(&e["id"]),
            s(&e["kind"]),
            s(&e["author"]["display_name"]),
            s(&e["created_at"]),
            s(&e["shared_at"]),
            s(&e["reply_to"]),
            s(&b["mood"]),
            s(&b["emotions"]),
            s(&b["closeness"]),
            s(&b["felt_appreciated"]),
            s(&b["ready_to_talk"]),
            s(&text),
            s(&b["shown_by"]),
            s(&b["options"]),
            s(&b["by_when"]),
            s(&b["how_hard"]),
            s(&b["would_help"]),
            s(&b["intimacy"]),
            s(&b["outcome"]),
            s(&b["choice"]),
            s(&b["note"]),
        ])?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

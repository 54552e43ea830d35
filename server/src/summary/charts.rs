//! The summary's charts, as SVG markup: a line per partner over the period for check-in
//! scales, and bars per partner for counted categories.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::model::{Entry, Members, Period};
use crate::entry::{Body, CheckIn, Emotion, Intimacy};

/// Every chart of the summary, from its entries and each partner's figures (`partners`,
/// as in the summary: `{ "figures": … }` per member, in the members' order).
pub(crate) fn charts(members: &Members, entries: &[Entry], partners: &[Value], period: &Period) -> Value {
    json!({
        "mood": line_chart("Mood over time", "1 = low, 5 = high", members, entries, "mood", |c| c.mood, (1, 5), period, &["1", "2", "3", "4", "5"]),
        "closeness": line_chart(
            "Closeness over time", "below the line: would like more closeness; above: needs more space",
            members, entries, "closeness", |c| c.closeness, (-2, 2), period,
            &["more closeness", "", "just right", "", "more space"],
        ),
        "emotions": bar_chart("Emotions named", members, partners, |f| f["emotions"].clone(), Emotion::ALL),
        "appreciation": bar_chart("Appreciation said and felt", members, partners, |f| json!({
            "said (entries)": f["appreciation"]["given"],
            "felt: yes": f["appreciation"]["felt"]["yes"],
            "felt: somewhat": f["appreciation"]["felt"]["somewhat"],
            "felt: not really": f["appreciation"]["felt"]["not_really"],
        }), &["said (entries)", "felt: yes", "felt: somewhat", "felt: not really"]),
        "small_steps": bar_chart("Small steps by kind of intimacy", members, partners, |f| f["small_steps"]["by_intimacy"].clone(), Intimacy::ALL),
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

/// One line per partner of a check-in field (`value`, named `field`) over the period.
#[allow(clippy::too_many_arguments)]
fn line_chart(
    title: &str,
    desc: &str,
    members: &Members,
    entries: &[Entry],
    field: &str,
    value: fn(&CheckIn) -> i64,
    (lo, hi): (i64, i64),
    period: &Period,
    labels: &[&str],
) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 260.0, 110.0, 20.0, 40.0, 50.0);
    // Points sit at the time each check-in was written, which may precede the period (it
    // counts from when it was shared): the axis then starts at the earliest.
    let start = entries
        .iter()
        .filter(|e| e.record.kind == "check_in")
        .map(|e| e.record.created_at)
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
            .filter(|e| e.record.author_id == *id)
            .filter_map(|e| match &e.body {
                Some(Body::CheckIn(c)) => Some((x(e.record.created_at), y(value(c)))),
                _ => None,
            })
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

//! The therapist summary: figures, charts and exports built only from entries shared
//! with scope `therapist` that its reader may see (`consent::in_summary`), for a chosen
//! period.
//!
//! This module selects the entries and assembles the summary; `model` holds the shared
//! types, `figures` the counts and averages, `charts` the SVG and `exports` the entry
//! views, lists and CSV.

mod charts;
mod exports;
mod figures;
mod model;

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::consent;
use crate::store::EntryRecord;
use crate::time::rfc3339;

pub use exports::csv;
pub(crate) use exports::therapist_view;
pub use model::{Members, Period};

/// The entries a summary of `period` counts for its reader: of the couple's entries
/// (`all`) those `consent::in_summary` lets them see, each entry (not a reply) shared with
/// the therapist during the period, with the replies to it (a reply counts in the period
/// of the entry it answers, whenever it was shared itself).
pub(crate) fn select<'a>(
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
    // Each body is read into its type once; the figures, charts and lists work from those.
    let entries: Vec<model::Entry> = select(all, viewer, reader_is_therapist, period)
        .into_iter()
        .map(model::Entry::read)
        .collect();
    let partners: Vec<Value> = members
        .iter()
        .map(|(id, name)| json!({ "id": id, "display_name": name, "figures": figures::figures(&entries, Some(id)) }))
        .collect();
    let couple = figures::figures(&entries, None);
    let charts = charts::charts(members, &entries, &partners, period);
    json!({
        "couple_id": couple_id,
        "period": { "from": rfc3339(period.from), "to": rfc3339(period.to), "label": period.label },
        "generated_at": rfc3339(now),
        "partners": partners,
        "couple": couple,
        "requests": exports::list_of(&entries, "request"),
        "setbacks": exports::list_of(&entries, "setback"),
        "small_steps": exports::list_of(&entries, "small_step"),
        "entries": entries.iter().map(|e| therapist_view(e.record)).collect::<Vec<_>>(),
        "charts": charts,
    })
}

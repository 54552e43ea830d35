//! Who may see an entry, and exactly what they see: the one place that decides it, for
//! every observer.
//!
//! - `access`: the writer and the other partner (while shared with scope `partner`).
//!   Every entry route, listing, export and stream position asks it before rendering,
//!   even where its SQL already filtered; the stream numbers a change for a user only if
//!   it passes (`store::delivery`), so what a user may not see never moves their cursor.
//! - `in_summary_for` / `in_summary`: the couple's therapist (entries shared with scope
//!   `therapist`) and each partner's view of the same summary (minus what that partner
//!   may not see). The summary, its exports, the therapist's couple list and the
//!   therapist's `summary` events all ask these.
//! - Anyone else (another couple, a stranger, an anonymous caller) sees nothing: every
//!   check above names the entry's couple.

use serde_json::{json, Value};

use crate::records::EntryRecord;
use crate::time::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The writer: sees everything, including consent state.
    Writer,
    /// The other partner of the entry's couple, while the entry is shared with them.
    Partner,
}

/// How `viewer` may see `entry`, if at all.
pub fn access(entry: &EntryRecord, viewer: &str) -> Option<Access> {
    if entry.author_id == viewer {
        return Some(Access::Writer);
    }
    let member = entry.partner_a.as_deref() == Some(viewer) || entry.partner_b.as_deref() == Some(viewer);
    (member && entry.shared_partner_at.is_some()).then_some(Access::Partner)
}

/// The other member of the entry's couple, as seen from its writer.
pub fn partner_of(entry: &EntryRecord) -> Option<&str> {
    match (entry.partner_a.as_deref(), entry.partner_b.as_deref()) {
        (Some(a), b) if a == entry.author_id => b,
        (Some(a), Some(b)) if b == entry.author_id => Some(a),
        _ => None,
    }
}

fn body(entry: &EntryRecord) -> Value {
    serde_json::from_str(&entry.body).unwrap_or(Value::Null)
}

/// What the partner receives: the entry without its consent details.
pub fn partner_view(entry: &EntryRecord, shared_at: i64) -> Value {
    json!({
        "id": entry.id,
        "kind": entry.kind,
        "body": body(entry),
        "author": { "id": entry.author_id, "display_name": entry.author_name },
        "mine": false,
        "reply_to": entry.reply_to,
        "created_at": rfc3339(entry.created_at),
        "updated_at": rfc3339(entry.updated_at),
        "shared_at": rfc3339(shared_at),
    })
}

/// What the writer sees: the entry and where it is shared.
pub fn writer_view(entry: &EntryRecord) -> Value {
    json!({
        "id": entry.id,
        "kind": entry.kind,
        "body": body(entry),
        "author": { "id": entry.author_id, "display_name": entry.author_name },
        "mine": true,
        "reply_to": entry.reply_to,
        "created_at": rfc3339(entry.created_at),
        "updated_at": rfc3339(entry.updated_at),
        "consent": {
            "partner": entry.shared_partner_at.map(rfc3339),
            "therapist": entry.shared_therapist_at.map(rfc3339),
        },
    })
}

/// The entry as `viewer` may see it, or `None`.
pub fn view_for(entry: &EntryRecord, viewer: &str) -> Option<Value> {
    match access(entry, viewer)? {
        Access::Writer => Some(writer_view(entry)),
        Access::Partner => Some(partner_view(entry, entry.shared_partner_at.unwrap_or(entry.created_at))),
    }
}

/// Whether the couple's therapist may see `entry` in the summary: it is shared with scope
/// `therapist` (the summary also leaves out a reply whose answered entry it leaves out:
/// `in_summary`).
pub fn therapist_may_see(entry: &EntryRecord) -> bool {
    entry.shared_therapist_at.is_some()
}

/// Whether `entry` may appear in the couple's summary as `viewer` reads it. The therapist
/// reads every entry shared with them; a partner reads the therapist's summary minus what
/// that partner may not see: their own entries shared with the therapist, and the other's
/// shared with both the therapist and them. So nothing one partner keeps for the therapist
/// alone changes anything the other receives.
pub fn in_summary_for(entry: &EntryRecord, viewer: &str, reader_is_therapist: bool) -> bool {
    therapist_may_see(entry) && (reader_is_therapist || access(entry, viewer).is_some())
}

/// The entries of a couple (`entries`, all of one couple) that its summary may count for
/// `viewer`: each one `in_summary_for` them, a reply only together with the entry it
/// answers.
pub fn in_summary<'a>(entries: &'a [EntryRecord], viewer: &str, reader_is_therapist: bool) -> Vec<&'a EntryRecord> {
    let readable = |e: &&EntryRecord| in_summary_for(e, viewer, reader_is_therapist);
    let roots: std::collections::HashSet<&str> = entries
        .iter()
        .filter(readable)
        .filter(|e| e.kind != "reply")
        .map(|e| e.id.as_str())
        .collect();
    entries
        .iter()
        .filter(readable)
        .filter(|e| e.kind != "reply" || e.reply_to.as_deref().is_some_and(|t| roots.contains(t)))
        .collect()
}

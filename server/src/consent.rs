//! Who may see an entry, and exactly what they see.
//!
//! This is the one place that decides visibility; every route, event and listing goes
//! through `access` before rendering, even where its SQL already filtered.

use serde_json::{json, Value};

use crate::store::EntryRecord;
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

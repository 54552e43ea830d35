//! The summary's shared types: the period it covers, the couple's members, and an entry
//! with its stored body read back once into the typed body of its kind.

use serde_json::Value;

use crate::entry::Body;
use crate::store::EntryRecord;

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

/// An entry the summary counts: its record, and its body typed (`None` if the stored body
/// no longer has its kind's shape, which only a reply cut from the entry it answered can
/// have, and such a reply is never in a summary: `consent::in_summary`).
pub(crate) struct Entry<'a> {
    pub record: &'a EntryRecord,
    pub body: Option<Body>,
}

impl<'a> Entry<'a> {
    pub fn read(record: &'a EntryRecord) -> Self {
        let body = Body::from_stored(&record.kind, &record.body).ok();
        Entry { record, body }
    }

    /// The body as shown to readers: the stored JSON as it is, as `consent`'s views show it.
    pub fn body_json(&self) -> Value {
        body_json(self.record)
    }
}

/// The stored body as JSON (null if it is not JSON at all).
pub(crate) fn body_json(e: &EntryRecord) -> Value {
    serde_json::from_str(&e.body).unwrap_or(Value::Null)
}

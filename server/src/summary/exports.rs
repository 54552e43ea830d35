//! The summary's exports: each entry as the therapist sees it, the requests, setbacks and
//! small steps listed with their replies (for the JSON summary), and the CSV of its entries.

use serde_json::{json, Value};

use super::model::{body_json, Entry};
use crate::entry::{Body, Choice, Request, Support};
use crate::store::EntryRecord;
use crate::time::rfc3339;

/// An entry as the therapist sees it: no consent details beyond when it was shared with them.
pub(crate) fn therapist_view(e: &EntryRecord) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "body": body_json(e),
        "author": { "id": e.author_id, "display_name": e.author_name },
        "reply_to": e.reply_to,
        "created_at": rfc3339(e.created_at),
        "shared_at": e.shared_therapist_at.map(rfc3339),
    })
}

/// The summary's entries of `kind`, each with the replies to it.
pub(crate) fn list_of(entries: &[Entry], kind: &str) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e.record.kind == kind)
        .map(|e| {
            let r = e.record;
            json!({ "id": r.id, "by": r.author_name, "at": rfc3339(r.created_at), "body": e.body_json(), "replies": answers_of(entries, e) })
        })
        .collect()
}

/// The replies to `parent` among `entries`, each with its choice in words.
fn answers_of(entries: &[Entry], parent: &Entry) -> Vec<Value> {
    let request = match &parent.body {
        Some(Body::Request(q)) => Some(q),
        _ => None,
    };
    entries
        .iter()
        .filter(|r| r.record.reply_to.as_deref() == Some(parent.record.id.as_str()))
        .map(|r| {
            let reply = match &r.body {
                Some(Body::Reply(reply)) => Some(reply),
                _ => None,
            };
            let (r, choice) = (r.record, reply.and_then(|reply| reply.choice));
            json!({
                "id": r.id, "by": r.author_name, "at": rfc3339(r.created_at),
                "choice": choice_label(choice, request), "note": reply.and_then(|reply| reply.note.as_deref()),
            })
        })
        .collect()
}

fn choice_label(choice: Option<Choice>, request: Option<&Request>) -> Option<String> {
    match choice? {
        Choice::NoneOfThese => Some("None of these, let's talk".into()),
        Choice::Option(i) => {
            // An index that is no option of the request (which validation never lets
            // through) shows as "?", as a negative one shows as nothing.
            let i = usize::try_from(i).ok()?;
            let text = request.and_then(|q| q.options.get(i)).map_or("?", String::as_str);
            Some(text.to_string())
        }
        Choice::Support(s) => Some(support_label(s).to_string()),
    }
}

fn support_label(s: Support) -> &'static str {
    match s {
        Support::ThankYouForTellingMe => "Thank you for telling me",
        Support::ImHereWhenReady => "I'm here when you're ready",
        Support::TakeTheTimeYouNeed => "Take the time you need",
    }
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

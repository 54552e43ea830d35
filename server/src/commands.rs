//! The entry writes, shared by the HTTP routes and the websocket.
//!
//! Every write carries a client-chosen `request_id`; the store applies it at most once,
//! so a retry after a lost reply changes nothing and answers with the entry as it is now,
//! marked `replayed`.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entry::{Body, Kind, Outcome};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::store::{Scope, Store, User, WriteOp, WriteRequest};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEntry {
    pub request_id: String,
    pub kind: Kind,
    pub body: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeConsent {
    pub request_id: String,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetOutcome {
    pub request_id: String,
    pub outcome: Outcome,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteEntry {
    pub request_id: String,
}

#[derive(Debug)]
pub enum Command {
    Create(CreateEntry),
    Share(String, ChangeConsent),
    Withdraw(String, ChangeConsent),
    SetOutcome(String, SetOutcome),
    Delete(String, DeleteEntry),
}

/// What a write answers: the writer's view of the entry (absent once deleted).
#[derive(Debug)]
pub struct Ack {
    pub entry_id: String,
    pub entry: Option<Value>,
    pub replayed: bool,
}

fn request_id(raw: &str) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > 100 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "request_id",
            "must be 1 to 100 printable ASCII characters (a UUID is ideal)",
        ));
    }
    Ok(raw.to_string())
}

/// An entry id from a path or message; malformed ids are simply not found.
pub fn entry_id(raw: &str) -> Result<String, ApiError> {
    Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound("entry"))
}

fn scopes(list: &[Scope]) -> Result<Vec<Scope>, ApiError> {
    if list.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "name at least one scope: \"partner\" or \"therapist\"",
        ));
    }
    let mut out = list.to_vec();
    out.sort_by_key(|s| *s as u8);
    out.dedup();
    Ok(out)
}

fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A command checked and turned into the write the store applies (without its writer and
/// time, which the caller adds).
struct Parsed {
    request_id: String,
    /// What the request asks for, so a request id reused for something else is refused.
    fingerprint: String,
    op: WriteOp,
}

/// A share or withdrawal: `op` builds the write from the entry id and the scopes.
fn consent_change(
    action: &str,
    id: &str,
    c: &ChangeConsent,
    op: fn(String, Vec<Scope>) -> WriteOp,
) -> Result<Parsed, ApiError> {
    let request_id = request_id(&c.request_id)?;
    let entry_id = entry_id(id)?;
    let scopes = scopes(&c.scopes)?;
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let fingerprint = fingerprint(&[action, &entry_id, &names.join(",")]);
    Ok(Parsed {
        request_id,
        fingerprint,
        op: op(entry_id, scopes),
    })
}

fn parse(cmd: Command) -> Result<Parsed, ApiError> {
    Ok(match cmd {
        Command::Create(c) => {
            let request_id = request_id(&c.request_id)?;
            let body = Body::parse(c.kind, c.body)?;
            let json = body.to_json().to_string();
            Parsed {
                request_id,
                fingerprint: fingerprint(&["create", c.kind.as_str(), &json]),
                op: WriteOp::Create {
                    id: Uuid::now_v7().to_string(),
                    kind: c.kind.as_str(),
                    body: json,
                    reply: match body {
                        Body::Reply(r) => Some(r),
                        _ => None,
                    },
                },
            }
        }
        Command::Share(id, c) => {
            consent_change("share", &id, &c, |entry_id, scopes| WriteOp::Share { entry_id, scopes })?
        }
        Command::Withdraw(id, c) => consent_change("withdraw", &id, &c, |entry_id, scopes| WriteOp::Withdraw {
            entry_id,
            scopes,
        })?,
        Command::SetOutcome(id, c) => {
            let request_id = request_id(&c.request_id)?;
            let entry_id = entry_id(&id)?;
            Parsed {
                request_id,
                fingerprint: fingerprint(&["outcome", &entry_id, c.outcome.as_str()]),
                op: WriteOp::SetOutcome {
                    entry_id,
                    outcome: c.outcome,
                },
            }
        }
        Command::Delete(id, c) => {
            let request_id = request_id(&c.request_id)?;
            let entry_id = entry_id(&id)?;
            Parsed {
                request_id,
                fingerprint: fingerprint(&["delete", &entry_id]),
                op: WriteOp::Delete { entry_id },
            }
        }
    })
}

/// Validates and applies one write, then hands its events to the streams it touched.
pub async fn execute(store: &dyn Store, hub: &Hub, user: &User, cmd: Command) -> Result<Ack, ApiError> {
    if user.role != "partner" {
        return Err(ApiError::Forbidden("only partners write entries"));
    }
    let Parsed {
        request_id,
        fingerprint,
        op,
    } = parse(cmd)?;
    let req = WriteRequest {
        user_id: user.id.clone(),
        request_id,
        fingerprint,
        op,
        now: crate::time::now_ms(),
    };
    let result = store.write(&req).await?;
    hub.publish(&result.events);
    Ok(Ack {
        entry: result
            .entry
            .as_ref()
            .and_then(|e| crate::consent::view_for(e, &user.id)),
        entry_id: result.entry_id,
        replayed: result.replayed,
    })
}

//! JSON views of users and couples, shared by the HTTP routes and the event stream.

use serde_json::{json, Value};

use crate::store::{CoupleInfo, User};
use crate::time::rfc3339;

pub(crate) fn user_json(user: &User) -> Value {
    json!({ "id": user.id, "email": user.email, "display_name": user.display_name, "role": user.role })
}

/// A user's couple as `viewer` sees it (`null` when not in one).
pub(crate) fn couple_json(info: Option<&CoupleInfo>, viewer: &str) -> Value {
    let Some(info) = info else { return Value::Null };
    let therapist = info.therapist.as_ref().map(|l| {
        let mine_is_a = info.couple.partner_a == viewer;
        let (me, other) = if mine_is_a {
            (l.approved_a_at, l.approved_b_at)
        } else {
            (l.approved_b_at, l.approved_a_at)
        };
        json!({
            "id": l.therapist_id,
            "display_name": l.therapist_name,
            "status": if l.active_at.is_some() { "active" } else { "proposed" },
            "approved_by_me": me.is_some(),
            "approved_by_partner": other.is_some(),
            "active_since": l.active_at.map(rfc3339),
        })
    });
    json!({
        "therapist": therapist,
        "id": info.couple.id,
        "status": if info.couple.partner_b.is_some() { "paired" } else { "waiting" },
        "partner": info.partner.as_ref().map(|(id, name)| json!({ "id": id, "display_name": name })),
        "created_at": rfc3339(info.couple.created_at),
        "paired_at": info.couple.paired_at.map(rfc3339),
    })
}

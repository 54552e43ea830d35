//! The records the store reads and writes: users, sessions, couples, entries, therapist
//! links and the logs. Plain data, no rules: the rules over them live in `consent`, the
//! domain modules and `store::write`; the store re-exports these for its callers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    #[serde(skip)]
    pub created_at: i64,
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub password_hash: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CoupleRow {
    pub id: String,
    pub partner_a: String,
    pub partner_b: Option<String>,
    pub created_at: i64,
    pub paired_at: Option<i64>,
    pub ended_at: Option<i64>,
}

/// A user's current couple, with the other partner's public name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoupleInfo {
    pub couple: CoupleRow,
    pub partner: Option<(String, String)>,
    /// The couple's therapist link, proposed or active.
    pub therapist: Option<TherapistLink>,
}

/// An entry as stored, with its writer's name and its couple's members (for consent checks).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize, Deserialize)]
pub struct EntryRecord {
    pub id: String,
    pub couple_id: Option<String>,
    pub author_id: String,
    pub author_name: String,
    pub kind: String,
    pub body: String,
    pub reply_to: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub shared_partner_at: Option<i64>,
    pub shared_therapist_at: Option<i64>,
    pub partner_a: Option<String>,
    pub partner_b: Option<String>,
}

/// A therapist's access to a couple.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TherapistLink {
    pub id: String,
    pub couple_id: String,
    pub therapist_id: String,
    pub therapist_name: String,
    pub proposed_by: String,
    pub approved_a_at: Option<i64>,
    pub approved_b_at: Option<i64>,
    pub created_at: i64,
    pub active_at: Option<i64>,
}

/// One couple in a therapist's list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TherapistCouple {
    pub couple_id: String,
    pub partner_a_name: String,
    pub partner_b_name: String,
    pub active_at: i64,
    pub last_shared_at: Option<i64>,
}

/// A row of the summary's view log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SummaryView {
    pub viewer_name: String,
    pub action: String,
    pub period_from: i64,
    pub period_to: i64,
    pub viewed_at: i64,
}

/// One recorded read of shared material.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessRow {
    pub what: String,
    pub couple_id: Option<String>,
    pub entry_id: Option<String>,
    pub at: i64,
}

/// One grant or withdrawal of consent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub entry_id: String,
    pub scope: String,
    pub action: String,
    pub at: i64,
}

/// What deleting an account touched.
#[derive(Debug, Clone, Default)]
pub struct DeletedAccount {
    /// Users whose streams got events (the ex-partner, the therapist).
    pub notify: Vec<String>,
    /// Token hashes of the sessions that ended.
    pub sessions: Vec<String>,
}

/// A consent scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Partner,
    Therapist,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Partner => "partner",
            Scope::Therapist => "therapist",
        }
    }
}

//! The contract every backend keeps: the `Store` trait and the types it speaks besides
//! the records (`crate::records`). Backends implement it; the rest of the crate calls it.

use async_trait::async_trait;

use crate::error::ApiError;
use crate::records::{
    AccessRow, ConsentRow, CoupleInfo, CoupleRow, DeletedAccount, EntryRecord, NewUser, Scope, Session, SummaryView,
    TherapistCouple, TherapistLink, User,
};

pub type Result<T> = std::result::Result<T, ApiError>;

/// Channel on which a backend shared by several instances announces users with new events.
pub const EVENTS_CHANNEL: &str = "tandem_events";
/// Channel on which it announces ended sessions (their sockets close everywhere).
pub const SESSIONS_CHANNEL: &str = "tandem_sessions";

/// What other instances changed, for this instance's open connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// This user has new events.
    Events(String),
    /// This session (token hash) ended.
    SessionEnded(String),
    /// Signals may have been missed (the listening connection dropped): re-read everything.
    Resync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An entry appeared or changed for this user (or stopped being visible).
    Entry,
    /// The user's couple changed (paired, unpaired, therapist proposed or approved).
    Couple,
    /// For a therapist: what a couple shares with them changed (the subject is the couple).
    Summary,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Entry => "entry",
            EventKind::Couple => "couple",
            EventKind::Summary => "summary",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "couple" => EventKind::Couple,
            "summary" => EventKind::Summary,
            _ => EventKind::Entry,
        }
    }
}

/// A state change on entries, applied at most once per (user, request id).
#[derive(Debug, Clone)]
pub enum WriteOp {
    Create {
        id: String,
        kind: &'static str,
        body: String,
        reply: Option<crate::entry::Reply>,
    },
    Share {
        entry_id: String,
        scopes: Vec<Scope>,
    },
    Withdraw {
        entry_id: String,
        scopes: Vec<Scope>,
    },
    SetOutcome {
        entry_id: String,
        outcome: crate::entry::Outcome,
    },
    Delete {
        entry_id: String,
    },
}

impl WriteOp {
    /// The existing entry the operation changes, if any.
    pub fn entry_id(&self) -> Option<&str> {
        match self {
            WriteOp::Create { .. } => None,
            WriteOp::Share { entry_id, .. }
            | WriteOp::Withdraw { entry_id, .. }
            | WriteOp::SetOutcome { entry_id, .. }
            | WriteOp::Delete { entry_id } => Some(entry_id),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub user_id: String,
    pub request_id: String,
    /// A digest of the operation, so a request id reused for something else is refused.
    pub fingerprint: String,
    pub op: WriteOp,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct WriteResult {
    pub entry_id: String,
    /// The entry after the write; `None` once deleted.
    pub entry: Option<EntryRecord>,
    /// True when this request id had already been applied: nothing changed now.
    pub replayed: bool,
    /// The changes the write recorded, for live delivery.
    pub events: Vec<Published>,
}

/// A change a committed transaction recorded for a user: their open connections wake up
/// and number it (see `delivery`).
#[derive(Debug, Clone)]
pub struct Published {
    pub user: String,
}

impl Published {
    /// The users these events went to, each once.
    pub fn users(events: &[Published]) -> Vec<String> {
        let mut users: Vec<String> = events.iter().map(|p| p.user.clone()).collect();
        users.sort();
        users.dedup();
        users
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `conflict/email_taken` when the email is registered already.
    async fn create_user(&self, user: NewUser<'_>) -> Result<User>;
    /// The user and their password hash.
    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;

    async fn create_session(&self, token_hash: &str, user_id: &str, now: i64, expires_at: i64) -> Result<()>;
    /// The session's user, if the session exists, is not past `expires_at` and was seen
    /// after `idle_after`; refreshes `last_seen_at` when it is older than a minute.
    async fn session_user(&self, token_hash: &str, now: i64, idle_after: i64) -> Result<Option<(User, Session)>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Ends every session of the user but `keep`; returns the ended token hashes.
    async fn end_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<Vec<String>>;
    async fn password_hash(&self, user_id: &str) -> Result<Option<String>>;
    async fn set_password(&self, user_id: &str, password_hash: &str) -> Result<()>;
    /// Deletes the user's entries (gone for partner and therapist at once), ends their
    /// couple and sessions, and anonymizes the account row.
    async fn delete_account(&self, user_id: &str, now: i64) -> Result<DeletedAccount>;

    /// Records a read of shared material (never its content).
    async fn log_access(
        &self,
        reader: &User,
        couple_id: Option<&str>,
        what: &str,
        entry_id: Option<&str>,
        now: i64,
    ) -> Result<()>;
    /// The reader's own access rows, newest first.
    async fn access_log_of(&self, reader_id: &str) -> Result<Vec<AccessRow>>;
    /// Every consent grant and withdrawal on the author's entries, oldest first.
    async fn consent_history(&self, author_id: &str) -> Result<Vec<ConsentRow>>;

    async fn couple_of(&self, user_id: &str) -> Result<Option<CoupleInfo>>;
    /// Starts a couple (or reuses the user's pending one) and stores a fresh invite,
    /// replacing earlier unused ones.
    async fn create_invite(
        &self,
        user_id: &str,
        couple_id: &str,
        code_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<CoupleRow>;
    /// Joins the couple behind an unused, unexpired invite; returns both partners' ids.
    async fn join_couple(&self, user_id: &str, code_hash: &str, now: i64) -> Result<CoupleRow>;
    /// Ends the user's couple (paired or pending); returns the users to notify.
    async fn unpair(&self, user_id: &str, now: i64) -> Result<Vec<String>>;

    /// Applies an entry write and its events in one transaction, once per request id.
    async fn write(&self, req: &WriteRequest) -> Result<WriteResult>;
    async fn entry(&self, id: &str) -> Result<Option<EntryRecord>>;
    /// Entries the viewer wrote or that are shared with them, newest first, strictly
    /// before the (created_at, id) cursor.
    async fn entries_visible_to(&self, viewer: &str, before: (i64, &str), limit: i64) -> Result<Vec<EntryRecord>>;

    /// The couple's current (not revoked) therapist link, pending or active.
    async fn therapist_link(&self, couple_id: &str) -> Result<Option<TherapistLink>>;
    /// A partner proposes a therapist by email; counts as the proposer's approval.
    async fn propose_therapist(&self, user_id: &str, email: &str, link_id: &str, now: i64) -> Result<Vec<String>>;
    /// The other partner approves; the link becomes active.
    async fn approve_therapist(&self, user_id: &str, now: i64) -> Result<Vec<String>>;
    /// Either partner ends the link (pending or active), effective at once.
    async fn revoke_therapist(&self, user_id: &str, now: i64) -> Result<Vec<String>>;
    /// Couples whose active link names this therapist (`last_shared_at` left `None`: the
    /// caller works it out with `consent::in_summary`).
    async fn therapist_couples(&self, therapist_id: &str) -> Result<Vec<TherapistCouple>>;
    /// The couple and both partners' (id, name).
    async fn couple_members(&self, couple_id: &str) -> Result<Option<(CoupleRow, Vec<(String, String)>)>>;
    /// Entries of the couple currently shared with scope `therapist`.
    async fn therapist_entries(&self, couple_id: &str) -> Result<Vec<EntryRecord>>;
    async fn record_summary_view(
        &self,
        couple_id: &str,
        viewer_id: &str,
        action: &str,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<()>;
    /// The log of the summary's views by therapists, newest first.
    async fn summary_views(&self, couple_id: &str) -> Result<Vec<SummaryView>>;
    /// Every couple the user was ever paired in, current and ended, oldest first: the
    /// couples whose view log they read (a couple that never paired has none).
    async fn couples_paired_in(&self, user_id: &str) -> Result<Vec<String>>;

    /// Changes made by other instances; `None` for a backend only one instance uses.
    async fn listen(&self) -> Result<Option<futures_util::stream::BoxStream<'static, Signal>>>;

    /// Gives the user's changes not yet numbered their positions in the user's stream (only
    /// those the user may see now; see `delivery`); returns the stream's head.
    async fn advance(&self, user_id: &str) -> Result<i64>;
    /// Remembers that a listing showed the user these entries of their partner's, so that
    /// their later withdrawal reaches the user's stream as `entry_removed` even if the
    /// share was never numbered there (it happened between a stream read and the listing).
    async fn mark_shown(&self, user_id: &str, entry_ids: &[&str]) -> Result<()>;
    /// Positions of the user's stream after `since`, oldest first, with entries as they are now.
    async fn stream_after(&self, user_id: &str, since: i64, limit: i64) -> Result<Vec<StreamEvent>>;
}

/// What a position of a stream says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// An entry appeared or changed (rendered as it is when read).
    Entry,
    /// An entry the user was shown is no longer theirs to see.
    EntryRemoved,
    /// The user's couple changed.
    Couple,
    /// For a therapist: what a couple's summary shows them changed (the subject is the couple).
    Summary,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Entry => "entry",
            StreamKind::EntryRemoved => "entry_removed",
            StreamKind::Couple => "couple",
            StreamKind::Summary => "summary",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "entry_removed" => StreamKind::EntryRemoved,
            "couple" => StreamKind::Couple,
            "summary" => StreamKind::Summary,
            _ => StreamKind::Entry,
        }
    }
}

/// One position of a user's stream, with its entry as it is now (entry positions only;
/// `None` once the entry is gone).
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub pos: i64,
    pub kind: StreamKind,
    pub subject: Option<String>,
    pub entry: Option<EntryRecord>,
}

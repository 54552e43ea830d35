//! The SQL both backends share. `impl_store!` stamps the `Store` implementation out for a
//! concrete backend type, which must provide `pool` and `begin_write()`: sqlx's generic
//! executor bounds make a single generic impl far harder to read than this.

/// A stream position with its entry's columns, all nullable (the entry may be gone).
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub pos: i64,
    pub ev_kind: String,
    pub ev_entry_id: Option<String>,
    pub id: Option<String>,
    pub couple_id: Option<String>,
    pub author_id: Option<String>,
    pub author_name: Option<String>,
    pub kind: Option<String>,
    pub body: Option<String>,
    pub reply_to: Option<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub shared_partner_at: Option<i64>,
    pub shared_therapist_at: Option<i64>,
    pub partner_a: Option<String>,
    pub partner_b: Option<String>,
}

impl EventRow {
    pub fn into_event(self) -> super::contract::StreamEvent {
        let kind = super::contract::StreamKind::parse(&self.ev_kind);
        let entry = match (self.id, self.author_id, self.author_name, self.kind, self.body) {
            (Some(id), Some(author_id), Some(author_name), Some(k), Some(body)) => Some(crate::records::EntryRecord {
                id,
                couple_id: self.couple_id,
                author_id,
                author_name,
                kind: k,
                body,
                reply_to: self.reply_to,
                created_at: self.created_at.unwrap_or_default(),
                updated_at: self.updated_at.unwrap_or_default(),
                shared_partner_at: self.shared_partner_at,
                shared_therapist_at: self.shared_therapist_at,
                partner_a: self.partner_a,
                partner_b: self.partner_b,
            }),
            _ => None,
        };
        super::contract::StreamEvent {
            pos: self.pos,
            kind,
            subject: self.ev_entry_id,
            entry,
        }
    }
}

/// A sqlx transaction seen as the statements of a write (`write::WriteTx`).
/// The second field names this instance in its announcements, so it can skip its own.
pub(crate) struct SqlxTx<'a, 'c, DB: sqlx::Database>(pub &'a mut sqlx::Transaction<'c, DB>, pub &'a str);

/// The store types `impl_store!` expands for, with their write-commit strategy.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The write statements on this sqlx transaction.
            fn w<'a, 'c>(&'a self, tx: &'a mut sqlx::Transaction<'c, $db>) -> $crate::store::sql::SqlxTx<'a, 'c, $db> {
                $crate::store::sql::SqlxTx(tx, self.origin())
            }

            async fn entry_in(tx: &mut sqlx::Transaction<'_, $db>, id: &str) -> $crate::store::contract::Result<Option<$crate::records::EntryRecord>> {
                Ok(sqlx::query_as($crate::store::write::ENTRY).bind(id).fetch_optional(&mut **tx).await?)
            }

            async fn current_couple_in(tx: &mut sqlx::Transaction<'_, $db>, user_id: &str) -> $crate::store::contract::Result<Option<$crate::records::CoupleRow>> {
                Ok(sqlx::query_as($crate::store::write::CURRENT_COUPLE).bind(user_id).fetch_optional(&mut **tx).await?)
            }

            async fn link_in(tx: &mut sqlx::Transaction<'_, $db>, couple_id: &str) -> $crate::store::contract::Result<Option<$crate::records::TherapistLink>> {
                Ok(sqlx::query_as($crate::store::couples::LINK).bind(couple_id).fetch_optional(&mut **tx).await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::write::WriteTx for $crate::store::sql::SqlxTx<'_, '_, $db> {
            async fn lock_writers(&mut self, user_id: &str, entry_id: Option<&str>) -> $crate::store::contract::Result<()> {
                if <$store>::ROW_LOCKS {
                    sqlx::query($crate::store::write::LOCK_WRITERS).bind(user_id).bind(entry_id).execute(&mut **self.0).await?;
                }
                Ok(())
            }

            async fn claim_request(&mut self, req: &$crate::store::contract::WriteRequest, entry_id: &str) -> $crate::store::contract::Result<bool> {
                let claimed = sqlx::query($crate::store::write::CLAIM_REQUEST)
                    .bind(&req.user_id)
                    .bind(&req.request_id)
                    .bind(&req.fingerprint)
                    .bind(entry_id)
                    .bind(req.now)
                    .execute(&mut **self.0)
                    .await?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn request(&mut self, user_id: &str, request_id: &str) -> $crate::store::contract::Result<(String, String)> {
                Ok(sqlx::query_as($crate::store::write::REQUEST).bind(user_id).bind(request_id).fetch_one(&mut **self.0).await?)
            }

            async fn entry(&mut self, id: &str) -> $crate::store::contract::Result<Option<$crate::records::EntryRecord>> {
                <$store>::entry_in(self.0, id).await
            }

            async fn current_couple(&mut self, user_id: &str) -> $crate::store::contract::Result<Option<$crate::records::CoupleRow>> {
                <$store>::current_couple_in(self.0, user_id).await
            }

            async fn ever_shared(&mut self, entry_id: &str) -> $crate::store::contract::Result<bool> {
                let row: Option<i32> = sqlx::query_scalar($crate::store::write::EVER_SHARED).bind(entry_id).fetch_optional(&mut **self.0).await?;
                Ok(row.is_some())
            }

            async fn insert_entry(&mut self, e: &$crate::store::write::NewEntry<'_>) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::write::INSERT_ENTRY)
                    .bind(e.id)
                    .bind(e.couple_id)
                    .bind(e.author_id)
                    .bind(e.kind)
                    .bind(e.body)
                    .bind(&e.reply_to)
                    .bind(e.now)
                    .bind(e.shared_partner_at)
                    .execute(&mut **self.0)
                    .await?;
                Ok(())
            }

            async fn share(&mut self, entry_id: &str, scope: $crate::records::Scope, now: i64, couple_id: &str) -> $crate::store::contract::Result<()> {
                let sql = match scope {
                    $crate::records::Scope::Partner => $crate::store::write::SHARE_PARTNER,
                    $crate::records::Scope::Therapist => $crate::store::write::SHARE_THERAPIST,
                };
                sqlx::query(sql).bind(now).bind(couple_id).bind(entry_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn withdraw(&mut self, entry_id: &str, scope: $crate::records::Scope) -> $crate::store::contract::Result<()> {
                let sql = match scope {
                    $crate::records::Scope::Partner => $crate::store::write::WITHDRAW_PARTNER,
                    $crate::records::Scope::Therapist => $crate::store::write::WITHDRAW_THERAPIST,
                };
                sqlx::query(sql).bind(entry_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn set_body(&mut self, entry_id: &str, body: &str, now: i64) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::write::SET_BODY).bind(body).bind(now).bind(entry_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn delete_entry(&mut self, entry_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::write::DELETE_CONSENT).bind(entry_id).execute(&mut **self.0).await?;
                sqlx::query($crate::store::write::DELETE_ENTRY).bind(entry_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn log_consent(&mut self, entry_id: &str, actor: &str, scope: $crate::records::Scope, action: &str, now: i64) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::write::LOG_CONSENT)
                    .bind(entry_id)
                    .bind(actor)
                    .bind(scope.as_str())
                    .bind(action)
                    .bind(now)
                    .execute(&mut **self.0)
                    .await?;
                Ok(())
            }

            async fn append_event(
                &mut self,
                user_id: &str,
                kind: $crate::store::contract::EventKind,
                subject: Option<&str>,
                now: i64,
            ) -> $crate::store::contract::Result<i64> {
                let seq: i64 = sqlx::query_scalar($crate::store::write::NEXT_SEQ).bind(user_id).fetch_one(&mut **self.0).await?;
                sqlx::query($crate::store::write::INSERT_EVENT)
                    .bind(user_id)
                    .bind(seq)
                    .bind(kind.as_str())
                    .bind(subject)
                    .bind(now)
                    .execute(&mut **self.0)
                    .await?;
                // Other instances learn of it at commit (a no-op on single-instance SQLite).
                <$store>::announce(self.0, $crate::store::contract::EVENTS_CHANNEL, &format!("{} {user_id}", self.1)).await?;
                Ok(seq)
            }

            async fn active_therapist(&mut self, couple_id: &str) -> $crate::store::contract::Result<Option<String>> {
                Ok(sqlx::query_scalar($crate::store::write::ACTIVE_THERAPIST).bind(couple_id).fetch_optional(&mut **self.0).await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::couples::CoupleTx for $crate::store::sql::SqlxTx<'_, '_, $db> {
            async fn insert_couple(&mut self, id: &str, partner_a: &str, now: i64) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::INSERT_COUPLE).bind(id).bind(partner_a).bind(now).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn set_users_couple(&mut self, couple_id: &str, user_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::SET_USERS_COUPLE).bind(couple_id).bind(user_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn delete_invites(&mut self, couple_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::DELETE_INVITES).bind(couple_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn insert_invite(&mut self, code_hash: &str, couple_id: &str, now: i64, expires_at: i64) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::INSERT_INVITE).bind(code_hash).bind(couple_id).bind(now).bind(expires_at).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn invite(&mut self, code_hash: &str) -> $crate::store::contract::Result<Option<(String, i64, Option<i64>)>> {
                Ok(sqlx::query_as($crate::store::couples::INVITE).bind(code_hash).fetch_optional(&mut **self.0).await?)
            }

            async fn couple(&mut self, id: &str) -> $crate::store::contract::Result<Option<$crate::records::CoupleRow>> {
                Ok(sqlx::query_as($crate::store::couples::COUPLE).bind(id).fetch_optional(&mut **self.0).await?)
            }

            async fn join(&mut self, user_id: &str, now: i64, couple_id: &str) -> $crate::store::contract::Result<bool> {
                let done = sqlx::query($crate::store::couples::JOIN).bind(user_id).bind(now).bind(couple_id).execute(&mut **self.0).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn use_invite(&mut self, now: i64, code_hash: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::USE_INVITE).bind(now).bind(code_hash).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn end_couple(&mut self, now: i64, couple_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::END_COUPLE).bind(now).bind(couple_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn leave_couple(&mut self, couple_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::LEAVE_COUPLE).bind(couple_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn revoke_links(&mut self, now: i64, by: &str, couple_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::REVOKE_LINKS).bind(now).bind(by).bind(couple_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn therapist_by_email(&mut self, email: &str) -> $crate::store::contract::Result<Option<String>> {
                Ok(sqlx::query_scalar($crate::store::couples::THERAPIST_BY_EMAIL).bind(email).fetch_optional(&mut **self.0).await?)
            }

            async fn insert_link(&mut self, l: &$crate::store::couples::NewLink<'_>) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::INSERT_LINK)
                    .bind(l.id)
                    .bind(l.couple_id)
                    .bind(l.therapist_id)
                    .bind(l.proposed_by)
                    .bind(l.approved_a_at)
                    .bind(l.approved_b_at)
                    .bind(l.now)
                    .execute(&mut **self.0)
                    .await?;
                Ok(())
            }

            async fn link(&mut self, couple_id: &str) -> $crate::store::contract::Result<Option<$crate::records::TherapistLink>> {
                <$store>::link_in(self.0, couple_id).await
            }

            async fn approve(&mut self, as_partner_a: bool, now: i64, link_id: &str) -> $crate::store::contract::Result<bool> {
                let sql = if as_partner_a { $crate::store::couples::APPROVE_AS_A } else { $crate::store::couples::APPROVE_AS_B };
                Ok(sqlx::query(sql).bind(now).bind(link_id).execute(&mut **self.0).await?.rows_affected() == 1)
            }

            async fn activate_link(&mut self, now: i64, link_id: &str) -> $crate::store::contract::Result<bool> {
                Ok(sqlx::query($crate::store::couples::ACTIVATE_LINK).bind(now).bind(link_id).execute(&mut **self.0).await?.rows_affected() == 1)
            }

            async fn revoke_link(&mut self, now: i64, by: &str, link_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::couples::REVOKE_LINK).bind(now).bind(by).bind(link_id).execute(&mut **self.0).await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::accounts::AccountTx for $crate::store::sql::SqlxTx<'_, '_, $db> {
            async fn entries_by(&mut self, user_id: &str) -> $crate::store::contract::Result<Vec<$crate::records::EntryRecord>> {
                Ok(sqlx::query_as($crate::store::accounts::ENTRIES_BY).bind(user_id).fetch_all(&mut **self.0).await?)
            }

            async fn delete_entries_of(&mut self, user_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::accounts::DELETE_CONSENT_LOG_OF).bind(user_id).execute(&mut **self.0).await?;
                sqlx::query($crate::store::accounts::DELETE_ENTRIES_OF).bind(user_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn replies_to(&mut self, user_id: &str) -> $crate::store::contract::Result<Vec<$crate::records::EntryRecord>> {
                Ok(sqlx::query_as($crate::store::accounts::REPLIES_TO).bind(user_id).fetch_all(&mut **self.0).await?)
            }

            async fn unlink_reply(&mut self, body: &str, now: i64, reply_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::accounts::UNLINK_REPLY).bind(body).bind(now).bind(reply_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn couples_of_therapist(&mut self, user_id: &str) -> $crate::store::contract::Result<Vec<(String, String, Option<String>)>> {
                Ok(sqlx::query_as($crate::store::accounts::COUPLES_OF_THERAPIST).bind(user_id).fetch_all(&mut **self.0).await?)
            }

            async fn revoke_links_of_therapist(&mut self, now: i64, user_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::accounts::REVOKE_LINKS_OF_THERAPIST).bind(now).bind(user_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn sessions_of(&mut self, user_id: &str) -> $crate::store::contract::Result<Vec<String>> {
                Ok(sqlx::query_scalar($crate::store::accounts::SESSIONS_OF).bind(user_id).fetch_all(&mut **self.0).await?)
            }

            async fn announce_session_end(&mut self, token_hash: &str) -> $crate::store::contract::Result<()> {
                <$store>::announce(self.0, $crate::store::contract::SESSIONS_CHANNEL, token_hash).await
            }

            async fn forget_user(&mut self, now: i64, user_id: &str) -> $crate::store::contract::Result<()> {
                for table in $crate::store::accounts::PER_USER_TABLES {
                    sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1")).bind(user_id).execute(&mut **self.0).await?;
                }
                sqlx::query($crate::store::accounts::DELETE_ACCESS_LOG_OF).bind(user_id).execute(&mut **self.0).await?;
                sqlx::query($crate::store::accounts::DELETE_SUMMARY_VIEWS_OF).bind(user_id).execute(&mut **self.0).await?;
                sqlx::query($crate::store::accounts::ANONYMISE_USER)
                    .bind(format!("deleted:{user_id}"))
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut **self.0)
                    .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::delivery::StreamTx for $crate::store::sql::SqlxTx<'_, '_, $db> {
            async fn stream_marks(&mut self, user_id: &str) -> $crate::store::contract::Result<Option<(i64, i64, i64)>> {
                let sql = if <$store>::ROW_LOCKS { $crate::store::delivery::STREAM_MARKS_LOCKED } else { $crate::store::delivery::STREAM_MARKS };
                Ok(sqlx::query_as(sql).bind(user_id).fetch_optional(&mut **self.0).await?)
            }

            async fn set_stream_marks(&mut self, read: i64, pos: i64, user_id: &str) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::delivery::SET_STREAM_MARKS).bind(read).bind(pos).bind(user_id).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn changes_after(&mut self, user_id: &str, after: i64, limit: i64) -> $crate::store::contract::Result<Vec<(i64, String, Option<String>)>> {
                Ok(sqlx::query_as($crate::store::delivery::CHANGES_AFTER).bind(user_id).bind(after).bind(limit).fetch_all(&mut **self.0).await?)
            }

            async fn drop_changes(&mut self, user_id: &str, upto: i64) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::delivery::DROP_CHANGES).bind(user_id).bind(upto).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn stream_state(&mut self, user_id: &str, subject: &str) -> $crate::store::contract::Result<Option<String>> {
                Ok(sqlx::query_scalar($crate::store::delivery::STREAM_STATE).bind(user_id).bind(subject).fetch_optional(&mut **self.0).await?)
            }

            async fn set_stream_state(&mut self, user_id: &str, subject: &str, state: Option<&str>) -> $crate::store::contract::Result<()> {
                match state {
                    Some(state) => sqlx::query($crate::store::delivery::SET_STREAM_STATE).bind(user_id).bind(subject).bind(state).execute(&mut **self.0).await?,
                    None => sqlx::query($crate::store::delivery::CLEAR_STREAM_STATE).bind(user_id).bind(subject).execute(&mut **self.0).await?,
                };
                Ok(())
            }

            async fn append_stream(&mut self, user_id: &str, pos: i64, kind: $crate::store::contract::StreamKind, subject: Option<&str>) -> $crate::store::contract::Result<()> {
                sqlx::query($crate::store::delivery::APPEND_STREAM).bind(user_id).bind(pos).bind(kind.as_str()).bind(subject).execute(&mut **self.0).await?;
                Ok(())
            }

            async fn therapist_reads(&mut self, therapist_id: &str, couple_id: &str) -> $crate::store::contract::Result<bool> {
                let found: Option<i32> = sqlx::query_scalar($crate::store::delivery::THERAPIST_READS).bind(couple_id).bind(therapist_id).fetch_optional(&mut **self.0).await?;
                Ok(found.is_some())
            }

            async fn therapist_shared(&mut self, couple_id: &str) -> $crate::store::contract::Result<Vec<$crate::records::EntryRecord>> {
                Ok(sqlx::query_as($crate::store::delivery::THERAPIST_SHARED).bind(couple_id).fetch_all(&mut **self.0).await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::contract::Store for $store {
            async fn create_user(&self, u: $crate::records::NewUser<'_>) -> $crate::store::contract::Result<$crate::records::User> {
                let res = sqlx::query(
                    "INSERT INTO users (id, email, display_name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(u.id)
                .bind(u.email)
                .bind(u.display_name)
                .bind(u.role)
                .bind(u.password_hash)
                .bind(u.now)
                .execute(&self.pool)
                .await;
                match res {
                    Ok(_) => Ok($crate::records::User {
                        id: u.id.to_string(),
                        email: u.email.to_string(),
                        display_name: u.display_name.to_string(),
                        role: u.role.to_string(),
                        created_at: u.now,
                    }),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err($crate::error::ApiError::conflict("email_taken", "an account with this email exists already"))
                    }
                    Err(e) => Err(e.into()),
                }
            }

            async fn user_by_email(&self, email: &str) -> $crate::store::contract::Result<Option<($crate::records::User, String)>> {
                let row: Option<(String, String, String, String, i64, String)> = sqlx::query_as(
                    "SELECT id, email, display_name, role, created_at, password_hash FROM users WHERE email = $1",
                )
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id, email, display_name, role, created_at, hash)| {
                    ($crate::records::User { id, email, display_name, role, created_at }, hash)
                }))
            }

            async fn create_session(&self, token_hash: &str, user_id: &str, now: i64, expires_at: i64) -> $crate::store::contract::Result<()> {
                sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)")
                    .bind(token_hash)
                    .bind(user_id)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session_user(
                &self,
                token_hash: &str,
                now: i64,
                idle_after: i64,
            ) -> $crate::store::contract::Result<Option<($crate::records::User, $crate::records::Session)>> {
                let row: Option<(String, String, String, String, i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT u.id, u.email, u.display_name, u.role, u.created_at, s.created_at, s.last_seen_at, s.expires_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3",
                )
                .bind(token_hash)
                .bind(now)
                .bind(idle_after)
                .fetch_optional(&self.pool)
                .await?;
                let Some((id, email, display_name, role, created_at, s_created, last_seen_at, expires_at)) = row else {
                    return Ok(None);
                };
                // A read should not cost a write every time: refresh once "last seen" is older
                // than a quarter of the idle time, or a minute, whichever is shorter. Then a
                // session used more often than every three quarters of its idle time (an open
                // websocket re-checks it at every ping) never idles out, however short that is.
                let refresh_after = ((now - idle_after) / 4).min(60_000);
                if now - last_seen_at > refresh_after {
                    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $1")
                        .bind(now)
                        .bind(token_hash)
                        .execute(&self.pool)
                        .await?;
                }
                let session = $crate::records::Session { user_id: id.clone(), created_at: s_created, last_seen_at, expires_at };
                Ok(Some(($crate::records::User { id, email, display_name, role, created_at }, session)))
            }

            async fn delete_session(&self, token_hash: &str) -> $crate::store::contract::Result<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
                Self::announce(&mut tx, $crate::store::contract::SESSIONS_CHANNEL, token_hash).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn end_sessions(&self, user_id: &str, keep: Option<&str>) -> $crate::store::contract::Result<Vec<String>> {
                let mut tx = self.pool.begin().await?;
                let hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                    .bind(user_id)
                    .bind(keep.unwrap_or(""))
                    .fetch_all(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                    .bind(user_id)
                    .bind(keep.unwrap_or(""))
                    .execute(&mut *tx)
                    .await?;
                for h in &hashes {
                    Self::announce(&mut tx, $crate::store::contract::SESSIONS_CHANNEL, h).await?;
                }
                tx.commit().await?;
                Ok(hashes)
            }

            async fn password_hash(&self, user_id: &str) -> $crate::store::contract::Result<Option<String>> {
                Ok(sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1").bind(user_id).fetch_optional(&self.pool).await?)
            }

            async fn set_password(&self, user_id: &str, password_hash: &str) -> $crate::store::contract::Result<()> {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2").bind(password_hash).bind(user_id).execute(&self.pool).await?;
                Ok(())
            }

            async fn delete_account(&self, user_id: &str, now: i64) -> $crate::store::contract::Result<$crate::records::DeletedAccount> {
                let mut tx = self.begin_write().await?;
                let deleted = $crate::store::accounts::delete_account_in(&mut self.w(&mut tx), user_id, now).await?;
                tx.commit().await?;
                Ok(deleted)
            }

            async fn log_access(
                &self,
                reader: &$crate::records::User,
                couple_id: Option<&str>,
                what: &str,
                entry_id: Option<&str>,
                now: i64,
            ) -> $crate::store::contract::Result<()> {
                sqlx::query("INSERT INTO access_log (reader_id, reader_role, couple_id, what, entry_id, at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&reader.id)
                    .bind(&reader.role)
                    .bind(couple_id)
                    .bind(what)
                    .bind(entry_id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn access_log_of(&self, reader_id: &str) -> $crate::store::contract::Result<Vec<$crate::records::AccessRow>> {
                Ok(sqlx::query_as("SELECT what, couple_id, entry_id, at FROM access_log WHERE reader_id = $1 ORDER BY at DESC, id DESC")
                    .bind(reader_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn consent_history(&self, author_id: &str) -> $crate::store::contract::Result<Vec<$crate::records::ConsentRow>> {
                Ok(sqlx::query_as(
                    "SELECT l.entry_id, l.scope, l.action, l.at FROM consent_log l JOIN entries e ON e.id = l.entry_id \
                     WHERE e.author_id = $1 ORDER BY l.at, l.id",
                )
                .bind(author_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn couple_of(&self, user_id: &str) -> $crate::store::contract::Result<Option<$crate::records::CoupleInfo>> {
                let mut tx = self.pool.begin().await?;
                let Some(couple) = Self::current_couple_in(&mut tx, user_id).await? else {
                    return Ok(None);
                };
                let other = if couple.partner_a == user_id { couple.partner_b.clone() } else { Some(couple.partner_a.clone()) };
                let partner = match other {
                    Some(id) => {
                        let name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
                            .bind(&id)
                            .fetch_one(&mut *tx)
                            .await?;
                        Some((id, name))
                    }
                    None => None,
                };
                let therapist = Self::link_in(&mut tx, &couple.id).await?;
                tx.commit().await?;
                Ok(Some($crate::records::CoupleInfo { couple, partner, therapist }))
            }

            async fn create_invite(
                &self,
                user_id: &str,
                couple_id: &str,
                code_hash: &str,
                now: i64,
                expires_at: i64,
            ) -> $crate::store::contract::Result<$crate::records::CoupleRow> {
                let mut tx = self.begin_write().await?;
                let couple = $crate::store::couples::create_invite_in(&mut self.w(&mut tx), user_id, couple_id, code_hash, now, expires_at).await?;
                tx.commit().await?;
                Ok(couple)
            }

            async fn join_couple(&self, user_id: &str, code_hash: &str, now: i64) -> $crate::store::contract::Result<$crate::records::CoupleRow> {
                let mut tx = self.begin_write().await?;
                let couple = $crate::store::couples::join_in(&mut self.w(&mut tx), user_id, code_hash, now).await?;
                tx.commit().await?;
                Ok(couple)
            }

            async fn unpair(&self, user_id: &str, now: i64) -> $crate::store::contract::Result<Vec<String>> {
                let mut tx = self.begin_write().await?;
                let notify = $crate::store::couples::unpair_in(&mut self.w(&mut tx), user_id, now).await?;
                tx.commit().await?;
                Ok(notify)
            }

            async fn write(&self, req: &$crate::store::contract::WriteRequest) -> $crate::store::contract::Result<$crate::store::contract::WriteResult> {
                self.commit_write(req).await
            }

            async fn entry(&self, id: &str) -> $crate::store::contract::Result<Option<$crate::records::EntryRecord>> {
                Ok(sqlx::query_as($crate::store::columns::entry_select!("WHERE en.id = $1")).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn entries_visible_to(&self, viewer: &str, before: (i64, &str), limit: i64) -> $crate::store::contract::Result<Vec<$crate::records::EntryRecord>> {
                Ok(sqlx::query_as($crate::store::columns::entry_select!(
                    "WHERE (en.author_id = $1 OR (en.shared_partner_at IS NOT NULL AND (c.partner_a = $1 OR c.partner_b = $1))) \
                     AND (en.created_at < $2 OR (en.created_at = $2 AND en.id < $4)) ORDER BY en.created_at DESC, en.id DESC LIMIT $3"
                ))
                .bind(viewer)
                .bind(before.0)
                .bind(limit)
                .bind(before.1)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn therapist_link(&self, couple_id: &str) -> $crate::store::contract::Result<Option<$crate::records::TherapistLink>> {
                let mut tx = self.pool.begin().await?;
                let link = Self::link_in(&mut tx, couple_id).await?;
                tx.commit().await?;
                Ok(link)
            }

            async fn propose_therapist(&self, user_id: &str, email: &str, link_id: &str, now: i64) -> $crate::store::contract::Result<Vec<String>> {
                let mut tx = self.begin_write().await?;
                let notify = $crate::store::couples::propose_in(&mut self.w(&mut tx), user_id, email, link_id, now).await?;
                tx.commit().await?;
                Ok(notify)
            }

            async fn approve_therapist(&self, user_id: &str, now: i64) -> $crate::store::contract::Result<Vec<String>> {
                let mut tx = self.begin_write().await?;
                let notify = $crate::store::couples::approve_in(&mut self.w(&mut tx), user_id, now).await?;
                tx.commit().await?;
                Ok(notify)
            }

            async fn revoke_therapist(&self, user_id: &str, now: i64) -> $crate::store::contract::Result<Vec<String>> {
                let mut tx = self.begin_write().await?;
                let notify = $crate::store::couples::revoke_in(&mut self.w(&mut tx), user_id, now).await?;
                tx.commit().await?;
                Ok(notify)
            }

            async fn therapist_couples(&self, therapist_id: &str) -> $crate::store::contract::Result<Vec<$crate::records::TherapistCouple>> {
                Ok(sqlx::query_as(
                    // `last_shared_at` is filled in by the caller, from what consent lets the summary count.
                    "SELECT c.id AS couple_id, ua.display_name AS partner_a_name, ub.display_name AS partner_b_name, l.active_at, \
                     CAST(NULL AS BIGINT) AS last_shared_at \
                     FROM therapist_links l JOIN couples c ON c.id = l.couple_id \
                     JOIN users ua ON ua.id = c.partner_a JOIN users ub ON ub.id = c.partner_b \
                     WHERE l.therapist_id = $1 AND l.active_at IS NOT NULL AND l.revoked_at IS NULL AND c.ended_at IS NULL \
                     ORDER BY ua.display_name, c.id",
                )
                .bind(therapist_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn couple_members(&self, couple_id: &str) -> $crate::store::contract::Result<Option<($crate::records::CoupleRow, Vec<(String, String)>)>> {
                let couple: Option<$crate::records::CoupleRow> =
                    sqlx::query_as("SELECT id, partner_a, partner_b, created_at, paired_at, ended_at FROM couples WHERE id = $1")
                        .bind(couple_id)
                        .fetch_optional(&self.pool)
                        .await?;
                let Some(couple) = couple else { return Ok(None) };
                let members: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, display_name FROM users WHERE id = $1 OR id = $2 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END",
                )
                .bind(&couple.partner_a)
                .bind(couple.partner_b.as_deref().unwrap_or(""))
                .fetch_all(&self.pool)
                .await?;
                Ok(Some((couple, members)))
            }

            async fn therapist_entries(&self, couple_id: &str) -> $crate::store::contract::Result<Vec<$crate::records::EntryRecord>> {
                Ok(sqlx::query_as($crate::store::columns::entry_select!(
                    "WHERE en.couple_id = $1 AND en.shared_therapist_at IS NOT NULL ORDER BY en.created_at, en.id"
                ))
                .bind(couple_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn record_summary_view(&self, couple_id: &str, viewer_id: &str, action: &str, from: i64, to: i64, now: i64) -> $crate::store::contract::Result<()> {
                sqlx::query(
                    "INSERT INTO summary_views (couple_id, viewer_id, action, period_from, period_to, viewed_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(couple_id)
                .bind(viewer_id)
                .bind(action)
                .bind(from)
                .bind(to)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn summary_views(&self, couple_id: &str) -> $crate::store::contract::Result<Vec<$crate::records::SummaryView>> {
                Ok(sqlx::query_as(
                    "SELECT u.display_name AS viewer_name, v.action, v.period_from, v.period_to, v.viewed_at \
                     FROM summary_views v JOIN users u ON u.id = v.viewer_id \
                     WHERE v.couple_id = $1 ORDER BY v.viewed_at DESC, v.id DESC LIMIT 500",
                )
                .bind(couple_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn couples_paired_in(&self, user_id: &str) -> $crate::store::contract::Result<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT id FROM couples WHERE (partner_a = $1 OR partner_b = $1) AND partner_b IS NOT NULL \
                     ORDER BY created_at, id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn listen(&self) -> $crate::store::contract::Result<Option<futures_util::stream::BoxStream<'static, $crate::store::contract::Signal>>> {
                self.signals().await
            }

            async fn advance(&self, user_id: &str) -> $crate::store::contract::Result<i64> {
                // Most reads find nothing new: answer those without a write transaction.
                let marks: Option<(i64, i64, i64)> = sqlx::query_as($crate::store::delivery::STREAM_MARKS)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                match marks {
                    None => Ok(0),
                    Some((written, read, pos)) if read >= written => Ok(pos),
                    Some(_) => self.commit_advance(user_id).await,
                }
            }

            async fn mark_shown(&self, user_id: &str, entry_ids: &[&str]) -> $crate::store::contract::Result<()> {
                if entry_ids.is_empty() {
                    return Ok(());
                }
                // Usually the stream showed them all already: check before writing.
                let marks: Vec<String> = (2..entry_ids.len() + 2).map(|i| format!("${i}")).collect();
                let sql = format!("SELECT subject FROM stream_state WHERE user_id = $1 AND subject IN ({})", marks.join(", "));
                let mut known = sqlx::query_scalar::<_, String>(&sql).bind(user_id);
                for id in entry_ids {
                    known = known.bind(*id);
                }
                let known: std::collections::HashSet<String> = known.fetch_all(&self.pool).await?.into_iter().collect();
                let missing: Vec<&&str> = entry_ids.iter().filter(|id| !known.contains(**id)).collect();
                if missing.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                for id in missing {
                    sqlx::query($crate::store::delivery::MARK_SHOWN).bind(user_id).bind(*id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn stream_after(&self, user_id: &str, since: i64, limit: i64) -> $crate::store::contract::Result<Vec<$crate::store::contract::StreamEvent>> {
                let rows: Vec<$crate::store::sql::EventRow> = sqlx::query_as($crate::store::delivery::STREAM_AFTER)
                    .bind(user_id)
                    .bind(since)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|r| r.into_event()).collect())
            }
        }
    };
}
pub(crate) use impl_store;

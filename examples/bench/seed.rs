//! Setup only: users, couples, sessions and draft entries written straight into the
//! database after the server has migrated it. Signing up thousands of partners through
//! /api/signup would cost an argon2id hash (19 MiB, ~50 ms) each, by design.
//! Nothing measured goes through here.

use sha2::{Digest, Sha256};
use sqlx::{PgPool, SqlitePool};

pub enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

impl Db {
    pub async fn open(url: &str) -> Db {
        if url.starts_with("sqlite:") {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("sqlite url");
            let opts = opts.busy_timeout(std::time::Duration::from_secs(30));
            Db::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts)
                    .await
                    .expect("open sqlite"),
            )
        } else {
            Db::Pg(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .expect("open postgres"),
            )
        }
    }

    pub async fn exec(&self, sql: &str) {
        match self {
            Db::Sqlite(p) => {
                sqlx::raw_sql(sql).execute(p).await.expect("seed sql");
            }
            Db::Pg(p) => {
                sqlx::raw_sql(sql).execute(p).await.expect("seed sql");
            }
        }
    }

    pub async fn scalar_text(&self, sql: &str) -> Option<String> {
        match self {
            Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_optional(p).await.expect("query"),
            Db::Pg(p) => sqlx::query_scalar(sql).fetch_optional(p).await.expect("query"),
        }
    }

    pub async fn close(self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Pg(p) => p.close().await,
        }
    }
}

#[derive(Clone)]
pub struct Partner {
    pub id: String,
    pub token: String,
}

#[derive(Clone)]
pub struct Couple {
    pub id: String,
    pub a: Partner,
    pub b: Partner,
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One argon2id PHC string reused for every seeded user (nobody logs in with it).
fn password_hash() -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::from_b64("YmVuY2hzYWx0YmVuY2hzYWx0").unwrap();
    argon2::Argon2::default()
        .hash_password(b"bench password, never used", &salt)
        .unwrap()
        .to_string()
}

/// Seeds `n` paired couples, each partner with a session valid for ten years.
pub async fn couples(db: &Db, n: usize, tag: &str) -> Vec<Couple> {
    let hash = password_hash();
    let now = now_ms();
    let expires = now + 10 * 365 * 24 * 3600 * 1000;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let p = || Partner {
            id: uuid::Uuid::new_v4().to_string(),
            token: uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string(),
        };
        out.push(Couple {
            id: uuid::Uuid::new_v4().to_string(),
            a: p(),
            b: p(),
        });
    }
    for chunk in out.chunks(400) {
        let mut users = Vec::new();
        let mut couples = Vec::new();
        let mut sessions = Vec::new();
        for c in chunk {
            for (who, p) in [("a", &c.a), ("b", &c.b)] {
                users.push(format!(
                    "('{}', '{}-{}@bench.invalid', 'Bench {}', 'partner', '{hash}', {now}, '{}')",
                    p.id, tag, p.id, who, c.id
                ));
                sessions.push(format!(
                    "('{}', '{}', {now}, {now}, {expires})",
                    sha256_hex(&p.token),
                    p.id
                ));
            }
            couples.push(format!("('{}', '{}', '{}', {now}, {now})", c.id, c.a.id, c.b.id));
        }
        let sql = format!(
            "BEGIN; \
             INSERT INTO users (id, email, display_name, role, password_hash, created_at, couple_id) VALUES {}; \
             INSERT INTO couples (id, partner_a, partner_b, created_at, paired_at) VALUES {}; \
             INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES {}; \
             COMMIT;",
            users.join(","),
            couples.join(","),
            sessions.join(",")
        );
        db.exec(&sql).await;
    }
    out
}

/// One private draft to seed: (entry id, author, couple).
pub struct Draft<'a> {
    pub id: String,
    pub author: &'a str,
    pub couple: &'a str,
}

/// Seeds private drafts (as `create_entry` would store them, minus the writer's own
/// stream event, which nobody in the benchmark reads).
pub async fn drafts(db: &Db, drafts: &[Draft<'_>], body: &str) {
    let now = now_ms();
    let body = body.replace('\'', "''");
    for chunk in drafts.chunks(1000) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|d| {
                format!(
                    "('{}', '{}', '{}', 'check_in', '{body}', {now}, {now})",
                    d.id, d.couple, d.author
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO entries (id, couple_id, author_id, kind, body, created_at, updated_at) VALUES {}",
            rows.join(",")
        );
        db.exec(&sql).await;
    }
}

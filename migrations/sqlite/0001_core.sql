-- Times are Unix milliseconds; ids are UUID strings.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('partner', 'therapist')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    couple_id     TEXT,
    -- Last sequence number of this user's event stream.
    event_seq     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE couples (
    id         TEXT PRIMARY KEY,
    partner_a  TEXT NOT NULL REFERENCES users(id),
    partner_b  TEXT REFERENCES users(id),
    created_at INTEGER NOT NULL,
    paired_at  INTEGER,
    ended_at   INTEGER
);
CREATE INDEX couples_a ON couples(partner_a);
CREATE INDEX couples_b ON couples(partner_b);

CREATE TABLE invites (
    code_hash  TEXT PRIMARY KEY,
    couple_id  TEXT NOT NULL REFERENCES couples(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX invites_couple ON invites(couple_id);

CREATE TABLE entries (
    id                  TEXT PRIMARY KEY,
    couple_id           TEXT REFERENCES couples(id),
    author_id           TEXT NOT NULL REFERENCES users(id),
    kind                TEXT NOT NULL,
    body                TEXT NOT NULL,
    reply_to            TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    -- Consent state: when each scope was granted, NULL while not shared.
    shared_partner_at   INTEGER,
    shared_therapist_at INTEGER
);
CREATE INDEX entries_author ON entries(author_id, created_at);
CREATE INDEX entries_couple ON entries(couple_id, created_at);

-- Who granted or withdrew which scope, when.
CREATE TABLE consent_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    scope    TEXT NOT NULL CHECK (scope IN ('partner', 'therapist')),
    action   TEXT NOT NULL CHECK (action IN ('share', 'withdraw')),
    at       INTEGER NOT NULL
);
CREATE INDEX consent_log_entry ON consent_log(entry_id);

-- Each user's stream; rendered at delivery from the entry's current state.
CREATE TABLE events (
    user_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    entry_id   TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;

-- Applied writes, so a retried request id applies once.
CREATE TABLE requests (
    user_id     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, request_id)
) WITHOUT ROWID;

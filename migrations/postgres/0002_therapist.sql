-- A therapist's access to one couple: active once both partners approved, until revoked.
CREATE TABLE therapist_links (
    id               TEXT PRIMARY KEY,
    couple_id        TEXT NOT NULL REFERENCES couples(id),
    therapist_id     TEXT NOT NULL REFERENCES users(id),
    proposed_by      TEXT NOT NULL,
    approved_a_at    BIGINT,
    approved_b_at    BIGINT,
    created_at       BIGINT NOT NULL,
    active_at        BIGINT,
    revoked_at       BIGINT,
    revoked_by       TEXT
);
CREATE INDEX therapist_links_couple ON therapist_links(couple_id);
CREATE INDEX therapist_links_therapist ON therapist_links(therapist_id);

-- Each time the therapist opened or exported the summary (never its content).
CREATE TABLE summary_views (
    id          BIGSERIAL PRIMARY KEY,
    couple_id   TEXT NOT NULL,
    viewer_id   TEXT NOT NULL,
    action      TEXT NOT NULL,
    period_from BIGINT NOT NULL,
    period_to   BIGINT NOT NULL,
    viewed_at   BIGINT NOT NULL
);
CREATE INDEX summary_views_couple ON summary_views(couple_id, viewed_at);

CREATE INDEX entries_therapist ON entries(couple_id, shared_therapist_at);

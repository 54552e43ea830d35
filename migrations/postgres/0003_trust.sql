-- Who read shared material, what and when (never the text). A partner's reads are not
-- shown to the other partner: that would be a read receipt, which the product forbids.
CREATE TABLE access_log (
    id          BIGSERIAL PRIMARY KEY,
    reader_id   TEXT NOT NULL,
    reader_role TEXT NOT NULL,
    couple_id   TEXT,
    what        TEXT NOT NULL,
    entry_id    TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX access_log_reader ON access_log(reader_id, at);
CREATE INDEX access_log_couple ON access_log(couple_id, at);

ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- Whether the event's entry was visible to the stream's owner right after the event
-- (a share makes it visible to the partner, a withdrawal or deletion does not).
ALTER TABLE events ADD COLUMN visible INTEGER NOT NULL DEFAULT 1;

-- Entries a user's stream skipped because they were no longer visible when delivered:
-- the user never saw them, so their later removal is not announced either.
CREATE TABLE withheld (
    user_id  TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (user_id, entry_id)
);

-- What each user's stream delivered. The events table records every change that may
-- concern a user, as it is written; a position in the user's stream is numbered only
-- when a reader of that user reads past the change, and only if the change is one the
-- user may see then. A change the user could never see (an entry shared and withdrawn
-- while they were away, a therapist-only share, a summary left as it was) takes no
-- position, so a cursor never counts what was withheld.
CREATE TABLE stream (
    user_id TEXT NOT NULL,
    pos     BIGINT NOT NULL,
    -- entry, entry_removed, couple or summary
    kind    TEXT NOT NULL,
    -- the entry's id, or the couple's for a summary
    subject TEXT,
    PRIMARY KEY (user_id, pos)
);

-- What the stream last told each user about a subject: 'shown' for an entry it
-- delivered and has not removed since, or a digest of a therapist's view of a couple's
-- summary. A change that leaves this as it was is not delivered.
CREATE TABLE stream_state (
    user_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    state   TEXT NOT NULL,
    PRIMARY KEY (user_id, subject)
);

-- stream_read: the last change (events.seq) numbered; stream_pos: the last position.
-- Numbered changes are deleted from events: the stream holds what they came to.
ALTER TABLE users ADD COLUMN stream_read BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN stream_pos BIGINT NOT NULL DEFAULT 0;

-- Streams delivered before this version keep their numbers: every change up to now
-- becomes the position it had, and an entry the stream showed is remembered as shown.
INSERT INTO stream (user_id, pos, kind, subject)
    SELECT user_id, seq, kind, entry_id FROM events;
INSERT INTO stream_state (user_id, subject, state)
    SELECT DISTINCT ev.user_id, ev.entry_id, 'shown' FROM events ev
    WHERE ev.kind = 'entry' AND ev.entry_id IS NOT NULL AND ev.visible = 1
      AND NOT EXISTS (SELECT 1 FROM withheld w WHERE w.user_id = ev.user_id AND w.entry_id = ev.entry_id);
UPDATE users SET stream_read = event_seq, stream_pos = event_seq;
DELETE FROM events;
DROP TABLE withheld;
-- Whether a change was visible is decided when it is numbered, not when it is written.
ALTER TABLE events DROP COLUMN visible;

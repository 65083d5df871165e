-- +goose Up
-- The user ids a message mentions, as a JSON array of strings ('[]' when
-- none): read with the message, never queried by.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';

-- The outbox of webhook notifications: a row is written in the transaction
-- of what caused it (a mention, a room closing) and deleted once the
-- receiver took it. body is the signed JSON, made at write time. due_ms
-- (Unix milliseconds, compared as an integer) is when a sender may next
-- claim the row: its next retry, or the end of the lease of the sender that
-- claimed it (claim names that claim, so a sender whose lease ran out does
-- not overwrite another's). message_id lets a message deleted before
-- delivery take its pending mentions with it; no foreign key, so that a
-- message pruned by retention still notifies.
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    message_id TEXT NULL,
    body       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    due_ms     BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    claim      TEXT NULL
);
CREATE INDEX notifications_due ON notifications (due_ms);
CREATE INDEX notifications_message ON notifications (message_id) WHERE message_id IS NOT NULL;

-- +goose Down
DROP TABLE notifications;
ALTER TABLE messages DROP COLUMN mentions;

-- +goose Up
-- One row per user, emoji and message. id orders emoji by first use; a
-- message's reactions go with it (deleted, pruned, or its room closed).
CREATE TABLE reactions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX reactions_user ON reactions (message_id, emoji, user_id);

-- A message whose tally changed since its last message.reactions event is
-- dirty; due_ms (Unix milliseconds, compared as an integer) is when its next
-- event may go out: a flusher emits at most one event a second per message.
CREATE TABLE reaction_tallies (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    room_id    TEXT NOT NULL,
    dirty      BOOLEAN NOT NULL,
    due_ms     BIGINT NOT NULL
);
CREATE INDEX reaction_tallies_dirty ON reaction_tallies (room_id, due_ms) WHERE dirty;

-- The per-user, per-room flood bucket of reactions, apart from the send one.
CREATE TABLE reaction_limits (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    tokens    REAL NOT NULL,
    tokens_at TIMESTAMP NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- +goose Down
DROP TABLE reaction_limits;
DROP TABLE reaction_tallies;
DROP TABLE reactions;

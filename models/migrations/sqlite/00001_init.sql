-- +goose Up
-- Times are stored as UTC and compared in Go, never in SQL: SQLite keeps them as
-- text whose fraction length varies, which does not sort.
CREATE TABLE rooms (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    owner_id          TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    last_seq          INTEGER NOT NULL DEFAULT 0,
    oldest_seq        INTEGER NOT NULL DEFAULT 1,
    locked_until      TIMESTAMP NULL,
    slow_mode_seconds INTEGER NOT NULL DEFAULT 0,
    closed_at         TIMESTAMP NULL
);

CREATE TABLE participants (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    name      TEXT NOT NULL,
    role      TEXT NOT NULL,
    joined_at TIMESTAMP NOT NULL,
    is_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE mutes (
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    until      TIMESTAMP NOT NULL,
    reason     TEXT NULL,
    actor_id   TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE bans (
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    until      TIMESTAMP NULL,
    reason     TEXT NULL,
    actor_id   TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE send_limits (
    room_id      TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    last_post_at TIMESTAMP NOT NULL,
    tokens       REAL NOT NULL,
    tokens_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    sender_id   TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    content     TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    edited_at   TIMESTAMP NULL,
    reply_to    TEXT NULL,
    is_deleted  BOOLEAN NOT NULL DEFAULT FALSE,
    client_id   TEXT NULL
);
CREATE UNIQUE INDEX messages_room_seq ON messages (room_id, seq);
-- NULL client ids are distinct, so only sends that carry one are deduplicated.
CREATE UNIQUE INDEX messages_client ON messages (room_id, sender_id, client_id);

CREATE TABLE events (
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    target_id  TEXT NULL,
    message_id TEXT NULL,
    data       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX events_message ON events (message_id) WHERE message_id IS NOT NULL;

CREATE TABLE moderation_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    action     TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    target_id  TEXT NULL,
    message_id TEXT NULL,
    reason     TEXT NULL,
    until      TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX moderation_log_room ON moderation_log (room_id, id);

-- +goose Down
DROP TABLE moderation_log;
DROP TABLE events;
DROP TABLE messages;
DROP TABLE send_limits;
DROP TABLE bans;
DROP TABLE mutes;
DROP TABLE participants;
DROP TABLE rooms;

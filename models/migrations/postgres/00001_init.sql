-- +goose Up
-- Times are stored as UTC and compared in Go, never in SQL, as on SQLite.
CREATE TABLE rooms (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    owner_id          TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    last_seq          BIGINT NOT NULL DEFAULT 0,
    oldest_seq        BIGINT NOT NULL DEFAULT 1,
    locked_until      TIMESTAMPTZ NULL,
    slow_mode_seconds INTEGER NOT NULL DEFAULT 0,
    closed_at         TIMESTAMPTZ NULL
);

CREATE TABLE participants (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    name      TEXT NOT NULL,
    role      TEXT NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL,
    is_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE mutes (
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    until      TIMESTAMPTZ NOT NULL,
    reason     TEXT NULL,
    actor_id   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE bans (
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    until      TIMESTAMPTZ NULL,
    reason     TEXT NULL,
    actor_id   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE send_limits (
    room_id      TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    last_post_at TIMESTAMPTZ NOT NULL,
    tokens       DOUBLE PRECISION NOT NULL,
    tokens_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    sender_id   TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    content     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    edited_at   TIMESTAMPTZ NULL,
    reply_to    TEXT NULL,
    is_deleted  BOOLEAN NOT NULL DEFAULT FALSE,
    client_id   TEXT NULL
);
CREATE UNIQUE INDEX messages_room_seq ON messages (room_id, seq);
-- NULL client ids are distinct, so only sends that carry one are deduplicated.
CREATE UNIQUE INDEX messages_client ON messages (room_id, sender_id, client_id);

CREATE TABLE events (
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    type       TEXT NOT NULL,
    target_id  TEXT NULL,
    message_id TEXT NULL,
    data       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX events_message ON events (message_id) WHERE message_id IS NOT NULL;

CREATE TABLE moderation_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    action     TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    target_id  TEXT NULL,
    message_id TEXT NULL,
    reason     TEXT NULL,
    until      TIMESTAMPTZ NULL,
    created_at TIMESTAMPTZ NOT NULL
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

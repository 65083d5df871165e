-- +goose Up
-- Users the server has seen calling with a platform admin's token: a moderator
-- may not ban, kick or mute them, even in a room they stream without joining.
CREATE TABLE known_admins (
    user_id TEXT PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE known_admins;

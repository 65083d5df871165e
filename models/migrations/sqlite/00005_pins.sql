-- +goose Up
-- The room's pinned message, or NULL. No foreign key: retention spares the
-- pinned message itself (see prune), closing a room clears the pin with its
-- messages, and a key would make every pruned message look the rooms up.
ALTER TABLE rooms ADD COLUMN pinned_id TEXT;

-- +goose Down
ALTER TABLE rooms DROP COLUMN pinned_id;

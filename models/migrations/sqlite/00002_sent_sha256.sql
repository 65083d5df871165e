-- +goose Up
-- The SHA-256 (hex) of a message's content as first sent, kept when the message
-- is first edited, so that a send retried with its client_id is compared with
-- what was sent rather than with the edited text. NULL until an edit, and
-- cleared when the message is deleted. A digest, not the text: the text a
-- sender edited away is not kept.
ALTER TABLE messages ADD COLUMN sent_sha256 TEXT NULL;

-- +goose Down
ALTER TABLE messages DROP COLUMN sent_sha256;

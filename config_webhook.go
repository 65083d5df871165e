package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

// minWebhookSecret is the shortest webhook secret taken, as for
// CHAT_JWT_SECRET: 32 characters of `openssl rand -hex 16` are 128 bits.
const minWebhookSecret = 32

// webhookSettings are the raw values of the outbound webhook settings.
type webhookSettings struct {
	url, content string
}

// register declares the settings on fs; the secret comes from the
// environment only (see apply).
func (s *webhookSettings) register(fs *flag.FlagSet, env func(name, def string) string) {
	fs.StringVar(&s.url, "webhook-url", env("CHAT_WEBHOOK_URL", ""), "http(s) URL that gets notifications (mentions, rooms closed); needs CHAT_WEBHOOK_SECRET (CHAT_WEBHOOK_URL)")
	fs.StringVar(&s.content, "webhook-content", env("CHAT_WEBHOOK_CONTENT", "on"), "off leaves message text out of notifications (CHAT_WEBHOOK_CONTENT)")
}

// apply validates the settings into c: the URL and the secret go together.
func (s *webhookSettings) apply(c *config, check func(error)) {
	c.WebhookURL, c.WebhookSecret = s.url, os.Getenv("CHAT_WEBHOOK_SECRET")
	c.WebhookNoContent = onOff("CHAT_WEBHOOK_CONTENT", s.content, check)
	switch {
	case c.WebhookURL == "" && c.WebhookSecret == "":
	case c.WebhookURL == "":
		check(errors.New("CHAT_WEBHOOK_SECRET is set but CHAT_WEBHOOK_URL is not"))
	case !isHTTPURL(c.WebhookURL):
		check(fmt.Errorf("CHAT_WEBHOOK_URL must be an http(s) URL, not %q", c.WebhookURL))
	case c.WebhookSecret == "":
		check(errors.New("CHAT_WEBHOOK_SECRET is required with CHAT_WEBHOOK_URL: receivers check every notification's signature with it"))
	case len(c.WebhookSecret) < minWebhookSecret:
		check(fmt.Errorf("CHAT_WEBHOOK_SECRET must be at least %d characters", minWebhookSecret))
	}
}

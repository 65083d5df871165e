package main

import (
	"flag"
	"os"
)

// defaultDevAddr is where --dev listens unless told otherwise: dev mode hands
// a token to anyone who asks, so by default only this machine may ask.
const defaultDevAddr = "127.0.0.1:8080"

// devAddr moves a dev-mode server to defaultDevAddr when neither -addr nor
// CHAT_ADDR chose an address; an explicit one always wins.
func devAddr(c *config, fs *flag.FlagSet) {
	if !c.Dev {
		return
	}
	if _, ok := os.LookupEnv("CHAT_ADDR"); ok {
		return
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "addr" })
	if !given {
		c.Addr = defaultDevAddr
	}
}

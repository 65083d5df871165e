package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/resonate/resonate-chat/handlers/identity"
)

// tokenUsage explains the token command; PrintDefaults follows it.
const tokenUsage = `Usage: resonate-chat token --sub USER [--name NAME] [--admin] [--ttl 24h] [--db PATH]

Prints an HS256 token that the server accepts: signed with CHAT_JWT_SECRET when
it is set, else with the secret the server generated beside its SQLite database
on first start (PATH.secret). token never makes a secret of its own: start the
server once first, and give token the same --db (or CHAT_DB) as the server.

Flags:
`

// tokenCommand prints an HS256 token signed with the server's secret:
// resonate-chat token --sub alice --name Alice [--admin] [--ttl 24h] [--db PATH].
// Bad usage and a missing secret exit with 2.
func tokenCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resonate-chat token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // an explicit --help prints to stdout below; a mistake says where help is
	sub := fs.String("sub", "", "user id, 1–128 characters (required)")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "platform admin: may manage any room")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime")
	db := fs.String("db", envOr("CHAT_DB", defaultDB), "the server's database (SQLite file or postgres:// URL), as the server's --db (CHAT_DB)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, tokenUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, "Run 'resonate-chat token --help' for usage.")
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "resonate-chat token: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *sub == "" || len([]rune(*sub)) > 128 || *ttl <= 0 {
		fmt.Fprintln(stderr, "resonate-chat token: --sub (1–128 characters) is required and --ttl must be positive")
		return 2
	}
	secret, err := tokenSecret(*db)
	if err != nil {
		fmt.Fprintln(stderr, "resonate-chat token:", err)
		return 2
	}
	tok, err := identity.NewHS256(secret).Sign(*sub, *name, *admin, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "resonate-chat token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// tokenSecret finds the secret the server signs with, the way the server
// does, and never makes one: a token signed with a new secret would only be
// refused by the server.
func tokenSecret(db string) ([]byte, error) {
	if s := os.Getenv("CHAT_JWT_SECRET"); s != "" {
		if len(s) < 32 {
			return nil, errors.New("CHAT_JWT_SECRET must be at least 32 characters")
		}
		return []byte(s), nil
	}
	if isPostgres(db) {
		return nil, errors.New("CHAT_JWT_SECRET is not set: with PostgreSQL the server signs with CHAT_JWT_SECRET; set it here to the same value")
	}
	path := secretPath(db)
	secret, err := readSecret(path)
	if errors.Is(err, fs.ErrNotExist) {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		return nil, fmt.Errorf("no secret to sign with: CHAT_JWT_SECRET is not set and %s does not exist.\n"+
			"The server keeps the secret it generated beside its database. Point token at the server's database\n"+
			"with --db PATH or CHAT_DB=PATH (as you started the server), or set CHAT_JWT_SECRET to the server's secret", path)
	}
	return secret, err
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

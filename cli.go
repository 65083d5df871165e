package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
)

// serverUsage heads the server's flag list in its help.
const serverUsage = `Usage:
  resonate-chat [flags]              serve the chat (Ctrl-C or SIGTERM stops it)
  resonate-chat token --sub USER     print a token the server accepts (resonate-chat token --help)
  resonate-chat version              print the version
  resonate-chat help                 print this help

Every flag can also be set with the CHAT_* environment variable named beside
it; a flag wins. Bad values stop the server with exit code 2.

Flags:
`

// printServerUsage is the server FlagSet's Usage.
func printServerUsage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), serverUsage)
	fs.PrintDefaults()
}

// wantsHelp reports whether args ask for help (-h, -help or --help before
// any "--"): the answer then goes to stdout, as asked for, not to stderr.
func wantsHelp(args []string) bool {
	end := slices.Index(args, "--")
	if end < 0 {
		end = len(args)
	}
	return slices.ContainsFunc(args[:end], func(a string) bool { return a == "-h" || a == "-help" || a == "--help" })
}

// version describes this build from what the Go toolchain recorded in it:
// the module version ("(devel)" for a local build), the commit and the Go
// version.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "resonate-chat (unknown build)"
	}
	v := "resonate-chat " + info.Main.Version
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		v += fmt.Sprintf(" (commit %.12s%s)", rev, modified)
	}
	return v + ", API v1, " + info.GoVersion
}

// helpCommand prints the server's help, or a command's: help [token].
func helpCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "token" {
		return tokenCommand([]string{"-h"}, stdout, stderr)
	}
	_, _ = parseConfig([]string{"-h"}, stdout)
	return 0
}

// Package web holds the demo chat page served at /: plain HTML, CSS and
// JavaScript, embedded in the binary, with no build step. It talks to the
// public API exactly as README.md tells browser clients to.
package web

import "embed"

// Files are index.html, app.js and style.css.
//
//go:embed index.html app.js style.css
var Files embed.FS

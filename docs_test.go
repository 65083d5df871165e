package main

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/handlers"
	"github.com/resonate/resonate-chat/handlers/livekit"
	"github.com/resonate/resonate-chat/models"
	"github.com/resonate/resonate-chat/server"
)

// docFiles are the pages a reader of a clone sees: README.md and every
// Markdown file under docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir("docs", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, filepath.ToSlash(p))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	fence       = regexp.MustCompile("(?ms)^\\s*(```|~~~).*?^\\s*(```|~~~)\\s*$")
	codeSpan    = regexp.MustCompile("`[^`\n]*`")
	inlineLink  = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	refLink     = regexp.MustCompile(`(?m)^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	autoLink    = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>`)
	htmlLink    = regexp.MustCompile(`(?i)\b(?:href|src)\s*=\s*["']([^"']*)["']`)
	urlScheme   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	headingLine = regexp.MustCompile(`(?m)^#{1,6}\s+(.*?)\s*#*\s*$`)
	pathParam   = regexp.MustCompile(`:([a-z]+)`)
)

// links returns every link target in a Markdown page, code excluded.
func links(md string) []string {
	text := codeSpan.ReplaceAllString(fence.ReplaceAllString(md, ""), "")
	var out []string
	for _, re := range []*regexp.Regexp{inlineLink, refLink, autoLink, htmlLink} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// anchors are the heading ids GitHub gives a Markdown page.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range headingLine.FindAllStringSubmatch(fence.ReplaceAllString(md, ""), -1) {
		h := inlineLink.ReplaceAllStringFunc(m[1], func(l string) string { return l[strings.Index(l, "[")+1 : strings.Index(l, "]")] })
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		id := b.String()
		if n := seen[id]; n > 0 {
			out[id+"-"+strconv.Itoa(n)] = true
		} else {
			out[id] = true
		}
		seen[id]++
	}
	return out
}

// TestDocsLinksStayInRepo: every link in README.md and docs/ works in any
// clone. A relative link resolves to a file inside the repository (and to a
// heading of it, when it names one); a link that leaves the repository by
// path, or points at the filesystem, fails. Web addresses are left alone.
func TestDocsLinksStayInRepo(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{}
	read := func(p string) (string, bool) {
		if md, ok := pages[p]; ok {
			return md, true
		}
		b, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			return "", false
		}
		pages[p] = string(b)
		return pages[p], true
	}
	checked := 0
	for _, file := range docFiles(t) {
		md, _ := read(file)
		for _, target := range links(md) {
			checked++
			if urlScheme.MatchString(target) {
				if s := strings.ToLower(target); !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "mailto:") {
					t.Errorf("%s: link %q points outside the repository", file, target)
				}
				continue
			}
			ref, fragment, _ := strings.Cut(target, "#")
			if strings.HasPrefix(ref, "/") {
				t.Errorf("%s: link %q is absolute; a clone has no such path: make it relative", file, target)
				continue
			}
			dest := file
			if ref != "" {
				dest = path.Clean(path.Join(path.Dir(file), ref))
			}
			if dest == ".." || strings.HasPrefix(dest, "../") {
				t.Errorf("%s: link %q leaves the repository (%s)", file, target, dest)
				continue
			}
			info, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest)))
			if err != nil {
				t.Errorf("%s: link %q: %s is not in the repository", file, target, dest)
				continue
			}
			if fragment == "" || info.IsDir() || !strings.HasSuffix(dest, ".md") {
				continue
			}
			if page, _ := read(dest); !anchors(page)[fragment] {
				t.Errorf("%s: link %q: %s has no heading #%s", file, target, dest, fragment)
			}
		}
	}
	if checked < 10 {
		t.Errorf("checked %d links; the scanner is broken", checked)
	}
}

// TestDocsLinkCheckerCatchesEscapes proves the link check is not a formality.
func TestDocsLinkCheckerCatchesEscapes(t *testing.T) {
	md := "See [the contract](" + path.Join("..", "elsewhere", "API.md") + "), ![img](docs/demo.png), " +
		"<https://example.com/>,\n[ref]: /etc/passwd\n```sh\n[not a link](nowhere.md)\n```\n`[nor this](x.md)`\n" +
		"<a href=\"file:///tmp/x\">x</a>"
	got := strings.Join(links(md), " ")
	want := "../elsewhere/API.md docs/demo.png /etc/passwd https://example.com/ file:///tmp/x"
	if got != want {
		t.Errorf("links: got %q, want %q", got, want)
	}
	a := anchors("# Browser clients: history, then the stream\n## What a 201 means\n## `user.muted` / `user.unmuted`\n## What a 201 means\n")
	for _, id := range []string{"browser-clients-history-then-the-stream", "what-a-201-means", "usermuted--userunmuted", "what-a-201-means-1"} {
		if !a[id] {
			t.Errorf("anchors: no %q in %v", id, a)
		}
	}
}

// TestAPIDocCoversTheServer keeps docs/API.md in step with the code: every
// route the server serves, every error code, every event type and every
// moderation log action is named there (event types in docs/EVENTS.md too).
func TestAPIDocCoversTheServer(t *testing.T) {
	doc := readDoc(t, "docs/API.md")
	events := readDoc(t, "docs/EVENTS.md")

	for _, r := range serverRoutes(t) {
		p := strings.TrimPrefix(strings.ReplaceAll(r.Path, "/*any", "/"), "/api/v1")
		p = pathParam.ReplaceAllString(p, "{$1}")
		// A route is named with its method, or (outside the API) by its path.
		if !strings.Contains(doc, "`"+r.Method+" "+p+"`") && !(p != "/" && strings.Contains(doc, "`"+p+"`")) {
			t.Errorf("docs/API.md does not document %s %s (as `%s %s`)", r.Method, r.Path, r.Method, p)
		}
	}

	spec, err := handlers.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	v3, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		t.Fatal(err)
	}
	enum := func(schema, prop string) []string {
		var out []string
		for _, v := range v3.Components.Schemas[schema].Value.Properties[prop].Value.Enum {
			out = append(out, v.(string))
		}
		if len(out) == 0 {
			t.Fatalf("%s.%s has no enum in the spec", schema, prop)
		}
		return out
	}
	for _, code := range enum("api.Problem", "code") {
		if !strings.Contains(doc, "| `"+code+"` |") {
			t.Errorf("docs/API.md's error table has no row for `%s`", code)
		}
	}
	for _, action := range enum("api.LogEntry", "action") {
		if !strings.Contains(doc, "`"+action+"`") {
			t.Errorf("docs/API.md does not name the moderation log action `%s`", action)
		}
	}
	for _, typ := range eventTypes(t) {
		if !strings.Contains(doc, "`"+typ+"`") {
			t.Errorf("docs/API.md does not name the event `%s`", typ)
		}
		if !strings.Contains(events, "`"+typ+"`") {
			t.Errorf("docs/EVENTS.md does not name the event `%s`", typ)
		}
	}
}

// TestReadmeSaysWhichBearerIsWhich: the README tells a Swagger UI user to
// enter "Bearer <token>", and an OpenAPI 3 user to give the token alone.
func TestReadmeSaysWhichBearerIsWhich(t *testing.T) {
	var swaggerUI, openAPI bool
	for _, para := range strings.Split(readDoc(t, "README.md"), "\n\n") {
		para = strings.Join(strings.Fields(para), " ")
		swaggerUI = swaggerUI || strings.Contains(para, "/swagger/index.html") && strings.Contains(para, "enter `Bearer <token>`")
		openAPI = openAPI || strings.Contains(para, "/openapi.json") && strings.Contains(para, "token alone") && !strings.Contains(para, "enter `Bearer <token>`")
	}
	if !swaggerUI {
		t.Error("README.md: no paragraph tells Swagger UI (/swagger/index.html) users to enter `Bearer <token>`")
	}
	if !openAPI {
		t.Error("README.md: no paragraph says that /openapi.json's bearer scheme takes the token alone")
	}
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventTypes reads the event type constants (Event… = "…") of models.
func eventTypes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("models", "events.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, name := range vs.Names {
				if lit, ok := valueAt(vs, i).(*ast.BasicLit); ok && strings.HasPrefix(name.Name, "Event") && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
		}
		return true
	})
	if len(out) < 10 {
		t.Fatalf("found %d event types in models/events.go; the reader is broken", len(out))
	}
	return out
}

func valueAt(vs *ast.ValueSpec, i int) ast.Expr {
	if i < len(vs.Values) {
		return vs.Values[i]
	}
	return nil
}

// serverRoutes are the routes of a server built as main builds it, with every
// optional route on (--dev, the LiveKit webhook).
func serverRoutes(t *testing.T) gin.RoutesInfo {
	t.Helper()
	srv, err := server.New(context.Background(), server.Config{DB: filepath.Join(t.TempDir(), "chat.db"),
		Secret: []byte(strings.Repeat("s", 32)), Chat: models.Options{HistoryLimit: 100, MaxMessageLength: 2000},
		Dev: true, LiveKit: livekit.Config{APIKey: "k", APISecret: "s"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	engine, ok := srv.Handler.(*gin.Engine)
	if !ok {
		t.Fatalf("the server's handler is a %T, not a gin engine", srv.Handler)
	}
	return engine.Routes()
}

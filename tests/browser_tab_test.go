package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser side of the demo page's tests: one headless Chromium per test,
// a tab per user, and the page's state read back with small JavaScript
// expressions.

// browserWait bounds every wait on the page: generous, because two browser
// tabs and a -race server share two cores in CI.
const browserWait = 20 * time.Second

// chromium finds the browser, or skips (fails in CI) without one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CHAT_TEST_BROWSER") != "" {
		t.Fatal("CHAT_TEST_BROWSER is set but no chromium is installed (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH; set CHAT_TEST_BROWSER=1 to make this a failure")
	return ""
}

// startBrowser starts one headless Chromium for the test, with a fresh
// profile and nothing that reaches the network on its own.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 720),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		// Both tabs are "in the background" for a headless browser: keep their
		// timers and EventSource reconnects at full speed.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(browser); err != nil { // starts the browser, bound to this context
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// tab is one browser context (its own cookies and session storage: one user)
// with one page.
type tab struct {
	t       *testing.T
	name    string
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func newTab(t *testing.T, browser context.Context, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &tab{t: t, name: name, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b.mu.Lock()
			lines := make([]string, len(b.console))
			for i, m := range b.console {
				lines[i] = m.String()
			}
			b.mu.Unlock()
			t.Logf("%s's console:\n  %s", name, strings.Join(lines, "\n  "))
		}
	})
	return b
}

// consoleErrors is what the page has logged as an error or thrown uncaught
// so far, the browser's own complaints about the page included.
func (b *tab) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []string
	for _, m := range b.console {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			errs = append(errs, m.String())
		}
	}
	return errs
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
}

// waitJS waits until the expression is true in the page.
func (b *tab) waitJS(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	if err != nil {
		b.t.Fatalf("%s: waiting for %s: %v", b.name, what, err)
	}
}

func (b *tab) eval(expr string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify("+expr+")"))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		b.t.Fatalf("%s: decode %s: %v", b.name, s, err)
	}
}

// shownMessage is a message as the page shows it.
type shownMessage struct {
	Seq     int64  `json:"seq"`
	ID      string `json:"id"`
	Text    string `json:"text"`
	Deleted bool   `json:"deleted"`
}

func (b *tab) messages() []shownMessage {
	b.t.Helper()
	var out []shownMessage
	b.eval(`[...document.querySelectorAll('#messages li.msg')].map(li => ({seq: +li.dataset.seq, id: li.dataset.id,
		text: li.querySelector('.text').textContent, deleted: li.classList.contains('deleted')}))`, &out)
	return out
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (b *tab) waitMessage(text string) {
	b.t.Helper()
	b.waitJS("message "+jsString(text), `[...document.querySelectorAll('#messages li.msg:not(.deleted) .text')].some(e => e.textContent === `+jsString(text)+`)`)
}

// reactionButton is the JavaScript for a message's reaction button.
func reactionButton(text, emoji string) string {
	return `[...document.querySelectorAll('#messages li.msg')].find(li => li.querySelector('.text').textContent === ` + jsString(text) +
		`)?.querySelector('.reactions button[data-emoji=' + CSS.escape(` + jsString(emoji) + `) + ']')`
}

// react clicks a message's emoji button: the quick one, or its tally.
func (b *tab) react(text, emoji string) {
	b.t.Helper()
	b.waitJS("the "+emoji+" button", reactionButton(text, emoji))
	var ok bool
	b.eval(`(() => { const e = `+reactionButton(text, emoji)+`; e.click(); return true })()`, &ok)
}

// waitReaction waits until a message shows count for emoji, highlighted
// or not as mine.
func (b *tab) waitReaction(text, emoji string, count int, mine bool) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("%s × %d (mine: %v) on %q", emoji, count, mine, text), `(() => { const e = `+reactionButton(text, emoji)+`;
		return e && (e.querySelector('.count')?.textContent || '0') === '`+fmt.Sprint(count)+`' && e.getAttribute('aria-pressed') === '`+fmt.Sprint(mine)+`' })()`)
}

func (b *tab) waitLive() {
	b.t.Helper()
	b.waitJS("a live stream", `document.getElementById('conn').dataset.state === 'live'`)
}

// signIn opens the page and signs in through POST /dev/token.
func (b *tab) signIn(url, name string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SetValue(chromedp.ID("name"), name),
		chromedp.Click(chromedp.CSS("#name-form button")),
		chromedp.WaitVisible(chromedp.ID("room-id")))
}

// enter creates or joins a room from the lobby and waits for the live stream.
func (b *tab) enter(room, button string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.ID("room-id"), room),
		chromedp.SetValue(chromedp.ID("room-name"), "Friday jam"),
		chromedp.Click(chromedp.ID(button)),
		chromedp.WaitVisible(chromedp.ID("messages")))
	b.waitLive()
}

func (b *tab) say(text string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.ID("content"), text), chromedp.Click(chromedp.ID("send")))
	b.waitMessage(text)
}

// screenshot saves the tab's page as a PNG: the README's picture of the demo.
func screenshot(t *testing.T, b *tab, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

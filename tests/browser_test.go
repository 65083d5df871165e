package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/resonate/resonate-chat/api"
)

// The demo page at / in a real browser: Debian's Chromium, headless, driven
// with chromedp against the real server. CHAT_TEST_BROWSER=1 (set by .ci/run)
// makes a missing browser a failure instead of a skip.

// TestBrowserDemo: two users chat in two browser contexts; the owner
// moderates (delete, mute, lock, pin, ban) and the other page sees each action
// arrive live; the server restarts and the page resumes without losing or
// doubling a message.
func TestBrowserDemo(t *testing.T) {
	browser := startBrowser(t)
	s := StartServer(t, Options{Dev: true})
	room := "friday-jam"
	alice, bob := newTab(t, browser, "alice"), newTab(t, browser, "bob")
	alice.signIn(s.URL, "Alice")
	alice.enter(room, "create")
	bob.signIn(s.URL, "Bob")
	bob.enter(room, "join")

	alice.say("Welcome to the Friday jam!")
	bob.waitMessage("Welcome to the Friday jam!")
	bob.say("Thanks! Is the mic on?")
	alice.waitMessage("Thanks! Is the mic on?")

	// The owner sees the moderator controls, the participant does not.
	alice.waitJS("moderator controls", `document.querySelector('#people li[data-user="bob"] button[data-action="mute"]') &&
		!document.getElementById('mod-room').hidden && document.querySelectorAll('#messages .del').length === 2`)
	bob.waitJS("no moderator controls", `document.getElementById('mod-room').hidden && !document.querySelector('#people button')`)
	if os.Getenv("CHAT_DEMO_SCREENSHOT") != "" {
		screenshot(t, alice, filepath.Join("..", "docs", "demo.png"))
	}

	t.Run("text, never HTML", func(t *testing.T) {
		evil := `<img src=x onerror="window.pwned=1"><b>bold?</b>`
		bob.say(evil)
		alice.waitMessage(evil)
		var injected bool
		alice.eval(`!!document.querySelector('#messages img, #messages b') || window.pwned === 1`, &injected)
		if injected {
			t.Fatal("a message was rendered as HTML")
		}
	})

	t.Run("a reaction arrives live", func(t *testing.T) {
		const msg, emoji = "Welcome to the Friday jam!", "🎉"
		alice.react(msg, emoji)
		alice.waitReaction(msg, emoji, 1, true)
		bob.waitReaction(msg, emoji, 1, false) // by a message.reactions event
		bob.react(msg, emoji)
		bob.waitReaction(msg, emoji, 2, true)
		alice.waitReaction(msg, emoji, 2, true)
		alice.react(msg, emoji) // a second click takes mine back
		alice.waitReaction(msg, emoji, 1, false)
		bob.waitReaction(msg, emoji, 1, true)
		// What the server holds, as history shows it to a newcomer.
		dan := s.Client(t, "dan")
		dan.Join(room)
		page := dan.History(room, "").Messages
		i := slices.IndexFunc(page, func(m api.RoomMessage) bool { return m.Content == msg })
		if i < 0 || len(page[i].Reactions) != 1 || page[i].Reactions[0].Emoji != emoji || page[i].Reactions[0].Count != 1 {
			t.Fatalf("history's message %q: not there, or a tally other than one %s: %+v", msg, emoji, page)
		}
	})

	t.Run("a deletion arrives live", func(t *testing.T) {
		var id string
		for _, m := range alice.messages() {
			if m.Text == "Thanks! Is the mic on?" {
				id = m.ID
			}
		}
		alice.do(chromedp.Click(chromedp.CSS(`#messages li[data-id=` + jsString(id) + `] button.del`)))
		bob.waitJS("the tombstone", `document.querySelector('#messages li.msg.deleted[data-id=`+jsString(id)+`]')`)
		for _, m := range bob.messages() {
			if strings.Contains(m.Text, "mic") {
				t.Fatalf("the deleted text is still on bob's page: %+v", m)
			}
		}
	})

	t.Run("mute and lock arrive live", func(t *testing.T) {
		alice.do(chromedp.Click(chromedp.CSS(`#people li[data-user="bob"] button[data-action="mute"]`)))
		bob.waitJS("the mute", `document.getElementById('content').disabled && /muted until/.test(document.getElementById('standing').textContent)`)
		alice.do(chromedp.Click(chromedp.CSS(`#people li[data-user="bob"] button[data-action="unmute"]`)))
		bob.waitJS("the unmute", `!document.getElementById('content').disabled`)
		alice.do(chromedp.Click(chromedp.ID("lock")))
		bob.waitJS("the lock", `document.getElementById('content').disabled && !document.getElementById('lock-state').hidden`)
		alice.say("Only moderators may write for a moment.") // the owner is exempt
		bob.waitMessage("Only moderators may write for a moment.")
		alice.do(chromedp.Click(chromedp.ID("unlock")))
		bob.waitJS("the unlock", `!document.getElementById('content').disabled && document.getElementById('lock-state').hidden`)
	})

	t.Run("mentions are highlighted, more for me", func(t *testing.T) {
		// The composer sends the ids of the participants a message names
		// with @, by user id or by display name.
		alice.say("@bob is the mic on now?")
		bob.say("yes @Alice, loud and clear")
		page := s.Client(t, "alice").History(room, "?limit=2")
		if got := [][]string{page.Messages[1].Mentions, page.Messages[0].Mentions}; !slices.Equal(got[0], []string{"bob"}) || !slices.Equal(got[1], []string{"alice"}) {
			t.Fatalf("the composer sent mentions %v, want [bob] and [alice]", got)
		}
		mentioned := func(text, cls string) string {
			return `[...document.querySelectorAll('#messages li.msg')].some(li => li.querySelector('.text').textContent === ` + jsString(text) +
				` && li.matches(` + jsString(cls) + `))`
		}
		bob.waitJS("bob's mention, strongly", mentioned("@bob is the mic on now?", `.mentions-me`)+
			` && [...document.querySelectorAll('#messages .mention.me')].some(e => e.textContent === '@bob')`)
		alice.waitJS("bob's mention, for alice", mentioned("@bob is the mic on now?", `.mentions:not(.mentions-me)`)+
			` && [...document.querySelectorAll('#messages .mention:not(.me)')].some(e => e.textContent === '@bob')`)
		alice.waitJS("alice's mention, strongly", mentioned("yes @Alice, loud and clear", `.mentions-me`)+
			` && [...document.querySelectorAll('#messages .mention.me')].some(e => e.textContent === '@Alice')`)
	})

	t.Run("the page resumes after a restart", func(t *testing.T) {
		carol := s.Client(t, "carol")
		carol.Join(room)
		before := bob.messages()
		s.Restart(t, Options{Dev: true})
		// Written while bob's page is still reconnecting: the replay brings them.
		for i := 1; i <= 3; i++ {
			carol.Send(room, fmt.Sprintf("while you were away %d", i))
		}
		bob.waitMessage("while you were away 3")
		bob.waitLive()
		alice.waitLive()
		alice.say("and we are back")
		bob.waitMessage("and we are back")
		bob.say("all here")

		var want []string
		for _, m := range before {
			want = append(want, m.Text)
		}
		want = append(want, "while you were away 1", "while you were away 2", "while you were away 3", "and we are back", "all here")
		got := bob.messages()
		var texts []string
		for i, m := range got {
			texts = append(texts, m.Text)
			if i > 0 && m.Seq <= got[i-1].Seq {
				t.Errorf("bob's page is out of seq order at %d: %+v after %+v", i, m, got[i-1])
			}
		}
		if !slices.Equal(texts, want) {
			t.Fatalf("bob's page after the restart:\n got %q\nwant %q", texts, want)
		}
	})

	t.Run("a pin arrives live, shows on entering, and goes", func(t *testing.T) {
		var id string
		for _, m := range alice.messages() {
			if m.Text == "and we are back" {
				id = m.ID
			}
		}
		banner := `!document.getElementById('pinned').hidden && document.getElementById('pinned-text').textContent === "and we are back"`
		bob.waitJS("no pin yet, no pin controls", `document.getElementById('pinned').hidden && !document.querySelector('#messages button.pin')`)
		alice.do(chromedp.Click(chromedp.CSS(`#messages li[data-id=` + jsString(id) + `] button.pin`)))
		bob.waitJS("the pinned banner", banner)
		bob.waitJS("no unpin for a participant", `getComputedStyle(document.getElementById('unpin')).display === 'none'`)
		bob.do(chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("room-id")))
		bob.enter(room, "join")
		bob.waitJS("the pinned banner from the room", banner)
		alice.do(chromedp.Click(chromedp.ID("unpin")))
		bob.waitJS("the banner gone", `document.getElementById('pinned').hidden`)
		alice.waitJS("the banner gone", `document.getElementById('pinned').hidden`)
	})

	t.Run("a ban arrives live and ends the stream", func(t *testing.T) {
		alice.do(chromedp.Click(chromedp.CSS(`#people li[data-user="bob"] button[data-action="ban"]`)))
		bob.waitJS("the ban", `document.getElementById('conn').dataset.state === 'stopped' &&
			/banned/.test(document.getElementById('standing').textContent) && document.getElementById('content').disabled`)
		alice.waitJS("the notice", `[...document.querySelectorAll('#messages li.notice')].some(e => /Bob was banned/.test(e.textContent))`)
	})
}

// TestBrowserAuthExpired: when the token that opened the stream expires, the
// page gets auth.expired, fetches a fresh token and resumes from its last
// seq: nothing is lost, nothing shows twice.
func TestBrowserAuthExpired(t *testing.T) {
	browser := startBrowser(t)
	s := StartServer(t, Options{Dev: true})
	room := uniqueRoom(t)
	alice := s.Client(t, "alice")
	alice.CreateRoom(room)
	alice.Send(room, "before dave came")

	dave := newTab(t, browser, "dave")
	short := s.Token(t, "dave", false, 3*time.Second)
	dave.do(chromedp.Navigate(s.URL), chromedp.WaitVisible(chromedp.ID("signin")))
	var ignored bool
	dave.eval(`(sessionStorage.setItem('token', `+jsString(short)+`), true)`, &ignored)
	dave.do(chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("room-id")))
	dave.enter(room, "join")
	dave.waitMessage("before dave came")

	alice.Send(room, "one")
	dave.waitMessage("one")
	dave.waitJS("a fresh token", `sessionStorage.getItem('token') !== `+jsString(short))
	alice.Send(room, "two")
	dave.waitMessage("two")
	dave.waitLive()
	alice.Send(room, "three")
	dave.waitMessage("three")
	var texts []string
	for _, m := range dave.messages() {
		texts = append(texts, m.Text)
	}
	if want := []string{"before dave came", "one", "two", "three"}; !slices.Equal(texts, want) {
		t.Fatalf("dave's page: got %q, want %q", texts, want)
	}
}

// TestBrowserStaleToken: a token whose exp has just passed still reads
// history (the server allows a little clock skew), but a stream it opens would
// be refused: the page gets a fresh token before it asks for a stream ticket,
// instead of retrying a refused stream until the skew allowance runs out.
func TestBrowserStaleToken(t *testing.T) {
	browser := startBrowser(t)
	s := StartServer(t, Options{Dev: true})
	room := uniqueRoom(t)
	alice := s.Client(t, "alice")
	alice.CreateRoom(room)
	alice.Send(room, "before mo came")

	mo := newTab(t, browser, "mo")
	stale := s.Token(t, "mo", false, -2*time.Second)
	mo.do(chromedp.Navigate(s.URL), chromedp.WaitVisible(chromedp.ID("signin")))
	var ignored bool
	mo.eval(`(sessionStorage.setItem('token', `+jsString(stale)+`), true)`, &ignored)
	mo.do(chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("room-id")))
	mo.enter(room, "join") // waits for the live stream
	mo.waitMessage("before mo came")
	alice.Send(room, "hello mo")
	mo.waitMessage("hello mo")
	var token string
	mo.eval(`sessionStorage.getItem('token')`, &token)
	if token == stale {
		t.Error("the page streams with its stale token")
	}
}

// TestBrowserRefusedReconnect: the server comes back with a new secret, so
// EventSource's own reconnect (old ticket) is refused with a 401 and so is the
// old token. The page gets a fresh token and ticket and resumes from its last
// seq without losing or doubling a message.
func TestBrowserRefusedReconnect(t *testing.T) {
	browser := startBrowser(t)
	s := StartServer(t, Options{Dev: true})
	room := uniqueRoom(t)
	frank := newTab(t, browser, "frank")
	frank.signIn(s.URL, "Frank")
	frank.enter(room, "create")
	frank.say("before the rotation")
	var oldToken string
	frank.eval(`sessionStorage.getItem('token')`, &oldToken)

	s.Secret = []byte(strings.Repeat("rotated-secret-", 4))
	s.Restart(t, Options{Dev: true})
	gina := s.Client(t, "gina") // signed with the new secret
	gina.Join(room)
	gina.Send(room, "after the rotation")
	frank.waitMessage("after the rotation")
	frank.waitLive()
	frank.say("still here")
	var newToken string
	frank.eval(`sessionStorage.getItem('token')`, &newToken)
	if newToken == oldToken {
		t.Error("the page kept its old token")
	}
	var texts []string
	for _, m := range frank.messages() {
		texts = append(texts, m.Text)
	}
	if want := []string{"before the rotation", "after the rotation", "still here"}; !slices.Equal(texts, want) {
		t.Fatalf("frank's page: got %q, want %q", texts, want)
	}
}

// TestBrowserPasteToken: without --dev the page asks for a token and works
// with a pasted one.
func TestBrowserPasteToken(t *testing.T) {
	browser := startBrowser(t)
	s := StartServer(t, Options{})
	room := uniqueRoom(t)
	erin := newTab(t, browser, "erin")
	erin.do(chromedp.Navigate(s.URL), chromedp.WaitVisible(chromedp.ID("token")), chromedp.WaitNotVisible(chromedp.ID("name")),
		chromedp.SetValue(chromedp.ID("token"), s.Token(t, "erin", false, time.Hour)),
		chromedp.Click(chromedp.CSS("#token-form button")),
		chromedp.WaitVisible(chromedp.ID("room-id")))
	erin.enter(room, "create")
	erin.say("pasted tokens work too")
	erin.wantNoConsoleErrors()
}

// TestBrowserPageWithoutDev: a default start serves the page, which then
// asks for a token, and has no token endpoint at all.
func TestBrowserPageWithoutDev(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	anon := &Client{t: t, s: s}
	page := anon.Do("GET", "/", nil)
	if page.Status != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q", page.Status, page.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(page.Body), `<body data-dev="false">`) {
		t.Error(`the page does not say data-dev="false"`)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	r := anon.Do("POST", "/dev/token", map[string]string{"sub": "mallory", "name": "Mallory"})
	if p := r.Problem(t); r.Status != 404 || p.Code != "not_found" {
		t.Fatalf("POST /dev/token without --dev: %d %s, want a 404 problem", r.Status, r.Body)
	}
	if strings.Contains(s.Logs.String(), "DEVELOPMENT MODE") {
		t.Error("a default start logs the development warning")
	}
	js := anon.Do("GET", "/app.js", nil)
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(js.Body), sink) {
			t.Errorf("app.js uses %s: render text with textContent", sink)
		}
	}
}

// TestBrowserDevToken: with --dev, POST /dev/token signs working tokens, and
// the server says loudly that it does.
func TestBrowserDevToken(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Dev: true})
	if !strings.Contains(s.Logs.String(), "DEVELOPMENT MODE") {
		t.Error("no development warning in the log")
	}
	anon := &Client{t: t, s: s}
	var tok struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	anon.Must(201, "POST", "/dev/token", map[string]string{"sub": "alice", "name": "Alice"}, &tok)
	alice := &Client{t: t, s: s, User: "alice", Token: tok.Token}
	if room := alice.CreateRoom(uniqueRoom(t)); room.OwnerID != "alice" {
		t.Fatalf("owner = %q, want alice", room.OwnerID)
	}
	if page := anon.Do("GET", "/", nil); !strings.Contains(string(page.Body), `<body data-dev="true">`) {
		t.Error(`the page does not say data-dev="true"`)
	}
	for _, body := range []string{`{"name":"No sub"}`, `{"sub":"a b\u0000"}`, `{"sub":"alice","ttl_seconds":100000000}`, `{"sub":"alice","admin":true}`} {
		if r := anon.Do("POST", "/dev/token", body); r.Status != 400 || r.Problem(t).Code != "invalid" {
			t.Errorf("POST /dev/token %s: %d %s, want 400 invalid", body, r.Status, r.Body)
		}
	}
}

package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// The demo page as a person sees it, at a desktop and at phone sizes: which
// panels are on the screen, how wide a message line is, what the console
// says. Every step is also saved as a screenshot, in the directory
// CHAT_TEST_SCREENSHOTS names (a temporary one when it is unset), for a
// person to look at.

// screen is a window the page must work in, in CSS pixels.
type screen struct {
	name          string
	width, height int64
	phone         bool // portrait, touch, a device pixel ratio of 2, and the page's viewport meta tag applies
}

var (
	desktop    = screen{"desktop", 1100, 720, false}
	phone      = screen{"phone", 390, 844, true}       // a common phone today
	smallPhone = screen{"small_phone", 360, 640, true} // the narrowest the page promises to be usable at
)

// TestBrowserPanels: sign-in and the lobby show no room panel; the room shows
// it; after Leave the old room is gone from the screen and from the page, and
// the server has the user out of the room.
func TestBrowserPanels(t *testing.T) {
	browser := startBrowser(t)
	s := StartServer(t, Options{Dev: true})
	roomParts := []string{"chat", "leave", "messages", "people", "composer"}
	for _, sc := range []screen{desktop, phone} {
		t.Run(sc.name, func(t *testing.T) {
			room := uniqueRoom(t)
			hana := newTab(t, browser, "hana")
			hana.viewport(sc)
			hana.do(chromedp.Navigate(s.URL), chromedp.WaitVisible(chromedp.ID("name")))
			hana.wantSeen("signing in", map[string]bool{"signin": true, "lobby": false}, roomParts...)
			hana.shot(sc, "1-signin")

			hana.do(chromedp.SetValue(chromedp.ID("name"), "Hana"), chromedp.Click(chromedp.CSS("#name-form button")),
				chromedp.WaitVisible(chromedp.ID("room-id")))
			hana.wantSeen("in the lobby", map[string]bool{"signin": false, "lobby": true}, roomParts...)
			hana.shot(sc, "2-lobby")

			hana.enter(room, "create")
			ivan := s.Client(t, "ivan")
			ivan.Join(room)
			ivan.Send(room, "hello Hana")
			hana.waitMessage("hello Hana")
			hana.say("hello Ivan")
			hana.wantSeen("in the room", map[string]bool{"signin": false, "lobby": false, "chat": true, "leave": true,
				"messages": true, "composer": true, "people": !sc.phone})
			hana.shot(sc, "3-room")

			hana.do(chromedp.Click(chromedp.ID("leave")), chromedp.WaitVisible(chromedp.ID("room-id")))
			hana.wantSeen("after Leave", map[string]bool{"signin": false, "lobby": true}, roomParts...)
			var left struct {
				Items int
				Title string
			}
			hana.eval(`({items: document.querySelectorAll('#messages li, #people li').length,
				title: document.getElementById('room-title').textContent})`, &left)
			if left.Items != 0 || left.Title != "" {
				t.Errorf("after Leave the page still holds the old room: %d messages and people, title %q", left.Items, left.Title)
			}
			hana.shot(sc, "4-left")
			var people api.ParticipantList
			ivan.Must(200, "GET", "/api/v1/rooms/"+room+"/participants", nil, &people)
			for _, p := range people.Participants {
				if p.UserID == "hana" {
					t.Error("after Leave the server still has hana in the room")
				}
			}
			hana.wantNoConsoleErrors()
		})
	}
}

// TestBrowserPhone: on a phone the messages get the width, the People list
// folds away behind a toggle and still works, and nothing is wider than the
// screen.
func TestBrowserPhone(t *testing.T) {
	browser := startBrowser(t)
	s := StartServer(t, Options{Dev: true})
	for _, sc := range []screen{phone, smallPhone} {
		t.Run(sc.name, func(t *testing.T) {
			room := uniqueRoom(t)
			june := newTab(t, browser, "june")
			june.viewport(sc)
			june.signIn(s.URL, "June")
			june.enter(room, "create")
			kai := s.Client(t, "kai")
			kai.Join(room)
			long := "Is everyone here? The set starts at nine, so please be on time and bring the cables."
			kai.Send(room, long)
			june.waitMessage(long)
			june.say("On my way!")
			for i := range 30 {
				kai.Send(room, fmt.Sprintf("line %d of a long evening", i+1))
			}
			june.waitMessage("line 30 of a long evening")
			june.react(long, "👍") // a tally under a message must fit too
			june.waitReaction(long, "👍", 1, true)

			june.wantSeen("in the room", map[string]bool{"messages": true, "composer": true, "leave": true,
				"people-toggle": true, "people": false})
			june.wantFits("in the room", "leave", "people-toggle", "content", "send", "who", "conn")
			var narrowest float64
			june.eval(`Math.min(...[...document.querySelectorAll('#messages li.msg')].map((li) => li.getBoundingClientRect().width))`, &narrowest)
			if narrowest < 250 {
				t.Errorf("the narrowest message line is %.0f px wide on a %d px screen, want at least 250", narrowest, sc.width)
			}
			june.shot(sc, "1-room")

			june.do(chromedp.Click(chromedp.ID("people-toggle")))
			june.waitJS("the People list", `document.getElementById('people').checkVisibility()`)
			june.wantSeen("with People open", map[string]bool{"people": true, "messages": true, "composer": true})
			june.wantFits("with People open", "people")
			june.shot(sc, "2-people")
			june.do(chromedp.Click(chromedp.CSS(`#people li[data-user="kai"] button[data-action="mute"]`)))
			june.waitJS("kai muted", `document.querySelector('#people li[data-user="kai"] .muted')`)

			june.do(chromedp.Click(chromedp.ID("people-toggle")))
			june.waitJS("the People list folded", `!document.getElementById('people').checkVisibility()`)
			june.wantSeen("with People folded", map[string]bool{"people": false, "messages": true})
			june.wantNoConsoleErrors()
		})
	}
}

// TestBrowserRoomID: the lobby's room id field checks ids as the server does,
// so a bad id is refused before it is sent, and no page load logs an error.
func TestBrowserRoomID(t *testing.T) {
	browser := startBrowser(t)
	s := StartServer(t, Options{Dev: true})
	lee := newTab(t, browser, "lee")
	lee.viewport(desktop)
	lee.signIn(s.URL, "Lee")
	for _, id := range []string{"friday-jam", "Room_42", "a", strings.Repeat("a", 64),
		"", "two words", "café", "a/b", "a.b", strings.Repeat("a", 65)} {
		var valid bool
		lee.eval(`(() => { const e = document.getElementById('room-id'); e.value = `+jsString(id)+`; return e.checkValidity(); })()`, &valid)
		if want := models.ValidRoomID(id); valid != want {
			t.Errorf("the page's check of room id %q: valid = %v, want %v (the server's)", id, valid, want)
		}
	}
	lee.do(chromedp.SetValue(chromedp.ID("room-id"), "two words"), chromedp.Click(chromedp.ID("create")))
	lee.waitJS("the refusal", `document.querySelector('#room-id:invalid')`)
	lee.wantSeen("after a bad id", map[string]bool{"lobby": true})
	lee.shot(desktop, "bad-id")
	lee.enter(uniqueRoom(t), "create")
	lee.do(chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("room-id"))) // a second load, signed in
	lee.wantNoConsoleErrors()
}

// viewport makes the tab's window the screen's size.
func (b *tab) viewport(s screen) {
	b.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if s.phone {
		opts = append(opts, chromedp.EmulatePortrait, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	b.do(chromedp.EmulateViewport(s.width, s.height, opts...))
}

// seen reports, for each element id, whether a person sees the element: it
// is rendered (no display: none or visibility: hidden on it or above it) and
// its box has an area.
func (b *tab) seen(ids ...string) map[string]bool {
	b.t.Helper()
	list, _ := json.Marshal(ids)
	var got map[string]bool
	b.eval(`Object.fromEntries(`+string(list)+`.map((id) => {
		const e = document.getElementById(id), r = e?.getBoundingClientRect();
		return [id, !!e && e.checkVisibility({ visibilityProperty: true }) && r.width > 0 && r.height > 0];
	}))`, &got)
	return got
}

// wantSeen checks which elements a person sees: those in want as it says,
// and the hidden ones not at all.
func (b *tab) wantSeen(when string, want map[string]bool, hidden ...string) {
	b.t.Helper()
	want = maps.Clone(want)
	for _, id := range hidden {
		want[id] = false
	}
	ids := slices.Sorted(maps.Keys(want))
	got := b.seen(ids...)
	for _, id := range ids {
		if got[id] != want[id] {
			b.t.Errorf("%s, %s: #%s is on the screen: got %v, want %v", b.name, when, id, got[id], want[id])
		}
	}
}

// wantFits checks that each element lies wholly inside the window's width.
func (b *tab) wantFits(when string, ids ...string) {
	b.t.Helper()
	list, _ := json.Marshal(ids)
	var outside []string
	b.eval(string(list)+`.filter((id) => {
		const r = document.getElementById(id)?.getBoundingClientRect();
		return !r || r.left < 0 || r.right > document.documentElement.clientWidth;
	})`, &outside)
	if len(outside) > 0 {
		b.t.Errorf("%s, %s: missing or sticking out of the window: #%s", b.name, when, strings.Join(outside, ", #"))
	}
	var widths [2]int // the page's, the window's
	b.eval(`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`, &widths)
	if widths[0] > widths[1] {
		b.t.Errorf("%s, %s: the page is %d px wide in a %d px window: it scrolls sideways", b.name, when, widths[0], widths[1])
	}
	var below []string // the composer stays in view however long the history
	b.eval(`['content', 'send'].filter((id) => document.getElementById(id).getBoundingClientRect().bottom > window.innerHeight)`, &below)
	if len(below) > 0 {
		b.t.Errorf("%s, %s: below the bottom of the window: #%s", b.name, when, strings.Join(below, ", #"))
	}
}

func (b *tab) wantNoConsoleErrors() {
	b.t.Helper()
	if errs := b.consoleErrors(); len(errs) > 0 {
		b.t.Errorf("%s's console has errors:\n  %s", b.name, strings.Join(errs, "\n  "))
	}
}

// shot saves what the tab shows as <test>-<step>.png and checks that the
// picture is the screen's width.
func (b *tab) shot(s screen, step string) {
	b.t.Helper()
	dir := os.Getenv("CHAT_TEST_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	path := filepath.Join(dir, strings.NewReplacer("/", "-", " ", "_").Replace(b.t.Name())+"-"+step+".png")
	screenshot(b.t, b, path)
	data, err := os.ReadFile(path)
	if err != nil {
		b.t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		b.t.Fatalf("%s: %v", path, err)
	}
	scale := int64(1)
	if s.phone {
		scale = 2
	}
	if got, want := int64(cfg.Width), s.width*scale; got != want {
		b.t.Errorf("%s is %d pixels wide, want %d (the %s screen)", path, got, want, s.name)
	}
}

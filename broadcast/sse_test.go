package broadcast

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// sseField is one field line of an SSE stream, as the client's parser sees it.
type sseField struct{ name, value string }

// sseBlock is everything between two blank lines: its fields and comments.
type sseBlock struct {
	fields   []sseField
	comments []string
}

// sseEvent is a dispatched event.
type sseEvent struct {
	lastID string
	typ    string
	data   string
}

// sseStream is what a client made of a byte stream.
type sseStream struct {
	blocks []sseBlock
	events []sseEvent
	// retry is the last valid retry value, or -1.
	retry int64
	// rest is an unterminated final line, which a client never processes.
	rest string
}

// parseSSE interprets b as the HTML Living Standard's event stream parser
// does (section 9.2.6), on bytes instead of decoded text: lines end at CR LF,
// LF or CR; a blank line dispatches; a line starting with a colon is a
// comment; one space after the colon is dropped.
func parseSSE(b []byte) sseStream {
	out := sseStream{retry: -1}
	var block sseBlock
	var data, typ, lastID strings.Builder
	dataSet := false
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			out.rest = string(b)
			break
		}
		line := string(b[:i])
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
		switch {
		case line == "":
			out.blocks = append(out.blocks, block)
			block = sseBlock{}
			if dataSet {
				d := strings.TrimSuffix(data.String(), "\n")
				t := typ.String()
				if t == "" {
					t = "message"
				}
				out.events = append(out.events, sseEvent{lastID: lastID.String(), typ: t, data: d})
			}
			data.Reset()
			typ.Reset()
			dataSet = false
			continue
		case line[0] == ':':
			block.comments = append(block.comments, line[1:])
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		block.fields = append(block.fields, sseField{name, value})
		switch name {
		case "event":
			typ.Reset()
			typ.WriteString(value)
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			dataSet = true
		case "id":
			if !strings.Contains(value, "\x00") {
				lastID.Reset()
				lastID.WriteString(value)
			}
		case "retry":
			if n, err := strconv.ParseInt(value, 10, 64); err == nil && value != "" && strings.Trim(value, "0123456789") == "" {
				out.retry = n
			}
		}
	}
	return out
}

// normalizeNewlines turns CR LF and lone CR into LF, as the data round trip
// is expected to.
func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// checkFrame parses Frame's output and checks that it is exactly one event
// whose fields are the id, the event and one data line per line of data, and
// that the data comes back with its newlines normalised.
func checkFrame(t *testing.T, id int64, event string, data []byte) {
	t.Helper()
	out := Frame(id, event, data)
	s := parseSSE(out)
	if s.rest != "" {
		t.Fatalf("Frame(%d, %q, %q) left an unterminated line %q", id, event, data, s.rest)
	}
	if len(s.blocks) != 1 || len(s.events) != 1 {
		t.Fatalf("Frame(%d, %q, %q) = %q: got %d blocks and %d events, want 1 and 1", id, event, data, out, len(s.blocks), len(s.events))
	}
	wantData := normalizeNewlines(string(data))
	wantEvent := strings.NewReplacer("\r", " ", "\n", " ").Replace(event)
	var want []sseField
	if id != 0 {
		want = append(want, sseField{"id", strconv.FormatInt(id, 10)})
	}
	if event != "" {
		want = append(want, sseField{"event", wantEvent})
	}
	for _, line := range strings.Split(wantData, "\n") {
		want = append(want, sseField{"data", line})
	}
	got := s.blocks[0]
	if len(got.comments) != 0 {
		t.Errorf("Frame(%d, %q, %q): got comments %q, want none", id, event, data, got.comments)
	}
	if len(got.fields) != len(want) {
		t.Fatalf("Frame(%d, %q, %q) = %q: got fields %q, want %q", id, event, data, out, got.fields, want)
	}
	for i := range want {
		if got.fields[i] != want[i] {
			t.Errorf("Frame(%d, %q, %q): field %d: got %q, want %q", id, event, data, i, got.fields[i], want[i])
		}
	}
	ev := s.events[0]
	if ev.data != wantData {
		t.Errorf("Frame(%d, %q, %q): got data %q, want %q", id, event, data, ev.data, wantData)
	}
	wantType := wantEvent
	if wantType == "" {
		wantType = "message"
	}
	if ev.typ != wantType {
		t.Errorf("Frame(%d, %q, %q): got event type %q, want %q", id, event, data, ev.typ, wantType)
	}
	wantID := ""
	if id != 0 {
		wantID = strconv.FormatInt(id, 10)
	}
	if ev.lastID != wantID {
		t.Errorf("Frame(%d, %q, %q): got last event id %q, want %q", id, event, data, ev.lastID, wantID)
	}
}

func TestFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		id    int64
		event string
		data  string
		// want is Frame's exact output.
		want string
	}{
		{"plain", 17, "message.created", `{"seq":17}`, "id: 17\nevent: message.created\ndata: {\"seq\":17}\n\n"},
		{"no id", 0, "history.reset", `{}`, "event: history.reset\ndata: {}\n\n"},
		{"no event", 3, "", "x", "id: 3\ndata: x\n\n"},
		{"empty data", 1, "e", "", "id: 1\nevent: e\ndata: \n\n"},
		{"LF in data", 1, "e", "a\nb", "id: 1\nevent: e\ndata: a\ndata: b\n\n"},
		{"CR in data", 1, "e", "a\rb", "id: 1\nevent: e\ndata: a\ndata: b\n\n"},
		{"CRLF in data is one break", 1, "e", "a\r\nb", "id: 1\nevent: e\ndata: a\ndata: b\n\n"},
		{"LF CR is two breaks", 1, "e", "a\n\rb", "id: 1\nevent: e\ndata: a\ndata: \ndata: b\n\n"},
		{"trailing CR", 1, "e", "a\r", "id: 1\nevent: e\ndata: a\ndata: \n\n"},
		{"blank line in data cannot end the event", 1, "e", "a\n\nid: 666\nevent: evil\ndata: x", "id: 1\nevent: e\ndata: a\ndata: \ndata: id: 666\ndata: event: evil\ndata: data: x\n\n"},
		{"LF in event", 1, "a\nid: 9", "x", "id: 1\nevent: a id: 9\ndata: x\n\n"},
		{"CR in event", 1, "a\rdata: evil", "x", "id: 1\nevent: a data: evil\ndata: x\n\n"},
		{"CRLF in event", 1, "a\r\n\r\nevent: evil", "x", "id: 1\nevent: a    event: evil\ndata: x\n\n"},
		{"leading space kept", 1, " e", "  x", "id: 1\nevent:  e\ndata:   x\n\n"},
		{"negative id", -5, "e", "x", "id: -5\nevent: e\ndata: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(Frame(tt.id, tt.event, []byte(tt.data))); got != tt.want {
				t.Errorf("Frame(%d, %q, %q): got %q, want %q", tt.id, tt.event, tt.data, got, tt.want)
			}
			checkFrame(t, tt.id, tt.event, []byte(tt.data))
		})
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	for _, ms := range []int64{0, 250, 2000, 1 << 40} {
		t.Run(strconv.FormatInt(ms, 10), func(t *testing.T) {
			t.Parallel()
			s := parseSSE(Retry(ms))
			if s.retry != ms {
				t.Errorf("Retry(%d): got retry %d, want %d", ms, s.retry, ms)
			}
			if len(s.events) != 0 || len(s.blocks) != 1 || len(s.blocks[0].fields) != 1 || s.rest != "" {
				t.Errorf("Retry(%d) = %q: got %d events, blocks %+v, rest %q; want one block with one field and no event",
					ms, Retry(ms), len(s.events), s.blocks, s.rest)
			}
		})
	}
}

func TestComment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"ping", "ping", " ping"},
		{"empty", "", " "},
		{"LF cannot start a field", "x\ndata: evil\n\n", " x data: evil  "},
		{"CR cannot start a field", "x\rid: 9\r\r", " x id: 9  "},
		{"CRLF", "x\r\nevent: evil", " x  event: evil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := Comment(tt.text)
			s := parseSSE(out)
			if len(s.events) != 0 || s.retry != -1 || s.rest != "" {
				t.Errorf("Comment(%q) = %q: got %d events, retry %d, rest %q; want none", tt.text, out, len(s.events), s.retry, s.rest)
			}
			if len(s.blocks) != 1 || len(s.blocks[0].fields) != 0 || len(s.blocks[0].comments) != 1 {
				t.Fatalf("Comment(%q) = %q: got blocks %+v, want one block with one comment", tt.text, out, s.blocks)
			}
			if got := s.blocks[0].comments[0]; got != tt.want {
				t.Errorf("Comment(%q): got comment %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

// TestStreamOfFrames checks that frames, comments and retries written one
// after another are read back as the same events, in order.
func TestStreamOfFrames(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	b.Write(Retry(2000))
	b.Write(Frame(1, "message.created", []byte("one\r\ntwo")))
	b.Write(Comment("ping\n\ndata: injected"))
	b.Write(Frame(0, "history.reset", []byte(`{"oldest_seq":5}`)))
	b.Write(Frame(5, "message.deleted\n\nevent: x", []byte("five")))
	s := parseSSE(b.Bytes())
	want := []sseEvent{
		{"1", "message.created", "one\ntwo"},
		{"1", "history.reset", `{"oldest_seq":5}`},
		{"5", "message.deleted  event: x", "five"},
	}
	if s.retry != 2000 {
		t.Errorf("got retry %d, want 2000", s.retry)
	}
	if len(s.events) != len(want) {
		t.Fatalf("got events %+v, want %+v", s.events, want)
	}
	for i := range want {
		if s.events[i] != want[i] {
			t.Errorf("event %d: got %+v, want %+v", i, s.events[i], want[i])
		}
	}
}

// FuzzFrameRoundTrip checks that no id, event name or payload can make Frame
// write anything but one event carrying exactly that data.
func FuzzFrameRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, id int64, event string, data []byte) {
		checkFrame(t, id, event, data)
	})
}

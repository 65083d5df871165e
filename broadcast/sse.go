package broadcast

import (
	"bytes"
	"strconv"
	"strings"
)

// Frame encodes one SSE event: an id line (left out when id is 0), an event
// line, and one data line per line of data. CR and LF cannot occur inside a
// field, so the event name has them replaced by spaces and data is split at
// each CR LF, CR or LF: nothing a payload holds can inject a field.
func Frame(id int64, event string, data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data) + len(event) + 40)
	if id != 0 {
		b.WriteString("id: ")
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteByte('\n')
	}
	if event != "" {
		b.WriteString("event: ")
		b.WriteString(oneLine(event))
		b.WriteByte('\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		b.WriteString("data: ")
		if i < 0 {
			b.Write(data)
			b.WriteByte('\n')
			break
		}
		b.Write(data[:i])
		b.WriteByte('\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// Retry encodes the retry field that sets the client's reconnection delay.
func Retry(ms int64) []byte {
	return []byte("retry: " + strconv.FormatInt(ms, 10) + "\n\n")
}

// Comment encodes a comment line, which clients ignore: a keep-alive.
func Comment(text string) []byte {
	return []byte(": " + oneLine(text) + "\n\n")
}

// oneLine replaces CR and LF by spaces, so s fits in one SSE field. Event
// names and comments almost never hold either, so the common case allocates
// nothing.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	b := []byte(s) // byte by byte: any other byte, valid UTF-8 or not, stays as it is
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

package broadcast

import (
	"encoding/binary"
	"errors"
)

// wireVersion leads every payload, so a node can refuse a format it does not
// know (during a rolling upgrade) instead of misreading it; the periodic
// catch-up then reads the event from the log. Version 2 carries the streams
// an event ends instead of its target.
const wireVersion = 2

// maxWireString bounds the room, type and target fields of a payload: far
// above any valid value, low enough that a corrupt length cannot make a
// node allocate much.
const maxWireString = 1024

var errWire = errors.New("malformed fan-out payload")

// encodeWire packs ev for Redis: the version byte, the room, seq, type and
// EndsUser (each string a uvarint length and its bytes, seq a uvarint), a
// byte for EndsAll, then the SSE frame as the rest. The frame is already
// encoded, so nodes relay it as is.
func encodeWire(ev *Event) []byte {
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+len(ev.Room)+len(ev.Type)+len(ev.EndsUser)+binary.MaxVarintLen64+len(ev.Frame))
	b = append(b, wireVersion)
	b = appendString(b, ev.Room)
	b = binary.AppendUvarint(b, uint64(ev.Seq))
	b = appendString(b, ev.Type)
	b = appendString(b, ev.EndsUser)
	var all byte
	if ev.EndsAll {
		all = 1
	}
	b = append(b, all)
	return append(b, ev.Frame...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeWire unpacks a payload of encodeWire; anything else is errWire.
func decodeWire(p []byte) (*Event, error) {
	if len(p) == 0 || p[0] != wireVersion {
		return nil, errWire
	}
	r := wireReader{b: p[1:]}
	ev := &Event{Room: r.string()}
	seq := r.uvarint()
	ev.Type, ev.EndsUser = r.string(), r.string()
	if r.bad || seq == 0 || seq > 1<<62 || ev.Room == "" || ev.Type == "" || len(r.b) < 2 || r.b[0] > 1 {
		return nil, errWire
	}
	ev.Seq, ev.EndsAll, ev.Frame = int64(seq), r.b[0] == 1, r.b[1:]
	return ev, nil
}

// wireReader reads fields off the front of b; a short or oversized field
// sets bad and yields zero values from then on.
type wireReader struct {
	b   []byte
	bad bool
}

func (r *wireReader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) string() string {
	n := r.uvarint()
	if r.bad || n > maxWireString || n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

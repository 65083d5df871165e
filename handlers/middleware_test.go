package handlers

import (
	"net/url"
	"strings"
	"testing"
)

func TestMaskURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, query string
		want              string
		// secrets must not appear in the output.
		secrets []string
	}{
		{"no query", "/api/v1/rooms/r/events", "", "/api/v1/rooms/r/events", nil},
		{"plain parameters are kept", "/api/v1/rooms/r/messages", "limit=5&before=10", "/api/v1/rooms/r/messages?before=10&limit=5", nil},
		{"after and last_event_id are kept", "/x", "after=7&last_event_id=12", "/x?after=7&last_event_id=12", nil},
		{"ticket", "/api/v1/rooms/r/events", "ticket=eyJ.tkt.sig&last_event_id=5", "/api/v1/rooms/r/events?last_event_id=5&ticket=***", []string{"eyJ.tkt.sig"}},
		{"token", "/x", "token=eyJ.tok.sig", "/x?token=***", []string{"eyJ.tok.sig"}},
		{"access_token", "/x", "access_token=eyJ.acc.sig&a=1", "/x?a=***&access_token=***", []string{"eyJ.acc.sig"}},
		{"all three", "/x", "ticket=t1secret&token=t2secret&access_token=t3secret", "/x?access_token=***&ticket=***&token=***", []string{"t1secret", "t2secret", "t3secret"}},
		{"twice", "/x", "ticket=first_secret&ticket=second_secret", "/x?ticket=***", []string{"first_secret", "second_secret"}},
		{"no value", "/x", "ticket", "/x?ticket=***", nil},
		{"escaped key", "/x", "tick%65t=keysecret", "/x?ticket=***", []string{"keysecret"}},
		{"escaped value", "/x", "ticket=a%2Fsecret%3D", "/x?ticket=***", []string{"secret"}},
		{"Ticket in another case", "/x", "Ticket=eyJcasesecret", "/x?Ticket=***", []string{"eyJcasesecret"}},
		{"TOKEN in capitals", "/x", "TOKEN=eyJcapsecret", "/x?TOKEN=***", []string{"eyJcapsecret"}},
		{"jwt", "/x", "jwt=eyJjwtsecret&limit=3", "/x?jwt=***&limit=3", []string{"eyJjwtsecret"}},
		{"any other name", "/x", "auth=opaque-secret&x=1", "/x?auth=***&x=***", []string{"opaque-secret"}},
		{"a plain name in another case is not plain", "/x", "Limit=eyJlimitsecret", "/x?Limit=***", []string{"eyJlimitsecret"}},
		{"a plain name with a value that is not a number", "/x", "limit=eyJwrongplace&before=2", "/x?before=2&limit=***", []string{"eyJwrongplace"}},
		{"a token as a bare name", "/x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.bare_secret", "/x?***=***", []string{"bare_secret"}},
		{"semicolon after the ticket", "/x", "ticket=semisecret;x=1", "/x?***", []string{"semisecret"}},
		{"semicolon before the ticket", "/x", "a=1;ticket=semisecret", "/x?***", []string{"semisecret"}},
		{"bad escape in the ticket", "/x", "ticket=bad%zzsecret", "/x?***", []string{"bad", "zzsecret"}},
		{"bad escape elsewhere", "/x", "x=%zz&ticket=goodsecret", "/x?***", []string{"goodsecret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := MaskURL(&url.URL{Path: tt.path, RawQuery: tt.query})
			if got != tt.want {
				t.Errorf("MaskURL(%s?%s): got %q, want %q", tt.path, tt.query, got, tt.want)
			}
			if !strings.HasPrefix(got, tt.path) {
				t.Errorf("MaskURL(%s?%s): got %q, want it to start with the path", tt.path, tt.query, got)
			}
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("MaskURL(%s?%s) = %q: leaks %q", tt.path, tt.query, got, s)
				}
			}
		})
	}
}

// ticketAlphabet keeps a fuzzed credential to the characters of a real one
// (base64url and dots), so that it cannot change how the query splits.
func ticketAlphabet(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return -1
	}, s)
}

// FuzzMaskURL puts a credential among arbitrary query text and checks that the
// log line does not depend on it: swapping the credential for another one
// never changes what MaskURL returns.
func FuzzMaskURL(f *testing.F) {
	keys := []string{"ticket", "token", "access_token", "tick%65t", "%74oken", "access%5Ftoken", "Ticket", "TOKEN", "jwt", "limit", "x"}
	f.Fuzz(func(t *testing.T, before, after string, which uint8, v1, v2 string) {
		key := keys[int(which)%len(keys)]
		v1, v2 = "eyJ"+ticketAlphabet(v1), "eyJ"+ticketAlphabet(v2)+"x"
		if strings.Contains(v1, v2) || strings.Contains(v2, v1) {
			return
		}
		u1 := &url.URL{Path: "/api/v1/rooms/r/events", RawQuery: before + "&" + key + "=" + v1 + after}
		u2 := &url.URL{Path: "/api/v1/rooms/r/events", RawQuery: before + "&" + key + "=" + v2 + after}
		m1, m2 := MaskURL(u1), MaskURL(u2)
		if m1 != m2 {
			t.Errorf("MaskURL depends on the credential:\n%q gives %q\n%q gives %q", u1.RawQuery, m1, u2.RawQuery, m2)
		}
		if !strings.Contains(before+after, v1) && strings.Contains(m1, v1) {
			t.Errorf("MaskURL(%q) = %q: leaks %q", u1.RawQuery, m1, v1)
		}
	})
}

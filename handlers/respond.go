package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// fail writes err as a problem document. Errors outside the contract's table
// are logged with the request id and answered with a generic 500. A request
// whose client went away (its context is done: net/http saw the connection
// close, or half-close, under it) gets no answer at all (see clientGone),
// whatever went wrong: most likely its going away did.
func fail(c *gin.Context, err error) {
	if c.Request.Context().Err() != nil {
		err = fmt.Errorf("%w: %w", api.ErrClientGone, err)
	}
	p, retry, known := api.ProblemFor(err)
	switch {
	case p.Status == api.StatusClientClosed:
		clientGone(c, err)
		return
	case !known:
		logger(c).Error("request failed", "err", err)
	case p.Status >= 500:
		logger(c).Error("request failed", "code", p.Code, "err", err)
	}
	if retry > 0 {
		c.Header("Retry-After", strconv.FormatInt(retry, 10))
	}
	c.Header("Content-Type", api.ProblemContentType)
	c.Data(p.Status, api.ProblemContentType, p.JSON())
	c.Abort()
}

// clientGone ends a request whose client went away: it records the status
// 499 for the log line and the metrics, logs the cause at debug, and closes
// the connection without writing to it. gin only writes the status it holds
// when the handler returns, and a hijacked connection is written to no more.
// Where the connection cannot be taken (HTTP/2), net/http writes the bare
// status to a stream nobody reads.
func clientGone(c *gin.Context, err error) {
	logger(c).Debug("client gone", "err", err)
	c.Writer.WriteHeader(api.StatusClientClosed)
	if conn, _, herr := http.NewResponseController(c.Writer).Hijack(); herr == nil {
		_ = conn.Close()
	}
	c.Abort()
}

// maxBody bounds request bodies: a 2000-code-point message is at most 8 KiB
// of UTF-8, or 24 KiB written as \u escapes, plus the other fields.
const maxBody = 32 << 10

// bind decodes a JSON body into v strictly: application/json only, at most
// maxBody bytes, one object, no unknown or duplicate fields, valid UTF-8.
func bind(c *gin.Context, v any) error {
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" || (params["charset"] != "" && !equalFold(params["charset"], "utf-8")) {
		return api.ErrUnsupportedMedia
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		var netErr *net.OpError
		switch {
		case errors.As(err, &tooLarge):
			return models.WithDetail(api.ErrTooLarge, "request body is over %d bytes", maxBody)
		case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &netErr), c.Request.Context().Err() != nil:
			// The connection ended (or was reset) before the body did.
			return fmt.Errorf("%w: reading the body: %w", api.ErrClientGone, err)
		}
		return models.Invalidf("could not read the request body")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return models.Invalidf("request body is empty; a JSON object is required")
	}
	if trimmed[0] != '{' { // null and other non-objects decode into a struct as nothing
		return models.Invalidf("request body must be a JSON object")
	}
	if err := checkDuplicateKeys(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonErr(err)
	}
	if dec.More() {
		return models.Invalidf("request body has data after the JSON object")
	}
	if !utf8.Valid(body) {
		return models.Invalidf("request body is not valid UTF-8")
	}
	return nil
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// jsonErr turns a decoding error into a client-facing one.
func jsonErr(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return models.Invalidf("request body is not valid JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return models.Invalidf("request body must be a JSON object")
		}
		return models.Invalidf("%s", typeDetail(typ))
	case errors.Is(err, models.ErrInvalid), errors.Is(err, models.ErrContentInvalid):
		return err
	}
	return models.Invalidf("request body: %s", trimJSONPrefix(err.Error()))
}

// typeDetail says what a field of the wrong JSON type must hold, in the
// API's words: "duration_seconds must be a whole number of seconds", never
// Go's ("must be of type int64").
func typeDetail(typ *json.UnmarshalTypeError) string {
	t := typ.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var want string
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n, ok := strings.CutPrefix(typ.Value, "number "); ok && isInteger(n) {
			return typ.Field + " is out of range" // a whole number, too big for any valid value
		}
		want = "a whole number"
		if strings.HasSuffix(typ.Field, "_seconds") {
			want = "a whole number of seconds"
		}
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Slice, reflect.Array:
		want = "an array"
	default:
		want = "an object"
	}
	return typ.Field + " must be " + want
}

// isInteger reports whether a JSON number literal is written as an integer.
func isInteger(n string) bool {
	n = strings.TrimPrefix(n, "-")
	return n != "" && strings.Trim(n, "0123456789") == ""
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// checkDuplicateKeys refuses an object with a repeated top-level key: Go's
// decoder would silently keep the last one, and another parser the first.
// Keys are compared case-folded, as Go's decoder matches them ("Content",
// "reaſon" with a long s).
func checkDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: the real decode says what is wrong
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := t.(string)
		folded := strings.ToLower(strings.ToUpper(key))
		if seen[folded] {
			return models.Invalidf("field %q appears more than once", key)
		}
		seen[folded] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// queryInt parses an optional integer query parameter within [min, max].
func queryInt(c *gin.Context, name string, min, max int64) (*int64, error) {
	vals, ok := c.GetQueryArray(name)
	if !ok {
		return nil, nil
	}
	if len(vals) != 1 {
		return nil, models.Invalidf("%s may be given once", name)
	}
	n, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil || n < min || n > max {
		return nil, models.Invalidf("%s must be an integer from %d to %d", name, min, max)
	}
	return &n, nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// client talks to the server the way the Resonate app does: bearer tokens on
// REST calls, a stream ticket on the SSE URL.
type client struct {
	base   string
	hc     *http.Client
	secret []byte
	errs   *statusCounter
}

// newClient returns a client with one transport for every connection. Streams
// each hold a connection for the whole run; the idle pool only needs to keep
// the publishers' and setup workers' keep-alive connections, but it must keep
// all of them or every POST pays a new TCP handshake.
func newClient(base string, secret []byte) *client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no global bound
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// 4 KiB each way per connection: 20,000 idle streams cost the
		// generator 160 MiB of buffers, not 1.3 GiB.
		ReadBufferSize:  4 << 10,
		WriteBufferSize: 4 << 10,
	}
	return &client{base: base, hc: &http.Client{Transport: tr}, secret: secret, errs: newStatusCounter()}
}

// at is a client for another node of the same deployment: the same
// transport, secret and error counts.
func (c *client) at(base string) *client {
	cc := *c
	cc.base = base
	return &cc
}

// token signs an HS256 token for sub with the server's secret.
func (c *client) token(sub string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{"sub": sub, "name": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(c.secret)
}

// httpError is an answer with a status the caller did not want.
type httpError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// call sends a JSON request and decodes a JSON answer into out (when not nil).
// Any status but the wanted ones is an *httpError, and is counted.
func (c *client) call(ctx context.Context, method, path, token string, body any, out any, want ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.errs.transport(err)
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.errs.transport(err)
		return resp.StatusCode, err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			if out != nil {
				return resp.StatusCode, json.Unmarshal(b, out)
			}
			return resp.StatusCode, nil
		}
	}
	c.errs.status(resp.StatusCode)
	return resp.StatusCode, &httpError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
}

func (c *client) createRoom(ctx context.Context, token, id string) error {
	_, err := c.call(ctx, "POST", "/api/v1/rooms", token, map[string]string{"id": id, "name": "load " + id}, nil,
		http.StatusCreated, http.StatusOK)
	return err
}

func (c *client) join(ctx context.Context, token, room string) error {
	_, err := c.call(ctx, "POST", "/api/v1/rooms/"+room+"/participants", token, nil, nil, http.StatusCreated, http.StatusOK)
	return err
}

// head reads the newest history page (one message) for its head_seq: the
// resume point a client opens its stream with.
func (c *client) head(ctx context.Context, token, room string) (int64, error) {
	var page struct {
		HeadSeq int64 `json:"head_seq"`
	}
	_, err := c.call(ctx, "GET", "/api/v1/rooms/"+room+"/messages?limit=1", token, nil, &page, http.StatusOK)
	return page.HeadSeq, err
}

func (c *client) ticket(ctx context.Context, token, room string) (string, error) {
	var t struct {
		Ticket string `json:"ticket"`
	}
	_, err := c.call(ctx, "POST", "/api/v1/rooms/"+room+"/stream-ticket", token, nil, &t, http.StatusCreated)
	return t.Ticket, err
}

// openStream opens the room's SSE stream with a ticket, resuming after last.
// It returns once the server has sent the headers, which it does only after
// the subscription is in place.
func (c *client) openStream(ctx context.Context, ticket, room string, last int64) (io.ReadCloser, error) {
	u := c.base + "/api/v1/rooms/" + room + "/events?ticket=" + url.QueryEscape(ticket)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
	resp, err := c.hc.Do(req)
	if err != nil {
		c.errs.transport(err)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		c.errs.status(resp.StatusCode)
		return nil, &httpError{Method: "GET", Path: "/api/v1/rooms/" + room + "/events", Status: resp.StatusCode, Body: string(b)}
	}
	return resp.Body, nil
}

// statusCounter counts failed calls by HTTP status, and transport failures
// (refused, reset, timeout, too many open files) by their message.
type statusCounter struct {
	mu        sync.Mutex
	byStatus  map[int]int
	transErrs map[string]int
}

func newStatusCounter() *statusCounter {
	return &statusCounter{byStatus: map[int]int{}, transErrs: map[string]int{}}
}

func (s *statusCounter) status(code int) {
	s.mu.Lock()
	s.byStatus[code]++
	s.mu.Unlock()
}

func (s *statusCounter) transport(err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	msg := err.Error()
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		msg = op.Op + ": " + op.Err.Error()
	}
	s.mu.Lock()
	s.transErrs[msg]++
	s.mu.Unlock()
}

// add counts a failed call: an *httpError by its status, anything else as
// a transport failure.
func (s *statusCounter) add(err error) {
	var he *httpError
	if errors.As(err, &he) {
		s.status(he.Status)
		return
	}
	s.transport(err)
}

func (s *statusCounter) snapshot() (map[string]int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := make(map[string]int, len(s.byStatus))
	for k, v := range s.byStatus {
		st[strconv.Itoa(k)] = v
	}
	tr := make(map[string]int, len(s.transErrs))
	for k, v := range s.transErrs {
		tr[k] = v
	}
	return st, tr
}

// merged is every count in one map, statuses and transport failures.
func (s *statusCounter) merged() map[string]int {
	st, tr := s.snapshot()
	maps.Copy(st, tr)
	return st
}

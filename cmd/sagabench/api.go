package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// api is sagaboard's JSON API as a client sees it.
type api struct {
	base  string
	token string
	hc    *http.Client
}

func newAPI(base, token string, conns int) *api {
	// Enough idle connections for every client and every long poll, so the
	// run measures the server rather than TCP handshakes.
	tr := &http.Transport{MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: 4 * conns, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &api{base: base, token: token, hc: &http.Client{Transport: tr}}
}

// errStatus is an answer with an unexpected status.
type errStatus struct {
	method, path string
	code         int
	body         string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.method, e.path, e.code, e.body)
}

// do sends a request and decodes a JSON answer into out when the status is
// want.
func (a *api) do(ctx context.Context, method, path string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("api: %s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode != want {
		return &errStatus{method, path, res.StatusCode, string(bytes.TrimSpace(raw))}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("api: %s %s: answer is not JSON: %w", method, path, err)
		}
	}
	return nil
}

// book posts a booking of one seat and returns its id.
func (a *api) book(ctx context.Context, user, seat string) (string, error) {
	body, _ := json.Marshal(map[string]any{"user_id": user, "seats": []string{seat}})
	var out struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, "POST", "/api/bookings", body, http.StatusAccepted, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// bookingView is the part of GET /api/bookings/{id} the benchmark reads.
type bookingView struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Notified  bool      `json:"notified"`
	UpdatedAt time.Time `json:"updated_at"`
}

// wait long-polls a booking until it leaves pending or d is up.
func (a *api) wait(ctx context.Context, id string, d time.Duration) (bookingView, error) {
	var v bookingView
	err := a.do(ctx, "GET", "/api/bookings/"+id+"?wait="+d.String(), nil, http.StatusOK, &v)
	return v, err
}

// told polls a booking until its user has been told, or d is up. The API
// long-polls only for a booking to leave pending; the notice comes a hop
// later, so the short remainder is polled.
func (a *api) told(ctx context.Context, id string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var v bookingView
		if err := a.do(ctx, "GET", "/api/bookings/"+id, nil, http.StatusOK, &v); err != nil {
			return err
		}
		if v.Notified {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("api: booking %s is %s and its user not told after %s", id, v.Status, d)
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// anyPending reports whether some booking is still pending. It asks for one
// booking by status, which the (status, id) index answers without a scan, so
// polling it often costs the server next to nothing at any store size.
func (a *api) anyPending(ctx context.Context) (bool, error) {
	var list []json.RawMessage
	if err := a.do(ctx, "GET", "/api/bookings?status=pending&limit=1", nil, http.StatusOK, &list); err != nil {
		return false, err
	}
	return len(list) > 0, nil
}

// Stats is GET /api/stats.
type Stats struct {
	Total       int64 `json:"total"`
	Pending     int64 `json:"pending"`
	Confirmed   int64 `json:"confirmed"`
	Compensated int64 `json:"compensated"`
	Notified    int64 `json:"notified"`
}

func (a *api) stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := a.do(ctx, "GET", "/api/stats", nil, http.StatusOK, &st)
	return st, err
}

// freeSeats lists the seats nobody holds, in the server's order.
func (a *api) freeSeats(ctx context.Context) ([]string, error) {
	var seats []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := a.do(ctx, "GET", "/api/seats", nil, http.StatusOK, &seats); err != nil {
		return nil, err
	}
	var free []string
	for _, s := range seats {
		if s.Status == "free" {
			free = append(free, s.ID)
		}
	}
	return free, nil
}

func (a *api) setFailures(ctx context.Context, patch string) error {
	return a.do(ctx, "PUT", "/api/failures", []byte(patch), http.StatusOK, nil)
}

// settled waits until no saga queue holds a message, ready or unacked,
// three polls in a row: every booking's last step (notification, the
// observer's record) is then done, and CPU read after it is the whole cost.
func (a *api) settled(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	quiet := 0
	for quiet < 3 {
		if time.Now().After(deadline) {
			return fmt.Errorf("api: queues did not drain within %s", timeout)
		}
		var qs []struct {
			Name    string `json:"name"`
			Ready   int    `json:"ready"`
			Unacked int    `json:"unacked"`
		}
		if err := a.do(ctx, "GET", "/api/queues", nil, http.StatusOK, &qs); err != nil {
			return err
		}
		busy := false
		for _, q := range qs {
			if q.Name != "dead_letter_queue" && q.Ready+q.Unacked > 0 {
				busy = true
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web"
)

// These tests are issue 10's attacks, replayed: each is something a page
// or a program on the same machine could do with the default set-up.

// logBuffer collects a server's log for a test to read.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// errorSentence reads {"error": "..."} and fails when the body is not that.
func errorSentence(t *testing.T, what, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Errorf("%s: want {\"error\": sentence}, got %.200q", what, body)
	}
	return e.Error
}

// asHost is what a browser sends from a page it loaded from http://host:
// that Host, and that Origin on a POST.
func (l *lab) asHost(host string, extra ...string) http.Header {
	h := http.Header{"Host": {host}, "Origin": {"http://" + host}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func (l *lab) port() string {
	u, err := url.Parse(l.URL)
	if err != nil {
		l.t.Fatal(err)
	}
	return u.Port()
}

// dialAs opens the live feed as a page from host would.
func (l *lab) dialAs(ctx context.Context, host string) (*websocket.Conn, *http.Response, error) {
	wsURL := "ws" + strings.TrimPrefix(l.URL, "http") + "/ws"
	return websocket.Dial(ctx, wsURL, &websocket.DialOptions{Host: host, HTTPHeader: http.Header{"Origin": {"http://" + host}}})
}

// TestForeignHostIsRefusedOnEveryRoute is DNS rebinding: a page of
// evil.example whose name now points at 127.0.0.1 is same-origin to the
// browser, so only the Host it sends gives it away.
func TestForeignHostIsRefusedOnEveryRoute(t *testing.T) {
	l := mustLab(t, labOptions{config: func(c *web.Config) { c.AllowedHosts = []string{"Dash.Example.org"} }})
	port := l.port()
	evil := "evil.example:" + port
	bookingJSON := `{"user_id":"mallory","seats":["A1"]}`

	res, body := l.send("POST", "/api/bookings", bookingJSON, l.asHost(evil, "Sec-Fetch-Site", "same-origin"))
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("POST /api/bookings as %s: %d %s, want 421", evil, res.StatusCode, body)
	}
	if msg := errorSentence(t, "POST refused", body); !strings.Contains(msg, "evil.example") || !strings.Contains(msg, "-allowed-hosts") {
		t.Errorf("the refusal says %q; want it to name the host and -allowed-hosts", msg)
	}
	res, body = l.send("PUT", "/api/failures", `{"payment":{"fail_rate":1}}`, l.asHost(evil))
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("PUT /api/failures as %s: %d %s, want 421", evil, res.StatusCode, body)
	}
	errorSentence(t, "PUT refused", body)
	for _, path := range []string{"/", "/static/app.css", "/api/seats", "/healthz", "/metrics"} {
		res, body := l.send("GET", path, "", l.asHost(evil))
		if res.StatusCode != http.StatusMisdirectedRequest || strings.Contains(body, "booking-form") || strings.Contains(body, "A1") {
			t.Errorf("GET %s as %s: %d %.120q, want 421 and nothing of the server's", path, evil, res.StatusCode, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, wres, err := l.dialAs(ctx, evil)
	if err == nil {
		c.CloseNow()
		t.Error("the WebSocket opened for " + evil)
	} else if wres == nil || wres.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("WebSocket as %s: %v, want 421", evil, err)
	}
	if sw := l.Switches.All(); sw[saga.PartPayment].FailRate != 0 {
		t.Errorf("the refused PUT changed the switches: %+v", sw[saga.PartPayment])
	}

	// Loopback names and the allowed name get through, whatever their case.
	for i, host := range []string{"127.0.0.1:" + port, "LOCALHOST:" + port, "[::1]:" + port, "dash.example.ORG:" + port, "app.localhost:" + port} {
		seat := []string{"A1", "A2", "A3", "A4", "B1"}[i]
		res, body := l.send("POST", "/api/bookings", `{"user_id":"alice","seats":["`+seat+`"]}`, l.asHost(host, "Sec-Fetch-Site", "same-origin"))
		if res.StatusCode != http.StatusAccepted {
			t.Errorf("POST /api/bookings as %s: %d %s, want 202", host, res.StatusCode, body)
		}
		if res, _ := l.send("GET", "/", "", l.asHost(host)); res.StatusCode != http.StatusOK {
			t.Errorf("GET / as %s: %d, want 200", host, res.StatusCode)
		}
		c, _, err := l.dialAs(ctx, host)
		if err != nil {
			t.Errorf("WebSocket as %s: %v", host, err)
			continue
		}
		c.CloseNow()
	}
	if list, err := l.Booking.List(ctx, booking.Filter{}); err != nil || len(list) != 5 || slices.ContainsFunc(list, func(b booking.Booking) bool { return b.UserID == "mallory" }) {
		t.Errorf("bookings = %v (%v), want the 5 made through allowed names and none by mallory", list, err)
	}
}

// TestHostsAcceptLoopbackTheAddrHostAndTheAllowedOnes is the rule of
// which names a server answers to.
func TestHostsAcceptLoopbackTheAddrHostAndTheAllowedOnes(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		allowed []string
		host    string
		want    bool
	}{
		{"127.0.0.1:8080", nil, "localhost:8080", true},
		{"127.0.0.1:8080", nil, "127.0.0.1", true},
		{"127.0.0.1:8080", nil, "127.3.4.5:9", true},
		{"127.0.0.1:8080", nil, "[::1]:8080", true},
		{"127.0.0.1:8080", nil, "grafana.localhost", true},
		{"127.0.0.1:8080", nil, "evil.example:8080", false},
		{"127.0.0.1:8080", nil, "localhost.evil.example", false},
		{"127.0.0.1:8080", nil, "", false},
		{"192.0.2.7:8080", nil, "192.0.2.7:8080", true},
		{"box.lan:8080", nil, "BOX.lan", true},
		{"0.0.0.0:8080", nil, "0.0.0.0:8080", false},
		{":8080", nil, "192.0.2.7:8080", false},
		{"[::]:8080", []string{" board.example.org ", "proxy.internal:8443"}, "board.example.org:443", true},
		{"[::]:8080", []string{"board.example.org"}, "proxy.internal", false},
		{"[::]:8080", []string{"proxy.internal:8443"}, "Proxy.Internal.", true},
	} {
		if got := web.NewHosts(tc.addr, tc.allowed).Allows(tc.host); got != tc.want {
			t.Errorf("-addr %s -allowed-hosts %v: Host %q allowed = %v, want %v", tc.addr, tc.allowed, tc.host, got, tc.want)
		}
	}
}

// TestListeningEverywhereSaysWhichNamesAreAnswered: -addr 0.0.0.0 suggests
// another name will be used, which would be refused; the log says so once.
func TestListeningEverywhereSaysWhichNamesAreAnswered(t *testing.T) {
	var log logBuffer
	mustLab(t, labOptions{log: &log, config: func(c *web.Config) { c.Addr = "0.0.0.0:8080" }})
	if n := strings.Count(log.String(), "-allowed-hosts"); n != 1 {
		t.Errorf("want one line naming -allowed-hosts at start, got %d:\n%s", n, log.String())
	}
	var quiet logBuffer
	mustLab(t, labOptions{log: &quiet, config: func(c *web.Config) { c.Addr = "0.0.0.0:8080"; c.AllowedHosts = []string{"board.example.org"} }})
	if strings.Contains(quiet.String(), "-allowed-hosts") {
		t.Errorf("with -allowed-hosts given the line is noise:\n%s", quiet.String())
	}
}

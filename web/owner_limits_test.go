package web_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/sagaboard/sagaboard/web"
)

// TestWrongTokensAreLimitedAndLoggedBriefly is guessing the token as fast
// as the server answers.
func TestWrongTokensAreLimitedAndLoggedBriefly(t *testing.T) {
	const token = "0123456789abcdef-right"
	var log logBuffer
	l := mustLab(t, labOptions{token: token, log: &log})
	bookingJSON := `{"user_id":"alice","seats":["A1"]}`
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	// Asking without any token is not guessing: never limited.
	for i := 0; i < 25; i++ {
		if res, body := l.send("POST", "/api/bookings", bookingJSON, nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("request %d without a token: %d %s, want 401", i+1, res.StatusCode, body)
		}
	}
	wrong := 0
	var limited *http.Response
	for i := 0; i < 30 && limited == nil; i++ {
		res, body := l.send("POST", "/api/bookings", bookingJSON, bearer(fmt.Sprintf("guess-%02d-xxxxxxxxxx", i)))
		switch res.StatusCode {
		case http.StatusUnauthorized:
			wrong++
		case http.StatusTooManyRequests:
			limited = res
			if msg := errorSentence(t, "429", body); !strings.Contains(msg, "wait") {
				t.Errorf("429 says %q; want it to say to wait", msg)
			}
		default:
			t.Fatalf("guess %d: %d %s", i+1, res.StatusCode, body)
		}
	}
	if limited == nil || wrong > 12 {
		t.Fatalf("after %d wrong tokens still no 429", wrong)
	}
	secs, err := strconv.Atoi(limited.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 5 {
		t.Errorf("Retry-After = %q, want a few whole seconds", limited.Header.Get("Retry-After"))
	}
	// While limited even the right token is not compared: guessing on
	// gains nothing.
	if res, body := l.send("POST", "/api/bookings", bookingJSON, bearer(token)); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right token while limited: %d %s, want 429", res.StatusCode, body)
	}
	res, _ := l.send("POST", "/ui/token", url.Values{"token": {"guess-from-the-form-xx"}}.Encode(),
		l.sameSite("Content-Type", "application/x-www-form-urlencoded"))
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the page's token form while limited: %d, want 429", res.StatusCode)
	}

	out := log.String()
	if n := strings.Count(out, "wrong token"); n != 1 {
		t.Errorf("want one log line for the whole burst, got %d:\n%s", n, out)
	}
	if strings.Contains(out, "guess-") || strings.Contains(out, token) {
		t.Errorf("the log shows a token:\n%s", out)
	}

	time.Sleep(time.Duration(secs) * time.Second)
	if res, body := l.send("POST", "/api/bookings", bookingJSON, bearer(token)); res.StatusCode != http.StatusAccepted {
		t.Errorf("right token after Retry-After: %d %s, want 202", res.StatusCode, body)
	}
}

// TestOneClientCannotHoldEveryLiveSlot opens dashboards from one address
// until it is refused; the others' slots stay free.
func TestOneClientCannotHoldEveryLiveSlot(t *testing.T) {
	l := mustLab(t, labOptions{config: func(c *web.Config) { c.WSPerClient = 3 }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	host := "127.0.0.1:" + l.port()
	var open []*websocket.Conn
	for i := 0; i < 3; i++ {
		c, _, err := l.dialAs(ctx, host)
		if err != nil {
			t.Fatalf("dashboard %d of 3: %v", i+1, err)
		}
		c.SetReadLimit(-1)
		if _, _, err := c.Read(ctx); err != nil { // its snapshot: it is fully in
			t.Fatalf("dashboard %d: no snapshot: %v", i+1, err)
		}
		open = append(open, c)
	}
	defer func() {
		for _, c := range open {
			c.CloseNow()
		}
	}()
	c, res, err := l.dialAs(ctx, host)
	if err == nil {
		c.CloseNow()
		t.Fatal("a fourth dashboard from the same address opened past -ws-per-client 3")
	}
	if res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("fourth dashboard: %v, want 503", err)
	}
	// Every loopback address is the same machine: connecting from
	// 127.0.0.2 is no way round the cap.
	from2 := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	client := &http.Client{Transport: &http.Transport{DialContext: from2.DialContext}}
	c, res, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(l.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPClient: client, HTTPHeader: http.Header{"Origin": {l.URL}}})
	if err == nil {
		c.CloseNow()
		t.Error("a dashboard from 127.0.0.2 opened past the cap of this machine")
	} else if res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dashboard from 127.0.0.2: %v, want 503", err)
	}

	// A closed one gives its slot back.
	open[0].Close(websocket.StatusNormalClosure, "")
	open = open[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := l.dialAs(ctx, host)
		if err == nil {
			open = append(open, c)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot of a closed dashboard did not come back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// TestHealthzSaysWhenTheDataFolderCannotBeWritten: a full or read-only
// disk fails every booking with a 500; /healthz must say so first. The
// folder is replaced by a file, which refuses writes even to root.
func TestHealthzSaysWhenTheDataFolderCannotBeWritten(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(notADir, []byte("a file where the folder should be"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := mustLab(t, labOptions{config: func(c *web.Config) { c.DataDir = notADir }})
	res, body := l.fetch("/healthz")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/healthz with an unwritable data folder: %d %s, want 503", res.StatusCode, body)
	}
	if msg := errorSentence(t, "/healthz", body); !strings.Contains(msg, "data folder cannot be written") {
		t.Errorf("/healthz says %q; want the reason", msg)
	}
	var h map[string]string
	_ = json.Unmarshal([]byte(body), &h)
	if h["broker_identity"] != web.BrokerShared {
		t.Errorf("broker_identity = %q, want %q when the server was not told", h["broker_identity"], web.BrokerShared)
	}

	dir := t.TempDir()
	l = mustLab(t, labOptions{config: func(c *web.Config) { c.DataDir = dir; c.BrokerIdentity = web.BrokerPerPart }})
	res, body = l.fetch("/healthz")
	h = nil
	if err := json.Unmarshal([]byte(body), &h); err != nil || res.StatusCode != http.StatusOK || h["status"] != "ok" || h["broker_identity"] != "per-part" {
		t.Errorf("/healthz with a writable folder: %d %s, want 200 ok with broker_identity per-part", res.StatusCode, body)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the probe left %v in the data folder", left)
	}
}

// TestSharedBrokerIdentityIsWarnedOnThePage: while every part logs in as
// one user, anybody with that login can forge the saga; the badge says so.
func TestSharedBrokerIdentityIsWarnedOnThePage(t *testing.T) {
	for identity, warned := range map[string]bool{"": true, web.BrokerShared: true, web.BrokerPerPart: false} {
		l := mustLab(t, labOptions{config: func(c *web.Config) { c.BrokerIdentity = identity }})
		_, body := l.fetch("/")
		got := squash(parse(t, body).Find("#broker .identity-warning").Text())
		want := "⚠ shared broker identity: any client of this vhost can forge saga messages; run sagaboard setup-broker"
		if warned && got != want {
			t.Errorf("identity %q: the broker badge says %q, want %q", identity, got, want)
		}
		if !warned && got != "" {
			t.Errorf("identity %q: the badge warns %q", identity, got)
		}
	}
}

// metricLine is one sample of the Prometheus text format.
type metricLine struct {
	name   string
	labels map[string]string
	value  string
}

// parseMetric reads one sample line the way Prometheus does: label values
// in double quotes, with only \\, \" and \n escaped.
func parseMetric(line string) (metricLine, error) {
	m := metricLine{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return m, fmt.Errorf("no metric name")
	}
	m.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq <= 0 {
				return m, fmt.Errorf("a label without =\"")
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			for {
				if line == "" {
					return m, fmt.Errorf("label %s is not closed", key)
				}
				c := line[0]
				line = line[1:]
				if c == '"' {
					break
				}
				if c == '\n' {
					return m, fmt.Errorf("a raw newline in label %s", key)
				}
				if c == '\\' {
					if line == "" {
						return m, fmt.Errorf("a lone backslash in label %s", key)
					}
					switch e := line[0]; e {
					case '\\', '"':
						val.WriteByte(e)
					case 'n':
						val.WriteByte('\n')
					default:
						return m, fmt.Errorf("escape \\%c in label %s is not in the text format", e, key)
					}
					line = line[1:]
					continue
				}
				val.WriteByte(c)
			}
			m.labels[key] = val.String()
			line = strings.TrimPrefix(line, ",")
		}
	}
	if !strings.HasPrefix(line, " ") {
		return m, fmt.Errorf("no space before the value")
	}
	m.value = strings.TrimSpace(line)
	if _, err := strconv.ParseFloat(m.value, 64); err != nil {
		return m, fmt.Errorf("value %q is not a number", m.value)
	}
	return m, nil
}

// TestMetricsLabelsAreEscapedAndBounded feeds the observer messages whose
// routing keys and types anybody on the broker could make up.
func TestMetricsLabelsAreEscapedAndBounded(t *testing.T) {
	l := mustLab(t, labOptions{run: true})
	l.settled("alice", "A1")
	ctx := context.Background()
	hostile := []string{"evil\tqueue", `q"} 1` + "\nsagaboard_broker_up 0\n#", `back\slash`, "\x00\x01"}
	for i := 0; i < 60; i++ {
		hostile = append(hostile, fmt.Sprintf("made.up.key.%d", i))
	}
	for _, h := range hostile {
		if err := l.Bus.Publish(ctx, saga.Message{ID: saga.NewID(), Type: h + "Type", RoutingKey: h, Source: "mallory", Timestamp: time.Now(), Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	known := map[string]bool{"other": true, saga.KeyBookingNotified: true, saga.KeyNotes: true}
	for _, q := range saga.WorkQueues() {
		known[q] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, body := l.fetch("/metrics")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d", res.StatusCode)
		}
		var other float64
		series := 0
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
				continue
			}
			m, err := parseMetric(line)
			if err != nil {
				t.Fatalf("/metrics line %q: %v\n%s", line, err, body)
			}
			if m.name == "sagaboard_broker_up" && m.value != "1" {
				t.Fatalf("a routing key forged sagaboard_broker_up:\n%s", body)
			}
			if m.name != "sagaboard_messages_total" {
				continue
			}
			series++
			if !known[m.labels["queue"]] {
				t.Fatalf("queue label %q is not one of the saga's queues nor other:\n%s", m.labels["queue"], body)
			}
			if typ := m.labels["type"]; strings.Contains(typ, "Type") && typ != "other" {
				t.Fatalf("made-up type %q became a label:\n%s", typ, body)
			}
			if m.labels["queue"] == "other" {
				v, _ := strconv.ParseFloat(m.value, 64)
				other += v
			}
		}
		if series > 30 {
			t.Fatalf("%d series of sagaboard_messages_total: made-up keys each got one", series)
		}
		if other == float64(len(hostile)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d made-up messages add to queue=\"other\" %v, want all of them:\n%s", len(hostile), other, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInvalidUTF8IsRefusedWithASentence: encoding/json and form decoding
// would store U+FFFD in place of what was sent, without a word.
func TestInvalidUTF8IsRefusedWithASentence(t *testing.T) {
	l := mustLab(t, labOptions{})
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/bookings", "{\"user_id\":\"al\xffice\",\"seats\":[\"A1\"]}"},
		{"POST", "/api/bookings", `{"user_id":"\ud800","seats":["A1"]}`},
		{"POST", "/api/bookings", `{"user_id":"\udc00\ud800","seats":["A1"]}`},
		{"PUT", "/api/failures", "{\"payment\":{\"user_id\":\"\xc3\x28\"}}"},
		{"POST", "/api/load", "{\"n\":1,\"note\":\"\xff\"}"},
	} {
		res, body := l.send(tc.method, tc.path, tc.body, nil)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s %q: %d %s, want 400", tc.method, tc.path, tc.body, res.StatusCode, body)
			continue
		}
		if msg := errorSentence(t, tc.path, body); !strings.Contains(msg, "UTF") {
			t.Errorf("%s %s %q: says %q; want it to say the text is not UTF-8", tc.method, tc.path, tc.body, msg)
		}
	}
	res, body := l.postForm("/ui/bookings", url.Values{"user_id": {"bob\xff"}, "seats": {"A2"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "UTF-8") {
		t.Errorf("booking form with %q: %d %s, want 400 and a sentence", "bob\xff", res.StatusCode, body)
	}
	// The switch form's scope goes through json.Marshal, which would
	// turn the byte into U+FFFD too.
	res, body = l.postForm("/ui/failures", url.Values{"payment.user_id": {"carol\xff"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "UTF-8") {
		t.Errorf("switch form with %q: %d %s, want 400 and a sentence", "carol\xff", res.StatusCode, body)
	}
	if sw := l.Switches.All(); sw[saga.PartPayment].UserID != "" {
		t.Errorf("the refused PUT scoped payment to %q", sw[saga.PartPayment].UserID)
	}
	if list, err := l.Booking.List(context.Background(), booking.Filter{}); err != nil || len(list) != 0 {
		t.Errorf("bookings = %v (%v), want none from refused requests", list, err)
	}
	// Real text, escaped or not, is fine.
	for i, body := range []string{`{"user_id":"zoë","seats":["B1"]}`, `{"user_id":"\ud83d\ude00","seats":["B2"]}`} {
		if res, got := l.send("POST", "/api/bookings", body, nil); res.StatusCode != http.StatusAccepted {
			t.Errorf("booking %d %s: %d %s, want 202", i, body, res.StatusCode, got)
		}
	}
}

// TestProfilerHidesTheCommandLineAndForeignHosts: the command line holds
// the token and the broker's password.
func TestProfilerHidesTheCommandLineAndForeignHosts(t *testing.T) {
	ts := httptest.NewServer(web.Profiler("127.0.0.1:6060"))
	defer ts.Close()
	get := func(host, path string) (int, string) {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(res.Body).WriteTo(&b)
		return res.StatusCode, b.String()
	}
	arg := os.Args[0]
	for _, path := range []string{"/debug/pprof/cmdline", "/debug/pprof/cmdline?x=1", "/debug/pprof/cmdline/"} {
		code, body := get("127.0.0.1", path)
		if code == http.StatusOK || strings.Contains(body, arg) {
			t.Errorf("GET %s: %d %.100q; the command line must not be served", path, code, body)
		}
	}
	if code, _ := get("127.0.0.1", "/debug/pprof/"); code != http.StatusOK {
		t.Errorf("the profiler's index on loopback: %d", code)
	}
	if code, body := get("evil.example:6060", "/debug/pprof/heap"); code != http.StatusMisdirectedRequest {
		t.Errorf("the heap profile as evil.example: %d %.100q, want 421", code, body)
	}
}

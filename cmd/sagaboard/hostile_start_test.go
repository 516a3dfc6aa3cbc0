package main_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// hostileEnv is the environment without any SAGABOARD_* setting, so the
// flags alone decide.
func hostileEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SAGABOARD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func TestHostileNonLoopbackAddrWithoutTokenIsRefusedAtStart(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  []string
	}{
		"flag":        {args: []string{"-addr", "0.0.0.0:0"}},
		"environment": {env: []string{"SAGABOARD_ADDR=0.0.0.0:0"}},
		"empty host":  {args: []string{"-addr", ":0"}},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			args := append([]string{"-data", t.TempDir(), "-amqp", "amqp://guest:guest@127.0.0.1:5672/"}, tc.args...)
			cmd := exec.CommandContext(ctx, binary, args...)
			cmd.Env = hostileEnv(tc.env...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if ctx.Err() != nil {
				t.Fatalf("sagaboard %v kept running without a token; want it refused at start:\n%s", args, out)
			}
			if err == nil || cmd.ProcessState.ExitCode() == 0 {
				t.Fatalf("sagaboard %v exited with success; want a non-zero exit:\n%s", args, out)
			}
			if took > 5*time.Second {
				t.Errorf("refusing took %s; want it at once", took)
			}
			if !strings.Contains(strings.ToLower(string(out)), "token") {
				t.Errorf("the refusal does not mention the token:\n%s", out)
			}
			if strings.Contains(string(out), "sagaboard ready") || strings.Contains(string(out), "goroutine ") {
				t.Errorf("want one clear refusal, got:\n%s", out)
			}
		})
	}
}

// hostileToken is the -token of the tests that need one: at least
// web.MinTokenLength long, as the server demands.
const hostileToken = "s3cret-0123456789abcdef"

func TestHostileTokenGuardsStateChanges(t *testing.T) {
	vhost := MustVhost(t)
	p := Start(t, "-addr", "0.0.0.0:0", "-token", hostileToken, "-data", t.TempDir(), "-amqp", vhost)
	u, err := url.Parse(p.URL)
	if err != nil || u.Port() == "" {
		t.Fatalf("ready line gave URL %q", p.URL)
	}
	p.URL = "http://127.0.0.1:" + u.Port()

	booking := func(seat string) []byte { return []byte(`{"user_id":"alice","seats":["` + seat + `"]}`) }
	for name, hdr := range map[string]map[string]string{
		"no token":        nil,
		"wrong token":     {"Authorization": "Bearer nope"},
		"token prefix":    {"Authorization": "Bearer " + hostileToken[:len(hostileToken)-1]},
		"token as Basic":  {"Authorization": "Basic " + hostileToken},
		"bare token":      {"Authorization": hostileToken},
		"wrong cookie":    {"Cookie": "sagaboard_token=nope"},
		"token in header": {"X-Token": hostileToken},
	} {
		a := hostileDo(t, p.URL, "POST", "/api/bookings", booking("A1"), hdr)
		hostileWantError(t, "POST /api/bookings with "+name, a, http.StatusUnauthorized)
		a = hostileDo(t, p.URL, "PUT", "/api/failures", []byte(`{"payment":{"fail_rate":1}}`), hdr)
		hostileWantError(t, "PUT /api/failures with "+name, a, http.StatusUnauthorized)
		a = hostileDo(t, p.URL, "POST", "/api/dead-letters/nope/replay", nil, hdr)
		hostileWantError(t, "POST /api/dead-letters/nope/replay with "+name, a, http.StatusUnauthorized)
	}
	for _, path := range []string{"/api/bookings", "/api/seats", "/api/stats", "/api/failures", "/api/payments", "/api/notifications", "/api/dead-letters", "/api/queues", "/healthz"} {
		if a := hostileDo(t, p.URL, "GET", path, nil, nil); a.Status != http.StatusOK {
			t.Errorf("GET %s without a token = %d %.200s, want 200: reading needs no token", path, a.Status, a.Body)
		}
	}
	if st := hostileStats(t, p); st["total"] != 0 {
		t.Errorf("requests without the token made %d bookings, want none", st["total"])
	}
	if sw := hostileSwitches(t, p.URL); strings.Contains(sw, `"fail_rate":1`) {
		t.Errorf("a PUT without the token changed the switches: %s", sw)
	}

	bearer := map[string]string{"Authorization": "Bearer " + hostileToken}
	a := hostileDo(t, p.URL, "POST", "/api/bookings", booking("A1"), bearer)
	if a.Status != http.StatusAccepted {
		t.Errorf("POST /api/bookings with the token = %d %s, want 202", a.Status, a.Body)
	}
	a = hostileDo(t, p.URL, "POST", "/api/bookings", booking("A2"), map[string]string{"Cookie": "sagaboard_token=" + hostileToken})
	if a.Status != http.StatusAccepted {
		t.Errorf("POST /api/bookings with the token cookie = %d %s, want 202", a.Status, a.Body)
	}
	a = hostileDo(t, p.URL, "PUT", "/api/failures", []byte(`{"seats":{"delay_ms":0}}`), bearer)
	if a.Status != http.StatusOK {
		t.Errorf("PUT /api/failures with the token = %d %s, want 200", a.Status, a.Body)
	}
	a = hostileDo(t, p.URL, "POST", "/api/dead-letters/nope/replay", nil, bearer)
	hostileWantError(t, "POST /api/dead-letters/nope/replay with the token", a, http.StatusNotFound)
	if st := hostileStats(t, p); st["total"] != 2 {
		t.Errorf("stats total = %d, want the 2 bookings made with the token", st["total"])
	}
	if strings.Contains(p.Log(), hostileToken) {
		t.Errorf("the log shows the token:\n%s", tail(p.Log(), 20))
	}
}

package web_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/web"
)

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

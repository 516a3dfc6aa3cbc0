package main_test

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func failures(t *testing.T, p *Proc) map[string]map[string]any {
	t.Helper()
	var out map[string]map[string]any
	if code := p.Do("GET", "/api/failures", nil, &out); code != http.StatusOK {
		t.Fatalf("GET /api/failures: %d", code)
	}
	return out
}

func TestSwitchesSurviveARestart(t *testing.T) {
	p, _ := startSaga(t)
	p.SetSwitches(`{"payment":{"fail_rate":0.25,"user_id":"mallory"},"seats":{"delay_ms":7,"paused":true}}`)
	p.Stop()
	p.Restart()
	got := failures(t, p)
	if got["payment"]["fail_rate"] != 0.25 || got["payment"]["user_id"] != "mallory" || got["seats"]["delay_ms"] != 7.0 || got["seats"]["paused"] != true {
		t.Errorf("after a restart the switches are %v, want them as they were set", got)
	}
}

// TestTwoDashboardsAgreeAfterAnOutage changes the switches on two dashboard
// processes while the broker is out of their reach; once it is back, both
// hold the later change.
func TestTwoDashboardsAgreeAfterAnOutage(t *testing.T) {
	vhostURL := MustVhost(t)
	vhost := vhostURL[strings.LastIndex(vhostURL, "/")+1:]
	a := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhostURL, "-only", "web")
	b := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhostURL, "-only", "web")
	a.SetSwitches(`{"notification":{"fail_rate":0.1}}`)
	waitSwitch(t, b, "notification", 0.1, "a change on one dashboard reaches the other")

	ctl := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	// An outage of this vhost only: no new connection is let in, and the
	// ones there are closed.
	ctl("set_vhost_limits", "-p", vhost, `{"max-connections": 0}`)
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "clear_vhost_limits", "-p", vhost).Run() })
	ctl("close_all_connections", "-p", vhost, "a test's outage")
	for _, p := range []*Proc{a, b} {
		deadline := time.Now().Add(10 * time.Second)
		for p.Do("GET", "/healthz", nil, nil) == http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatal("/healthz still says ok with the broker out of reach")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	a.SetSwitches(`{"payment":{"fail_rate":0.3}}`)
	time.Sleep(20 * time.Millisecond)
	b.SetSwitches(`{"payment":{"fail_rate":0.7}}`) // the later change
	ctl("clear_vhost_limits", "-p", vhost)

	waitSwitch(t, a, "payment", 0.7, "the later change made during the outage wins on both dashboards")
	waitSwitch(t, b, "payment", 0.7, "the later change made during the outage wins on both dashboards")
}

func waitSwitch(t *testing.T, p *Proc, part string, rate float64, why string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := failures(t, p)
		if got[part]["fail_rate"] == rate {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s.fail_rate = %v, want %v: %s\n%s", part, got[part]["fail_rate"], rate, why, tail(p.Log(), 15))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

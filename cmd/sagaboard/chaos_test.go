package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loader books random seats from a few goroutines until stopped, and
// remembers every booking the server accepted with 202.
type loader struct {
	p        *Proc
	rows     int
	cols     int
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	accepted []string
	refused  atomic.Int64 // 409s: a seat was taken
	failed   atomic.Int64 // no answer: the server was down
}

func startLoad(p *Proc, rows, cols, workers int) *loader {
	return startPacedLoad(p, rows, cols, workers, 0)
}

// startPacedLoad is startLoad with each worker waiting pace after each
// request, so a long run does not sell the venue out before its faults.
func startPacedLoad(p *Proc, rows, cols, workers int, pace time.Duration) *loader {
	l := &loader{p: p, rows: rows, cols: cols, stop: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(pace):
				}
				n := 1 + rand.IntN(2)
				seats := make([]string, 0, n)
				for len(seats) < n {
					s := fmt.Sprintf("%s%d", rowLabel(rand.IntN(l.rows)), 1+rand.IntN(l.cols))
					if !slices.Contains(seats, s) {
						seats = append(seats, s)
					}
				}
				body, _ := json.Marshal(map[string]any{"user_id": fmt.Sprintf("user%d", rand.IntN(20)), "seats": seats})
				res, err := client.Post(l.p.URL+"/api/bookings", "application/json", bytes.NewReader(body))
				if err != nil {
					l.failed.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				var out map[string]string
				_ = json.NewDecoder(res.Body).Decode(&out)
				res.Body.Close()
				switch res.StatusCode {
				case http.StatusAccepted:
					l.mu.Lock()
					l.accepted = append(l.accepted, out["id"])
					l.mu.Unlock()
				case http.StatusConflict:
					l.refused.Add(1)
				default:
					l.failed.Add(1)
				}
			}
		}()
	}
	return l
}

// Accepted is how many bookings were accepted so far.
func (l *loader) Accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

func (l *loader) Stop() []string {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.accepted...)
}

func rowLabel(r int) string {
	s := ""
	for r >= 0 {
		s = string(rune('A'+r%26)) + s
		r = r/26 - 1
	}
	return s
}

// TestChaos runs bookings under load while the real program is killed with
// SIGKILL twice and the broker's app is restarted, then checks that nothing
// was lost, doubled or left held. The broker it restarts is a node of its
// own: restarting the machine's shared one would cut every other client off,
// the tests of other packages running beside this one included.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	// On a node of its own, with a minute of its own faults: it overlaps
	// the other parallel tests at the end of the package's run instead of
	// adding its minute to theirs. Its checks are counts, not timings.
	t.Parallel()
	const rows, cols = 100, 100
	node := StartOwnBroker(t)
	// On a provisioned vhost, as `make run` sets one up: each part its own
	// broker user, every message checked against its sender.
	dir := t.TempDir()
	setup := exec.Command(binary, "setup-broker", "-amqp", node.URL("chaos"), "-data", dir)
	setup.Env = node.Env()
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("sagaboard setup-broker on the test's own node: %v\n%s", err, out)
	}
	p := Start(t, "-addr", "127.0.0.1:0", "-data", dir, "-rows", fmt.Sprint(rows), "-cols", fmt.Sprint(cols))
	// Some failures, so compensation runs under the same faults.
	p.SetSwitches(`{"payment":{"fail_rate":0.15},"seats":{"fail_rate":0.1},"notification":{"fail_rate":0.2}}`)
	l := startLoad(p, rows, cols, 4)

	kills, brokerRestarts := 0, 0
	for i := 0; i < 2; i++ {
		time.Sleep(1500 * time.Millisecond)
		p.Kill()
		kills++
		time.Sleep(200 * time.Millisecond)
		p.Restart()
		// The switches are kept in the data folder: the restarted process
		// fails as the killed one did, with nobody setting them again.
		if got := failures(t, p); got["payment"]["fail_rate"] != 0.15 {
			t.Errorf("after a SIGKILL and a restart, the switches are %v, want them as set", got)
		}
	}
	// A graceful stop under load: it must exit cleanly and leave nothing
	// behind that the next start cannot finish.
	time.Sleep(1 * time.Second)
	p.Stop()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0\n%s", code, tail(p.Log(), 20))
	}
	if !strings.Contains(p.Log(), "sagaboard stopped") {
		t.Errorf("SIGTERM: no clean stop in the log:\n%s", tail(p.Log(), 20))
	}
	p.Restart()
	time.Sleep(1 * time.Second)
	node.Ctl("stop_app")
	time.Sleep(1500 * time.Millisecond)
	node.Ctl("start_app")
	brokerRestarts++
	time.Sleep(2 * time.Second)
	accepted := l.Stop()
	p.SetSwitches(`{"payment":{"fail_rate":0},"seats":{"fail_rate":0},"notification":{"fail_rate":0}}`)

	if len(accepted) < 50 {
		t.Fatalf("only %d bookings were accepted under load; the test proves little", len(accepted))
	}
	f := auditAfterChaos(t, oneProcess(p), accepted, l.failed.Load())
	t.Logf("chaos: %d bookings accepted under load (%d refused with 409, %d requests unanswered while down, of which %d committed and sold); %d SIGKILLs, 1 SIGTERM and %d broker restarts survived; %s",
		len(accepted), l.refused.Load(), l.failed.Load(), f.unanswered, kills, brokerRestarts, f)
	if !strings.Contains(p.Log(), "lost RabbitMQ connection") {
		t.Errorf("the log does not show the broker outage")
	}
}

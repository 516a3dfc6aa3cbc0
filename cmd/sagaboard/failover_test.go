package main_test

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAProcessMovesToTheNextNodeWhenItsNodeGoes gives -amqp two nodes of
// the test's own. The process connects to the first; when that node stops,
// it moves to the second and the saga goes on there. (The two nodes are not
// clustered here, so the second declares its own topology: what moves is
// the connection, which is what -amqp's list is for.)
func TestAProcessMovesToTheNextNodeWhenItsNodeGoes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two RabbitMQ nodes")
	}
	// Mostly waiting for its two nodes to boot: it overlaps the other
	// parallel tests rather than adds up.
	t.Parallel()
	first, second := StartOwnBroker(t), StartOwnBroker(t)
	urls := first.URL("") + "," + second.URL("")
	p := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", urls)

	id := p.Book("alice", "A1")
	p.WaitFor(id, 15*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	// The badge is drawn from a look at the broker every second, so it may
	// be a look behind the first booking.
	waitOnNode(t, p, "the first", "127.0.0.1:"+itoa(first.Port), 10*time.Second)
	first.Ctl("stop_app")
	waitOnNode(t, p, "the second", "127.0.0.1:"+itoa(second.Port), 30*time.Second)
	next := p.Book("bob", "B1")
	p.WaitFor(next, 15*time.Second, "confirmed on the second node", func(b Booking) bool { return b.Status == "confirmed" })
}

// nodeOnPage reports whether the dashboard's broker badge says the process
// is on node.
func nodeOnPage(t *testing.T, p *Proc, node string) bool {
	t.Helper()
	res, err := http.Get(p.URL)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	return strings.Contains(string(page), "on "+node)
}

// waitOnNode waits until the badge says p is on node, the one called
// which, and fails the test after within.
func waitOnNode(t *testing.T, p *Proc, which, node string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); !nodeOnPage(t, p, node); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the badge does not say the process is on %s node %s (it says %q):\n%s", which, node, badgeNode(p), tail(p.Log(), 20))
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

var processNode = regexp.MustCompile(`class="process-node" data-parts="([^"]+)"[^>]*>[^<]* on ([^<]+)<`)

// processesOnPage is what the dashboard's broker badge says of the
// deployment's processes: for each set of parts, the nodes they are on,
// one entry per process.
func processesOnPage(p *Proc) map[string][]string {
	res, err := http.Get(p.URL)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	out := map[string][]string{}
	for _, m := range processNode.FindAllSubmatch(page, -1) {
		out[string(m[1])] = append(out[string(m[1])], string(m[2]))
	}
	return out
}

// waitProcesses waits until the dashboard of p names every process in
// want (parts → the node each of their processes is on, in any order),
// and fails the test after within.
func waitProcesses(t *testing.T, p *Proc, want map[string][]string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := processesOnPage(p)
		ok := true
		for parts, nodes := range want {
			g := slices.Clone(got[parts])
			slices.Sort(g)
			w := slices.Clone(nodes)
			slices.Sort(w)
			if !slices.Equal(g, w) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard names the processes %v, want %v", got, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

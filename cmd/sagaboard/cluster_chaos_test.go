package main_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClusterChaos runs the saga's parts in four processes spread over a
// three-node cluster, on a provisioned vhost whose queues are all quorum
// queues, under load with failure switches on. It SIGKILLs one node, stops
// the node that leads the quorum queues, SIGKILLs the payment process, and
// brings each back; then every booking must have finished with nothing
// lost, doubled or left held.
func TestClusterChaos(t *testing.T) {
	requireClusterTests(t)
	const rows, cols = 100, 100
	c := StartOwnCluster(t, 3)
	setup := t.TempDir()
	c.Provision(t, "chaos", setup)
	// The node to stop: the one leading payment_queue (the queues' leaders
	// are wherever Raft put them, most on the node setup-broker spoke to).
	leader := c.Node(c.Queues(t, "chaos")["payment_queue"].Leader)
	var other []int // the nodes that do not lead it, by index
	for i, n := range c.Nodes {
		if n != leader {
			other = append(other, i)
		}
	}
	victim := c.Nodes[other[1]] // the node SIGKILLed: not the leader, which is stopped later

	// Each process is given every node, from a different first one, so
	// the four start spread over the cluster; each has its own data folder.
	// Payment and notification run web beside them, to audit their stores
	// through the API (the seat map is Booking's, on the front). Every part
	// keeps its state in one PostgreSQL database, so the checker, which
	// runs with Booking, reads the other processes' stores too and checks
	// every rule, not only those its own process can see.
	store, _ := pgStore(t)
	venue := []string{"-rows", strconv.Itoa(rows), "-cols", strconv.Itoa(cols), "-quorum", "-store", store}
	proc := func(first int, only string) *Proc {
		return Start(t, append([]string{"-addr", "127.0.0.1:0", "-data", dataWith(t, setup), "-amqp", c.URLs("chaos", first), "-only", only}, venue...)...)
	}
	front := proc(0, "web,booking,observer")
	// Payment runs in two processes on two nodes, sharing one ledger: the
	// SIGKILL below takes payments[0] while payments[1] carries on, and the
	// audit reads the shared ledger through either.
	payments := []*Proc{proc(1, "payment,web"), proc(2, "payment,web")}
	proc(2, "seats,compensation")
	notify := proc(other[0], "notification,web")

	// The front's badge says where each process is.
	waitProcesses(t, front, map[string][]string{
		"web,booking,observer": {c.Nodes[0].Addr()},
		"payment,web":          {c.Nodes[1].Addr(), c.Nodes[2].Addr()},
		"seats,compensation":   {c.Nodes[2].Addr()},
		"notification,web":     {c.Nodes[other[0]].Addr()},
	}, 20*time.Second)

	front.SetSwitches(`{"payment":{"fail_rate":0.15},"seats":{"fail_rate":0.1},"notification":{"fail_rate":0.2}}`)
	// Paced, so the venue is not sold out before the last fault: bookings
	// must flow through every fault, not only before the first.
	l := startPacedLoad(front, rows, cols, 4, 80*time.Millisecond)
	ctx := context.Background()
	faults := 0
	var counts []int // bookings accepted at each step
	var names []string
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		counts, names = append(counts, l.Accepted()), append(names, what)
		t.Logf("%s %s (%d bookings accepted so far)", time.Now().Format("15:04:05.0"), what, counts[len(counts)-1])
	}

	time.Sleep(3 * time.Second)
	var onVictim []string // the processes on the node about to die, by parts
	for parts, nodes := range processesOnPage(front) {
		if onNode(map[string][]string{parts: nodes}, victim.Addr()) {
			onVictim = append(onVictim, parts)
		}
	}
	if len(onVictim) == 0 {
		t.Fatalf("no process is on %s, the node to kill: %v", victim.Name, processesOnPage(front))
	}
	step("SIGKILL node "+victim.Name, victim.Kill())
	faults++
	// Each process that was on it moves to another node, and the page
	// says so.
	deadline := time.Now().Add(30 * time.Second)
	for !movedOff(processesOnPage(front), onVictim, victim.Addr()) {
		if time.Now().After(deadline) {
			t.Fatalf("30 s after %s was killed, the page does not show %v on another node: %v", victim.Name, onVictim, processesOnPage(front))
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("%s the page shows %v moved off %s: %v", time.Now().Format("15:04:05.0"), onVictim, victim.Name, processesOnPage(front))
	step("node "+victim.Name+" booted again", victim.Boot(ctx))
	time.Sleep(2 * time.Second)
	step("stop_app on "+leader.Name+", the quorum queues' leader", leader.StopApp(ctx))
	faults++
	time.Sleep(3 * time.Second)
	payments[0].Kill()
	faults++
	step("SIGKILL one of the two payment processes", nil)
	time.Sleep(2 * time.Second)
	payments[0].Restart()
	step("payment process restarted", nil)
	time.Sleep(2 * time.Second)
	step("start_app on "+leader.Name, leader.StartApp(ctx))
	back := time.Now() // everything is back
	time.Sleep(3 * time.Second)
	accepted := l.Stop()
	front.SetSwitches(`{"payment":{"fail_rate":0},"seats":{"fail_rate":0},"notification":{"fail_rate":0}}`)
	// Bookings were taken through every fault, not only before the first.
	for i := 1; i < len(counts); i++ {
		if counts[i] <= counts[i-1] {
			t.Errorf("no booking was accepted between %q and %q (%d then %d); the faults were not under load", names[i-1], names[i], counts[i-1], counts[i])
		}
	}
	if len(accepted) < 50 {
		t.Fatalf("only %d bookings were accepted under load; the test proves little", len(accepted))
	}

	f := auditAfterChaos(t, sagaAPIs{front: front, payment: payments[0], seats: front, notification: notify}, accepted, l.failed.Load())
	t.Logf("cluster chaos: %d bookings accepted under load (%d refused with 409, %d unanswered); %d faults: 1 node SIGKILLed, the leaders' node stopped, 1 payment process SIGKILLed; %s; recovered %s after everything was back (all finished and told)",
		len(accepted), l.refused.Load(), l.failed.Load(), faults, f, f.finished.Sub(back).Round(100*time.Millisecond))
	fmt.Printf("CLUSTER CHAOS FIGURES: bookings=%d kills=%d recover=%s %s\n", len(accepted), faults, f.finished.Sub(back).Round(100*time.Millisecond), f)
}

// onNode reports whether any process on the page is on node addr.
func onNode(procs map[string][]string, addr string) bool {
	for _, nodes := range procs {
		for _, n := range nodes {
			if strings.Contains(n, addr) {
				return true
			}
		}
	}
	return false
}

// movedOff reports whether each process in parts is on the page, on a node
// and not on addr.
func movedOff(procs map[string][]string, parts []string, addr string) bool {
	for _, p := range parts {
		nodes := procs[p]
		if len(nodes) == 0 {
			return false
		}
		for _, n := range nodes {
			if n == "none" || strings.Contains(n, addr) {
				return false
			}
		}
	}
	return true
}

package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/nodetest"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// nodeScenario is one booking the comparison makes, with the switches it is
// made under.
type nodeScenario struct {
	name, before, after string // switch patches around the booking; "" for none
	status              string
	late                bool // made with payment paused, so its deadline passes first
}

var nodeScenarios = []nodeScenario{
	{name: "confirmed", status: "confirmed"},
	{name: "declined", before: `{"payment":{"fail_rate":1}}`, after: `{"payment":{"fail_rate":0}}`, status: "compensated"},
	{name: "seats failed after the charge", before: `{"seats":{"fail_rate":1}}`, after: `{"seats":{"fail_rate":0}}`, status: "compensated"},
	{name: "past its deadline", before: `{"payment":{"paused":true}}`, after: `{"payment":{"paused":false}}`, status: "compensated", late: true},
	{name: "confirmed again", status: "confirmed"},
}

// runNodeScenarios books each scenario in turn on p and returns each
// booking's id and its timeline: "type source" per event, sorted, and the
// payload of each message payment sent.
//
// applied, when not nil, waits until a switch change reached payment: one
// in another process hears it through the broker a moment after the PUT.
func runNodeScenarios(t *testing.T, p *Proc, applied func()) (ids []string, timelines [][]string, paid []map[string]string) {
	t.Helper()
	set := func(patch string) {
		p.SetSwitches(patch)
		if applied != nil {
			applied()
		}
	}
	for i, sc := range nodeScenarios {
		if sc.before != "" {
			set(sc.before)
		}
		id := p.Book("user"+string(rune('a'+i)), "A"+string(rune('1'+i)))
		done := func(b Booking) bool { return b.Status == sc.status && b.Notified }
		p.WaitFor(id, 20*time.Second, sc.name+": "+sc.status, done)
		if sc.after != "" {
			set(sc.after)
		}
		if sc.late {
			p.WaitFor(id, 15*time.Second, sc.name+": a late charge neutralised", func(b Booking) bool {
				return slices.Contains(eventTypes(b), "LateMessageNeutralised")
			})
		}
		p.Settled(15 * time.Second)
		b := p.Get(id)
		var tl []string
		sent := map[string]string{}
		for _, e := range b.Events {
			tl = append(tl, e.Type+" "+e.Source)
			if e.Source == "payment" {
				sent[e.Type] = string(e.Payload)
			}
		}
		slices.Sort(tl)
		ids, timelines, paid = append(ids, id), append(timelines, tl), append(paid, sent)
	}
	return ids, timelines, paid
}

// StartNodePayment runs the Node.js Payment with env, and waits for it to
// say it consumes.
func StartNodePayment(t *testing.T, env ...string) {
	t.Helper()
	dir := filepath.Join("..", "..", "services", "payment", "node")
	nodetest.MustNpmCI(t, dir)
	cmd := exec.Command("node", filepath.Join(dir, "index.js"))
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log := &syncBuffer{}
	cmd.Stdout = log
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the Node payment: %v", err)
	}
	ready := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.Write([]byte(sc.Text() + "\n"))
			if strings.Contains(sc.Text(), "payment-node: ready") {
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("the Node payment's log:\n%s", log.String())
		}
	})
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("the Node payment exited before it was ready:\n%s", log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("the Node payment was not ready in 20s:\n%s", log.String())
	}
}

// The Node.js Payment, written only from the AsyncAPI document, stands in
// for the Go one on a provisioned vhost: as its own broker user, it takes
// the same bookings through the same steps (confirmed, declined, seats
// failed and refunded, past its deadline with the late charge neutralised),
// the timelines show the same messages with the same payloads as with the
// Go payment, its ledger nets out, and the invariants stay green.
func TestNodePaymentStandsInForTheGoOne(t *testing.T) {
	if testing.Short() {
		t.Skip("the Node payment comparison is skipped in -short mode")
	}
	// First with the Go payment, on a vhost of its own.
	goRun := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", MustVhost(t), "-deadline", "3s")
	_, want, wantPaid := runNodeScenarios(t, goRun, nil)
	goRun.Stop()

	dir := t.TempDir()
	guestURL, creds := MustProvisioned(t, dir)
	// guest may only read a queue of its own bound to both exchanges: the
	// tap that checks every message, the Node payment's among them.
	if out, err := exec.Command("rabbitmqctl", "set_permissions", "-p", creds.vhost, "guest", `^amq\.gen-.*`, `^amq\.gen-.*`, `^(sagaboard|sagaboard\.control|amq\.gen-.*)$`).CombinedOutput(); err != nil {
		t.Fatalf("rabbitmqctl set_permissions: %v\n%s", err, out)
	}
	tap := MustTap(t, guestURL)
	p := Start(t, "-addr", "127.0.0.1:0", "-data", dir, "-deadline", "3s", "-only", "web,booking,seats,compensation,notification,observer")
	store := filepath.Join(t.TempDir(), "payment-node.json")
	StartNodePayment(t, "SAGABOARD_DATA="+dir, "PAYMENT_STORE="+store, "AMQP_URL=")
	ids, got, gotPaid := runNodeScenarios(t, p, func() { nodeHeard(t, p, store) })

	for i, sc := range nodeScenarios {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s: the timeline with the Node payment is\n  %v\nwith the Go payment\n  %v", sc.name, got[i], want[i])
		}
		for typ, body := range wantPaid[i] {
			if g, w := stripBookingID(t, gotPaid[i][typ]), stripBookingID(t, body); g != w {
				t.Errorf("%s: the Node payment's %s is\n  %s\nthe Go payment's\n  %s", sc.name, typ, g, w)
			}
		}
	}

	// Every message of the Node run matches the contract, its payload, its
	// properties and headers, and who may send it with which routing key.
	contract := MustContract(t)
	fromNode := 0
	for _, d := range tap.Messages() {
		if err := contract.Check(d); err != nil {
			t.Errorf("%s from %s with routing key %s breaks the contract: %v\n%s", d.Type, d.UserId, d.RoutingKey, err, d.Body)
		}
		if d.UserId == creds.Parts["payment"].User {
			fromNode++
		}
	}
	t.Logf("%d messages checked against the contract, %d of them from the Node payment", len(tap.Messages()), fromNode)
	if fromNode < len(nodeScenarios) {
		t.Errorf("the tap saw %d messages from the Node payment, want at least %d", fromNode, len(nodeScenarios))
	}
	for _, id := range ids {
		for _, e := range p.Get(id).Events {
			body, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Payload))
			if err == nil {
				err = contract.payload[e.Type].Validate(body)
			}
			if err != nil {
				t.Errorf("%s from %s for booking %s breaks the contract: %v\n%s", e.Type, e.Source, id, err, e.Payload)
			}
		}
	}

	// The money nets out in the Node payment's own ledger.
	var st struct {
		Ledger []struct {
			BookingID   string `json:"booking_id"`
			Kind        string `json:"kind"`
			AmountCents int64  `json:"amount_cents"`
		} `json:"ledger"`
	}
	raw, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("the Node payment's store: %v\n%s", err, raw)
	}
	for i, id := range ids {
		var net int64
		for _, l := range st.Ledger {
			if l.BookingID == id && l.Kind == "charge" {
				net += l.AmountCents
			} else if l.BookingID == id {
				net -= l.AmountCents
			}
		}
		want := int64(0)
		if nodeScenarios[i].status == "confirmed" {
			want = 1000
		}
		if net != want {
			t.Errorf("%s: the Node payment's ledger nets %d for booking %s, want %d", nodeScenarios[i].name, net, id, want)
		}
	}

	var inv struct {
		OK         bool `json:"ok"`
		Violations []struct {
			Rule, BookingID, Detail string
		} `json:"violations"`
	}
	p.Do("GET", "/api/invariants", nil, &inv)
	if len(inv.Violations) > 0 {
		t.Errorf("invariants with the Node payment: ok=%v violations %+v", inv.OK, inv.Violations)
	}
	if dead := poisonListDeadLetters(t, p); len(dead) > 0 {
		t.Errorf("%d dead letters with the Node payment: %+v", len(dead), dead)
	}
}

// nodeHeard waits until the Node payment's store holds the payment switch
// the server has.
func nodeHeard(t *testing.T, p *Proc, store string) {
	t.Helper()
	type sw struct {
		FailRate float64 `json:"fail_rate"`
		Paused   bool    `json:"paused"`
	}
	var want map[string]sw
	p.Do("GET", "/api/failures", nil, &want)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct {
			Switches struct {
				Payment sw `json:"payment"`
			} `json:"switches"`
		}
		raw, _ := os.ReadFile(store)
		if json.Unmarshal(raw, &st) == nil && st.Switches.Payment == want["payment"] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Node payment did not hear the switches %+v within 10s; its store has %s", want["payment"], raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stripBookingID returns a payload with its booking's id and user left out,
// which differ between the two runs by design.
func stripBookingID(t *testing.T, payload string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		t.Fatalf("payload %q: %v", payload, err)
	}
	if b, ok := m["booking"].(map[string]any); ok {
		delete(b, "id")
	}
	out, _ := json.Marshal(m)
	return string(out)
}

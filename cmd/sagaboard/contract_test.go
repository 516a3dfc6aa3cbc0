package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sagaboard/sagaboard/services/rabbit"
	"github.com/sagaboard/sagaboard/static"
)

// Contract is the AsyncAPI document compiled for checking messages: each
// message's payload and headers schema, and which part sends which type
// with which routing key.
type Contract struct {
	payload, headers map[string]*jsonschema.Schema
	sends            map[string][]string // "part key" → types
}

// MustContract compiles the schemas of the contract the binary serves.
func MustContract(t testing.TB) *Contract {
	t.Helper()
	raw := rabbit.AsyncAPIJSON()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("asyncapi.json", doc); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Operations map[string]struct {
			Action   string                 `json:"action"`
			Channel  struct{ Ref string }   `json:"channel"`
			Messages []struct{ Ref string } `json:"messages"`
			Part     string                 `json:"x-sagaboard-part"`
		} `json:"operations"`
		Channels map[string]struct {
			Address string `json:"address"`
		} `json:"channels"`
		Components struct {
			Messages map[string]json.RawMessage `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(fixRefs(raw), &d); err != nil {
		t.Fatal(err)
	}
	ct := &Contract{payload: map[string]*jsonschema.Schema{}, headers: map[string]*jsonschema.Schema{}, sends: map[string][]string{}}
	for typ := range d.Components.Messages {
		for _, part := range []string{"payload", "headers"} {
			s, err := c.Compile("asyncapi.json#/components/messages/" + typ + "/" + part)
			if err != nil {
				t.Fatalf("compile %s's %s schema: %v", typ, part, err)
			}
			if part == "payload" {
				ct.payload[typ] = s
			} else {
				ct.headers[typ] = s
			}
		}
	}
	for _, op := range d.Operations {
		if op.Action != "send" || op.Part == "" || !strings.HasPrefix(op.Channel.Ref, "#/channels/sagaboard:") {
			continue
		}
		key := d.Channels[strings.TrimPrefix(op.Channel.Ref, "#/channels/")].Address
		for _, m := range op.Messages {
			ct.sends[op.Part+" "+key] = append(ct.sends[op.Part+" "+key], m.Ref[strings.LastIndex(m.Ref, "/")+1:])
		}
	}
	return ct
}

// fixRefs renames "$ref" so encoding/json can take it into a field.
func fixRefs(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`"$ref"`), []byte(`"Ref"`)) }

// Check validates one message as it was delivered: its type is in the
// contract, its body matches the type's payload schema, its AMQP properties
// and headers match the headers schema, and, on the saga's exchange, the
// part that sent it may send that type with that routing key.
func (c *Contract) Check(d amqp.Delivery) error {
	ps, ok := c.payload[d.Type]
	if !ok {
		return fmt.Errorf("type %q is not in the contract", d.Type)
	}
	body, err := jsonschema.UnmarshalJSON(bytes.NewReader(d.Body))
	if err != nil {
		return fmt.Errorf("%s: body is not JSON: %w", d.Type, err)
	}
	if err := ps.Validate(body); err != nil {
		return fmt.Errorf("%s: payload: %w", d.Type, err)
	}
	h, err := Headers(d)
	if err != nil {
		return err
	}
	if err := c.headers[d.Type].Validate(h); err != nil {
		return fmt.Errorf("%s: headers: %w", d.Type, err)
	}
	if d.Exchange == "sagaboard" {
		src, _ := d.Headers["x-sagaboard-source"].(string)
		if !slices.Contains(c.sends[src+" "+d.RoutingKey], d.Type) {
			return fmt.Errorf("%s: the contract has no operation in which %s sends it with routing key %s", d.Type, src, d.RoutingKey)
		}
	}
	return nil
}

// Headers is a delivery's AMQP properties, by their AMQP names, and its
// headers, as one JSON value: what the contract's headers schemas describe.
func Headers(d amqp.Delivery) (any, error) {
	h := map[string]any{}
	for k, v := range d.Headers {
		h[k] = v
	}
	for k, v := range map[string]string{"message_id": d.MessageId, "correlation_id": d.CorrelationId, "type": d.Type,
		"user_id": d.UserId, "content_type": d.ContentType, "app_id": d.AppId} {
		if v != "" {
			h[k] = v
		}
	}
	h["delivery_mode"] = d.DeliveryMode
	if !d.Timestamp.IsZero() {
		h["timestamp"] = d.Timestamp.Unix()
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("%s: headers: %w", d.Type, err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// Tap collects every message published on a vhost's saga and control
// exchanges, through a queue of its own bound with "#".
type Tap struct {
	mu   sync.Mutex
	got  []amqp.Delivery
	conn *amqp.Connection
}

// MustTap starts a tap on the vhost at amqpURL, whose user may declare and
// bind a queue there.
func MustTap(t testing.TB, amqpURL string) *Tap {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][2]string{{"sagaboard", "#"}, {"sagaboard.control", "control.#"}} {
		if err := ch.QueueBind(q.Name, b[1], b[0], false, nil); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tap := &Tap{conn: conn}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range ds {
			tap.mu.Lock()
			tap.got = append(tap.got, d)
			tap.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return tap
}

// Messages returns what the tap has seen so far.
func (tp *Tap) Messages() []amqp.Delivery {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Clone(tp.got)
}

// Every message the real program publishes in a short saga of each kind
// (confirmed, declined, seats failed, notification retried, past its
// deadline with a late charge neutralised, and the switch changes between
// them) matches its message's schemas in the AsyncAPI document, and is
// sent by a part the document says sends it.
func TestEveryPublishedMessageMatchesTheContract(t *testing.T) {
	vhost := MustVhost(t)
	p := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhost, "-deadline", "3s")
	tap := MustTap(t, vhost)
	contract := MustContract(t)

	// The document the server serves is the committed one.
	res, err := http.Get(p.URL + "/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Equal(served, static.AsyncAPI()) || !bytes.Contains(served, []byte("\nasyncapi: \"3.")) {
		t.Fatalf("GET /asyncapi.yaml = %d, %d bytes; want 200 and the committed AsyncAPI 3 document", res.StatusCode, len(served))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") {
		t.Errorf("GET /asyncapi.yaml Content-Type = %q, want application/yaml", ct)
	}

	confirmed := func(b Booking) bool { return b.Status == "confirmed" && b.Notified }
	compensated := func(b Booking) bool { return b.Status == "compensated" && b.Notified }
	happy := p.Book("alice", "A1")
	p.WaitFor(happy, 15*time.Second, "confirmed", confirmed)

	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	p.WaitFor(p.Book("bob", "A2"), 15*time.Second, "compensated", compensated)
	p.SetSwitches(`{"payment":{"fail_rate":0},"seats":{"fail_rate":1}}`)
	p.WaitFor(p.Book("carol", "A3"), 15*time.Second, "compensated", compensated)
	p.SetSwitches(`{"seats":{"fail_rate":0},"notification":{"fail_next":2}}`)
	p.WaitFor(p.Book("dave", "A4"), 15*time.Second, "confirmed", confirmed)

	// Past its deadline while payment is paused; then payment resumes and
	// neutralises the late BookingCreated.
	p.SetSwitches(`{"payment":{"paused":true}}`)
	late := p.Book("erin", "A5")
	p.WaitFor(late, 20*time.Second, "compensated at its deadline", compensated)
	p.SetSwitches(`{"payment":{"paused":false}}`)
	p.WaitFor(late, 15*time.Second, "neutralised", func(b Booking) bool { return slices.Contains(eventTypes(b), "LateMessageNeutralised") })
	p.Settled(15 * time.Second)
	time.Sleep(300 * time.Millisecond)

	msgs := tap.Messages()
	seen := map[string]int{}
	for _, d := range msgs {
		if err := contract.Check(d); err != nil {
			t.Errorf("message %s with routing key %s breaks the contract: %v\nbody: %s", d.MessageId, d.RoutingKey, err, d.Body)
		}
		seen[d.Type]++
	}
	for _, typ := range []string{"BookingCreated", "PaymentCompleted", "PaymentServiceFailed", "SeatsSold", "SeatUpdatingServiceFailed",
		"RefundRequested", "PaymentRefunded", "SeatReleaseRequested", "BookingCancelled", "NotificationRetry", "BookingNotified",
		"DeadlineExceeded", "SeatsVoidRequested", "LateMessageNeutralised", "SwitchesChanged"} {
		if seen[typ] == 0 {
			t.Errorf("the sagas published no %s; the test means to check one", typ)
		}
	}
	t.Logf("%d messages checked against the contract: %v", len(msgs), seen)

	// A message with a wrong field fails the same check.
	var sample amqp.Delivery
	for _, d := range msgs {
		if d.Type == "PaymentCompleted" {
			sample = d
			break
		}
	}
	if sample.Type == "" {
		t.Fatal("no PaymentCompleted to break")
	}
	var body map[string]any
	if err := json.Unmarshal(sample.Body, &body); err != nil {
		t.Fatal(err)
	}
	booking := body["booking"].(map[string]any)
	with := func(f func(d *amqp.Delivery, body, booking map[string]any)) amqp.Delivery {
		d := sample
		d.Headers = amqp.Table{}
		for k, v := range sample.Headers {
			d.Headers[k] = v
		}
		b := map[string]any{}
		for k, v := range body {
			b[k] = v
		}
		bk := map[string]any{}
		for k, v := range booking {
			bk[k] = v
		}
		b["booking"] = bk
		f(&d, b, bk)
		d.Body, _ = json.Marshal(b)
		return d
	}
	for _, c := range []struct {
		what string
		d    amqp.Delivery
	}{
		{"amount_cents as a string", with(func(_ *amqp.Delivery, _, bk map[string]any) { bk["amount_cents"] = "1000" })},
		{"a field the envelope does not have", with(func(_ *amqp.Delivery, b, _ map[string]any) { b["price"] = 1000 })},
		{"a seat that is not a seat id", with(func(_ *amqp.Delivery, _, bk map[string]any) { bk["seats"] = []string{"a1"} })},
		{"no booking id", with(func(_ *amqp.Delivery, _, bk map[string]any) { delete(bk, "id") })},
		{"an event no step fails with", with(func(_ *amqp.Delivery, b, _ map[string]any) { b["event"] = "Oops" })},
		{"sent by seats", with(func(d *amqp.Delivery, _, _ map[string]any) { d.Headers["x-sagaboard-source"] = "seats" })},
		{"no caused-by header", with(func(d *amqp.Delivery, _, _ map[string]any) { delete(d.Headers, "x-sagaboard-caused-by") })},
		{"an unknown header", with(func(d *amqp.Delivery, _, _ map[string]any) { d.Headers["x-price"] = "1000" })},
		{"not persistent", with(func(d *amqp.Delivery, _, _ map[string]any) { d.DeliveryMode = amqp.Transient })},
		{"no user_id", with(func(d *amqp.Delivery, _, _ map[string]any) { d.UserId = "" })},
		{"a type not in the contract", with(func(d *amqp.Delivery, _, _ map[string]any) { d.Type = "PaymentComplete" })},
		{"a routing key payment may not use", with(func(d *amqp.Delivery, _, _ map[string]any) { d.RoutingKey = "notification_queue" })},
	} {
		if err := contract.Check(c.d); err == nil {
			t.Errorf("a PaymentCompleted with %s passes the contract check", c.what)
		}
	}
	if err := contract.Check(with(func(*amqp.Delivery, map[string]any, map[string]any) {})); err != nil {
		t.Errorf("the unbroken copy fails the check: %v", err)
	}
}

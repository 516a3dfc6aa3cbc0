package rabbit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
)

// AsyncAPIVersion is the version of the AsyncAPI specification the contract
// is written in.
const AsyncAPIVersion = "3.1.0"

// amqpBindingVersion is the AsyncAPI AMQP bindings' version the contract
// uses.
const amqpBindingVersion = "0.3.0"

// AsyncAPI returns the message contract as an AsyncAPI 3 document, in YAML:
// the exchanges, a channel per routing key and per queue, every message
// type with a JSON Schema for its payload and for its AMQP properties and
// headers, and an operation per part and channel saying who sends and who
// receives it.
//
// It is made from the tables the code enforces (saga.Routes, saga.Bindings,
// saga.Consumes, saga.WorkQueues, DecodeEnvelope's limits and this
// package's topology and headers), so the document cannot say what the
// code does not do. static/asyncapi.yaml is this output, committed and
// served; a test fails when the two differ (run `make asyncapi`).
func AsyncAPI() []byte {
	var b bytes.Buffer
	b.WriteString("# The message contract of sagaboard, made by `make asyncapi` from the tables\n")
	b.WriteString("# the code enforces (services/rabbit/asyncapi.go). Do not edit by hand.\n")
	writeYAML(&b, contract(), 0)
	return b.Bytes()
}

// AsyncAPIJSON returns the same document as AsyncAPI, in JSON, for tools
// that validate messages against its schemas.
func AsyncAPIJSON() []byte {
	b, err := json.Marshal(contract())
	if err != nil {
		panic("rabbit: encode asyncapi: " + err.Error()) // only maps, lists and scalars: unreachable
	}
	return b
}

// obj is a JSON object whose keys keep the order they were added in, so the
// YAML reads top-down and the committed file diffs cleanly.
type obj struct {
	keys []string
	vals map[string]any
}

func newObj(kv ...any) *obj {
	o := &obj{vals: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *obj) set(k string, v any) *obj {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
	return o
}

// MarshalJSON writes the keys in order.
func (o *obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func ref(path ...string) *obj {
	for i, p := range path {
		path[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1")
	}
	return newObj("$ref", "#/"+strings.Join(path, "/"))
}

// Channel ids: a routing key on an exchange, and a queue.
func keyChannel(exchange, key string) string { return exchange + ":" + key }
func queueChannel(queue string) string       { return "queue:" + queue }

// uncaused lists the types made by a request or a timer rather than by
// handling a message, so they carry no x-sagaboard-caused-by.
var uncaused = []string{saga.TypeBookingCreated, saga.TypeDeadlineExceeded}

// failures are the types whose envelope names themselves in "event".
var failures = []string{saga.TypePaymentServiceFailed, saga.TypeSeatUpdatingServiceFailed, saga.TypeDeadlineExceeded}

// sagaTypes lists every type in Routes, in the order it first appears.
func sagaTypes() []string {
	var ts []string
	for _, r := range saga.Routes {
		if !slices.Contains(ts, r.Type) {
			ts = append(ts, r.Type)
		}
	}
	return ts
}

func sendersOf(typ string) []string {
	var ps []string
	for _, r := range saga.Routes {
		if r.Type == typ && !slices.Contains(ps, r.From) {
			ps = append(ps, r.From)
		}
	}
	return ps
}

// typesInto lists the types that reach queue: every type for the observer's
// tap and the dead-letter queue, which take anything.
func typesInto(queue string) []string {
	var ts []string
	for _, t := range sagaTypes() {
		reaches := queue == saga.DeadLetterQueue
		for _, r := range saga.Routes {
			if r.Type == t && saga.Reaches(r.Key, queue) {
				reaches = true
			}
		}
		if reaches {
			ts = append(ts, t)
		}
	}
	return ts
}

func contract() *obj {
	exchanges, queues := topology(Config{})
	kinds := map[string]string{}
	for _, e := range exchanges {
		kinds[e.name] = e.kind
	}
	exchangeBinding := func(name string) *obj {
		return newObj("name", name, "type", kinds[name], "durable", true, "autoDelete", false)
	}

	channels := newObj()
	// A channel per routing key the saga's parts publish with.
	var keys []string
	for _, r := range saga.Routes {
		if !slices.Contains(keys, r.Key) {
			keys = append(keys, r.Key)
		}
	}
	for _, k := range keys {
		msgs := newObj()
		for _, r := range saga.Routes {
			if r.Key == k {
				msgs.set(r.Type, ref("components", "messages", r.Type))
			}
		}
		var into []string
		for _, q := range saga.WorkQueues() {
			if saga.Reaches(k, q) && q != saga.ObserverQueue {
				into = append(into, q)
			}
		}
		desc := fmt.Sprintf("Routing key %s on the %s exchange. It reaches %s, and the observer's tap.", k, saga.Exchange, list(into))
		if len(into) == 0 {
			desc = fmt.Sprintf("Routing key %s on the %s exchange. Only the observer's tap receives it: it is a note for the timeline.", k, saga.Exchange)
		}
		channels.set(keyChannel(saga.Exchange, k), newObj(
			"address", k,
			"title", k,
			"description", desc,
			"messages", msgs,
			"bindings", newObj("amqp", newObj("is", "routingKey", "exchange", exchangeBinding(saga.Exchange), "bindingVersion", amqpBindingVersion)),
		))
	}
	// A channel per queue, with its arguments and bindings as declared.
	for _, q := range queues {
		msgs := newObj()
		for _, t := range typesInto(q.name) {
			msgs.set(t, ref("components", "messages", t))
		}
		var binds []any
		for _, b := range q.bindings {
			binds = append(binds, newObj("exchange", b.exchange, "routingKey", b.key))
		}
		args := newObj()
		for _, k := range sortedKeys(q.args) {
			args.set(k, q.args[k])
		}
		channels.set(queueChannel(q.name), newObj(
			"address", q.name,
			"title", q.name,
			"description", queueDescription(q.name),
			"messages", msgs,
			"bindings", newObj("amqp", newObj("is", "queue",
				"queue", newObj("name", q.name, "durable", true, "exclusive", false, "autoDelete", false),
				"bindingVersion", amqpBindingVersion)),
			"x-sagaboard-arguments", args,
			"x-sagaboard-bindings", binds,
		))
	}
	for _, c := range []struct {
		key   string
		types []string
		desc  string
	}{
		{saga.ControlKey, []string{saga.TypeSwitchesChanged}, "The whole set of failure switches, sent by web on every change and in answer to a Hello. Every process binds a server-named exclusive queue (amq.gen-…) to control.# on this exchange."},
		{saga.KeyHello, []string{saga.TypeHello, saga.TypePresence}, "Hello is sent by a process without the dashboard once its control subscription is in place; web answers with the switches. Presence is sent by every process every few seconds, and at once when a part connects or moves: its parts and the broker node each is on, which the dashboard shows."},
	} {
		msgs := newObj()
		for _, typ := range c.types {
			msgs.set(typ, ref("components", "messages", typ))
		}
		channels.set(keyChannel(ControlExchange, c.key), newObj(
			"address", c.key,
			"title", c.key,
			"description", c.desc,
			"messages", msgs,
			"bindings", newObj("amqp", newObj("is", "routingKey", "exchange", exchangeBinding(ControlExchange), "bindingVersion", amqpBindingVersion)),
		))
	}

	operations := newObj()
	sendBinding := newObj("amqp", newObj("deliveryMode", 2, "mandatory", false, "timestamp", true, "bindingVersion", amqpBindingVersion))
	recvBinding := newObj("amqp", newObj("ack", true, "bindingVersion", amqpBindingVersion))
	for _, p := range saga.Parts {
		var pkeys []string
		for _, r := range saga.Routes {
			if r.From == p && !slices.Contains(pkeys, r.Key) {
				pkeys = append(pkeys, r.Key)
			}
		}
		for _, k := range pkeys {
			var msgs []any
			var types []string
			for _, r := range saga.Routes {
				if r.From == p && r.Key == k {
					msgs = append(msgs, ref("channels", keyChannel(saga.Exchange, k), "messages", r.Type))
					types = append(types, r.Type)
				}
			}
			operations.set(p+".send."+k, newObj(
				"action", "send",
				"channel", ref("channels", keyChannel(saga.Exchange, k)),
				"title", fmt.Sprintf("%s sends %s", p, list(types)),
				"description", fmt.Sprintf("Published by %s with routing key %s on %s, persistent and confirmed, with user_id set to its broker user (VHOST.%s on a provisioned vhost).", p, k, saga.Exchange, p),
				"messages", msgs,
				"bindings", sendBinding,
				"x-sagaboard-part", p,
			))
		}
		for _, q := range saga.Consumes[p] {
			var msgs []any
			for _, t := range typesInto(q) {
				msgs = append(msgs, ref("channels", queueChannel(q), "messages", t))
			}
			operations.set(p+".receive."+q, newObj(
				"action", "receive",
				"channel", ref("channels", queueChannel(q)),
				"title", fmt.Sprintf("%s consumes %s", p, q),
				"description", fmt.Sprintf("%s acks a message once what it caused is confirmed, requeues it on a passing failure, and rejects a message it can never handle, which the queue dead-letters. It believes a message's sender from the broker-validated user_id, checked against the routes above.", p),
				"messages", msgs,
				"bindings", recvBinding,
				"x-sagaboard-part", p,
			))
		}
	}
	operations.set("web.send."+saga.ControlKey, newObj(
		"action", "send",
		"channel", ref("channels", keyChannel(ControlExchange, saga.ControlKey)),
		"messages", []any{ref("channels", keyChannel(ControlExchange, saga.ControlKey), "messages", saga.TypeSwitchesChanged)},
		"x-sagaboard-part", saga.PartWeb,
	))
	operations.set("every.receive."+saga.ControlKey, newObj(
		"action", "receive",
		"channel", ref("channels", keyChannel(ControlExchange, saga.ControlKey)),
		"description", "Every process takes the switches; one not sent by web's broker user is ignored.",
		"messages", []any{ref("channels", keyChannel(ControlExchange, saga.ControlKey), "messages", saga.TypeSwitchesChanged)},
	))
	hello := []any{
		ref("channels", keyChannel(ControlExchange, saga.KeyHello), "messages", saga.TypeHello),
		ref("channels", keyChannel(ControlExchange, saga.KeyHello), "messages", saga.TypePresence),
	}
	operations.set("every.send."+saga.KeyHello, newObj(
		"action", "send",
		"channel", ref("channels", keyChannel(ControlExchange, saga.KeyHello)),
		"messages", hello,
	))
	operations.set("web.receive."+saga.KeyHello, newObj(
		"action", "receive",
		"channel", ref("channels", keyChannel(ControlExchange, saga.KeyHello)),
		"messages", hello,
		"x-sagaboard-part", saga.PartWeb,
	))

	messages := newObj()
	for _, t := range sagaTypes() {
		payload := any(ref("components", "schemas", "Envelope"))
		if slices.Contains(failures, t) {
			payload = newObj("allOf", []any{payload, newObj(
				"required", []any{"event"},
				"properties", newObj("event", newObj("const", t)),
			)})
		}
		messages.set(t, newObj(
			"name", t,
			"title", t,
			"summary", fmt.Sprintf("Sent by %s.", list(sendersOf(t))),
			"contentType", "application/json",
			"correlationId", newObj("description", "The booking id, copied to every message of its saga.", "location", "$message.header#/correlation_id"),
			"headers", headersSchema(t, sendersOf(t), !slices.Contains(uncaused, t)),
			"payload", payload,
			"bindings", newObj("amqp", newObj("messageType", t, "bindingVersion", amqpBindingVersion)),
			"x-sagaboard-senders", toAny(sendersOf(t)),
		))
	}
	messages.set(saga.TypeSwitchesChanged, newObj(
		"name", saga.TypeSwitchesChanged,
		"title", saga.TypeSwitchesChanged,
		"summary", "Sent by web.",
		"contentType", "application/json",
		"headers", headersSchema(saga.TypeSwitchesChanged, []string{saga.PartWeb}, false),
		"payload", ref("components", "schemas", "SwitchState"),
		"bindings", newObj("amqp", newObj("messageType", saga.TypeSwitchesChanged, "bindingVersion", amqpBindingVersion)),
	))
	messages.set(saga.TypeHello, newObj(
		"name", saga.TypeHello,
		"title", saga.TypeHello,
		"summary", "Sent by a process without the dashboard; its source is the comma list of parts it runs.",
		"contentType", "application/json",
		"headers", headersSchema(saga.TypeHello, nil, false),
		"payload", newObj("type", "object"),
		"bindings", newObj("amqp", newObj("messageType", saga.TypeHello, "bindingVersion", amqpBindingVersion)),
	))
	messages.set(saga.TypePresence, newObj(
		"name", saga.TypePresence,
		"title", saga.TypePresence,
		"summary", fmt.Sprintf("Sent by every process every %s, and at once when one of its parts connects or moves to another node; its source is the comma list of parts it runs.", saga.PresenceEvery),
		"contentType", "application/json",
		"headers", headersSchema(saga.TypePresence, nil, false),
		"payload", newObj(
			"type", "object",
			"required", []any{"process", "parts", "nodes"},
			"properties", newObj(
				"process", newObj("type", "string", "description", "A fresh id at each start of the process."),
				"parts", newObj("type", "array", "items", newObj("type", "string")),
				"nodes", newObj("type", "object", "description", "Each part's broker node, host:port; empty while it has no connection.", "additionalProperties", newObj("type", "string")),
			),
		),
		"bindings", newObj("amqp", newObj("messageType", saga.TypePresence, "bindingVersion", amqpBindingVersion)),
	))

	return newObj(
		"asyncapi", AsyncAPIVersion,
		"info", newObj(
			"title", "sagaboard",
			"version", "1.0.0",
			"description", "A choreography-based seat-booking saga on RabbitMQ. Each part publishes through the "+saga.Exchange+" topic exchange with the routing key of the queue its message is meant for, persistent and confirmed, and consumes its own queues with manual acks. The body of every saga message is the Envelope; the booking id is its correlation_id. A message a part publishes carries user_id, its broker user: on a provisioned vhost the broker checks it, and consumers believe a sender only from it.",
			"license", newObj("name", "MIT"),
		),
		"defaultContentType", "application/json",
		"servers", newObj("local", newObj(
			"host", "localhost:5672",
			"protocol", "amqp",
			"protocolVersion", "0.9.1",
			"pathname", "/{vhost}",
			"description", "A local RabbitMQ. `sagaboard setup-broker` provisions a vhost with one broker user per part, VHOST.PART.",
			"variables", newObj("vhost", newObj("default", "sagaboard", "description", "The vhost; a provisioned one has per-part users.")),
		)),
		"channels", channels,
		"operations", operations,
		"components", newObj(
			"schemas", newObj(
				"Envelope", envelopeSchema(),
				"Booking", bookingSchema(),
				"SwitchState", switchStateSchema(),
			),
			"messages", messages,
		),
	)
}

func queueDescription(q string) string {
	switch {
	case q == saga.ObserverQueue:
		return fmt.Sprintf("The observer's tap, bound with # on %s: it sees every saga message. As a classic queue (-tap classic) it keeps at most %d, dropping the oldest; as a stream (-tap stream) every observer reads all of it from its own offset, and it keeps -tap-retention bytes.", saga.Exchange, ObserverMaxLength)
	case q == saga.DeadLetterQueue:
		return fmt.Sprintf("Messages no part could handle, through %s or a work queue's dead-lettering; the observer keeps them and may replay one through %s.", DeadExchange, ReplayExchange)
	case isRetryQueue(q):
		return fmt.Sprintf("Holds a failed notification for %s, then dead-letters it back into %s.", saga.RetryQueueFor(retryIndex(q)+1).Delay, saga.NotificationQueue)
	}
	return fmt.Sprintf("A work queue. A rejected message is dead-lettered to %s; a replayed one comes back through %s.", saga.DeadLetterQueue, ReplayExchange)
}

package rabbit

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
)

// definitions is the vhost, its users and permissions, and its topology, in
// RabbitMQ's definitions format.
func definitions(vhost string, cfg Config, creds *Credentials) ([]byte, error) {
	type obj = map[string]any
	d := obj{"vhosts": []obj{{"name": vhost}}}
	var users, perms, topics []obj
	for _, p := range saga.Parts {
		login := creds.Parts[p]
		users = append(users, obj{"name": login.User, "password_hash": hashPassword(login.Password),
			"hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""})
		pm := permissionsFor(p)
		perms = append(perms, obj{"user": login.User, "vhost": vhost, "configure": pm.configure, "write": pm.write, "read": pm.read})
		control := []string{saga.KeyHello}
		if p == saga.PartWeb {
			control = append(control, saga.ControlKey)
		}
		topics = append(topics,
			obj{"user": login.User, "vhost": vhost, "exchange": saga.Exchange, "write": anyOf(saga.KeysOf(p)), "read": "^$"},
			obj{"user": login.User, "vhost": vhost, "exchange": ControlExchange, "write": anyOf(control), "read": ".*"})
	}
	d["users"], d["permissions"], d["topic_permissions"] = users, perms, topics
	exchanges, queues := topology(cfg)
	var xs, qs, bs []obj
	for _, e := range exchanges {
		xs = append(xs, obj{"name": e.name, "vhost": vhost, "type": e.kind, "durable": true, "auto_delete": false, "internal": false, "arguments": obj{}})
	}
	for _, q := range queues {
		args := obj{}
		for k, v := range q.args {
			args[k] = v
		}
		qs = append(qs, obj{"name": q.name, "vhost": vhost, "durable": true, "auto_delete": false, "arguments": args})
		for _, b := range q.bindings {
			bs = append(bs, obj{"source": b.exchange, "vhost": vhost, "destination": q.name, "destination_type": "queue", "routing_key": b.key, "arguments": obj{}})
		}
	}
	d["exchanges"], d["queues"], d["bindings"] = xs, qs, bs
	// The dead-letter queue is drained by the observer; while it is not,
	// the queue keeps the newest dead letters rather than grow without end.
	// A policy bounds it without changing the queue's declared arguments.
	d["policies"] = []obj{{"vhost": vhost, "name": "sagaboard-dead-letters", "pattern": "^" + regexp.QuoteMeta(saga.DeadLetterQueue) + "$",
		"apply-to": "queues", "priority": 0, "definition": obj{"max-length": DeadLetterQueueMax}}}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("setup-broker: encode definitions: %w", err)
	}
	return b, nil
}

// DeadLetterQueueMax bounds the dead-letter queue on a provisioned vhost.
const DeadLetterQueueMax = 10_000

type permissions struct{ configure, write, read string }

// permissionsFor is what part's user may do on the vhost, beyond which it
// may do nothing: declare, bind and read only a server-named exclusive
// queue for control messages (amq.gen-…), publish only to the exchanges its
// part uses (never the default exchange, which reaches every queue), and
// read only the queues its part consumes.
func permissionsFor(part string) permissions {
	const own = `amq\.gen-.*`
	write := []string{regexp.QuoteMeta(ControlExchange), own}
	if len(saga.KeysOf(part)) > 0 {
		write = append(write, regexp.QuoteMeta(saga.Exchange))
	}
	if len(saga.Consumes[part]) > 0 {
		write = append(write, regexp.QuoteMeta(DeadExchange))
	}
	if part == saga.PartObserver { // it keeps the dead letters, and replays them
		write = append(write, regexp.QuoteMeta(ReplayExchange))
	}
	read := []string{regexp.QuoteMeta(ControlExchange), own}
	for _, q := range saga.Consumes[part] {
		read = append(read, regexp.QuoteMeta(q))
	}
	return permissions{configure: "^" + own + "$", write: "^(" + strings.Join(write, "|") + ")$", read: "^(" + strings.Join(read, "|") + ")$"}
}

// anyOf is a regular expression matching exactly one of names; "^$" for none.
func anyOf(names []string) string {
	if len(names) == 0 {
		return "^$"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = regexp.QuoteMeta(n)
	}
	slices.Sort(q)
	return "^(" + strings.Join(q, "|") + ")$"
}

// hashPassword hashes as RabbitMQ's rabbit_password_hashing_sha256 does:
// a 4-byte salt, then SHA-256 of salt and password, in base64. The broker
// never sees the password itself in the definitions.
func hashPassword(pw string) string {
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	sum := sha256.Sum256(append(slices.Clone(salt), pw...))
	return base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
}

package rabbit

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

// CredentialsFile is the file, in the data folder, where setup-broker keeps
// each part's broker user. A process started with that folder connects each
// of its parts as its own user.
const CredentialsFile = "broker.json"

// Credentials are a provisioned vhost's broker users, one per part. A
// process needs only the entries of the parts it runs.
type Credentials struct {
	// URL is the broker and vhost, without a user.
	URL   string           `json:"url"`
	Vhost string           `json:"vhost"`
	Parts map[string]Login `json:"parts"`
}

// Login is one broker user.
type Login struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// UserFor names part's broker user on vhost. Users are broker-wide, so the
// vhost is in the name: two provisioned vhosts never share a user.
func UserFor(vhost, part string) string { return vhost + "." + part }

// SendersFor maps every part's user on vhost to the part. It needs no
// password, so a process that runs one part can still tell who sent what.
func SendersFor(vhost string) saga.Senders {
	s := saga.Senders{}
	for _, p := range saga.Parts {
		s[UserFor(vhost, p)] = p
	}
	return s
}

// ReadCredentials reads dir's credentials file. It returns (nil, nil) when
// there is none: the vhost is then used with one shared identity.
func ReadCredentials(dir string) (*Credentials, error) {
	path := filepath.Join(dir, CredentialsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read broker credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read broker credentials %s: not the file setup-broker writes: %w", path, err)
	}
	if c.Vhost == "" || c.URL == "" {
		return nil, fmt.Errorf("read broker credentials %s: it names no vhost or URL; run setup-broker again", path)
	}
	return &c, nil
}

// PartURL is the URL part connects with: base's host, port and vhost, and
// part's own user. base is the -amqp URL; its user and password are not used.
func (c *Credentials) PartURL(base, part string) (string, error) {
	login, ok := c.Parts[part]
	if !ok {
		return "", fmt.Errorf("%s has no broker user for %s; copy its entry from the %s that setup-broker wrote", CredentialsFile, part, CredentialsFile)
	}
	u, err := amqp.ParseURI(base)
	if err != nil {
		return "", fmt.Errorf("the AMQP URL is not valid: %s", redactErr(err))
	}
	if u.Vhost != c.Vhost {
		return "", fmt.Errorf("-amqp names vhost %q, but %s was written for vhost %q; use the same vhost, or leave -amqp out", u.Vhost, CredentialsFile, c.Vhost)
	}
	u.Username, u.Password = login.User, login.Password
	return u.String(), nil
}

// ProvisionOptions say where and how to provision.
type ProvisionOptions struct {
	// URL is the broker and vhost to provision, with an administrator's
	// user (guest on a fresh local broker). The vhost may not be "/".
	URL string
	// Dir is the data folder the credentials file is written to.
	Dir string
	// Quorum declares the work queues as quorum queues.
	Quorum bool
	// Management, when set, is the management API's base URL with an
	// administrator's user (http://guest:guest@127.0.0.1:15672); it is used
	// instead of rabbitmqctl.
	Management string
	// Rabbitmqctl is the command to run; default "rabbitmqctl".
	Rabbitmqctl string
}

// Provision creates the vhost, one user per part with only the permissions
// its part needs, the topic permissions that bind each part to its routing
// keys, and the whole topology; it takes guest's permissions on the vhost
// away and writes the credentials file. Run again, it keeps the passwords
// it wrote before, so running processes stay connected.
//
// It makes one import_definitions call, not one rabbitmqctl call per user,
// because each call starts an Erlang VM and takes seconds.
func Provision(ctx context.Context, o ProvisionOptions) (*Credentials, error) {
	u, err := amqp.ParseURI(o.URL)
	if err != nil {
		return nil, fmt.Errorf("setup-broker: the AMQP URL is not valid: %s", redactErr(err))
	}
	if u.Vhost == "/" || u.Vhost == "" {
		return nil, errors.New("setup-broker: give the vhost a name of its own, e.g. amqp://guest:guest@localhost:5672/sagaboard; provisioning takes guest's access away, and other clients on this machine use guest on /")
	}
	old, err := ReadCredentials(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("setup-broker: %w", err)
	}
	creds := &Credentials{Vhost: u.Vhost, Parts: map[string]Login{}}
	base := u
	// amqp091-go leaves its default user out of a URL's text: a URL that
	// carries no secret.
	base.Username, base.Password = "guest", "guest"
	creds.URL = base.String()
	for _, p := range saga.Parts {
		login := Login{User: UserFor(u.Vhost, p)}
		if old != nil && old.Vhost == u.Vhost && old.Parts[p].User == login.User {
			login.Password = old.Parts[p].Password
		}
		if login.Password == "" {
			login.Password = rand.Text()
		}
		creds.Parts[p] = login
	}
	defs, err := definitions(u.Vhost, Config{Quorum: o.Quorum, DeliveryLimit: 20}, creds)
	if err != nil {
		return nil, err
	}
	if o.Management != "" {
		err = importByAPI(ctx, o.Management, u.Vhost, defs)
	} else {
		err = importByCtl(ctx, o.Rabbitmqctl, u.Vhost, defs)
	}
	if err != nil {
		return nil, err
	}
	// The import finishes in the background; wait until a new user logs in.
	web, err := creds.PartURL(o.URL, saga.PartWeb)
	if err != nil {
		return nil, err
	}
	if err := waitLogin(ctx, web, 30*time.Second); err != nil {
		return nil, fmt.Errorf("setup-broker: the broker did not take the new users within 30s (%s); see RabbitMQ's log", redactErr(err))
	}
	if err := writeCredentials(o.Dir, creds); err != nil {
		return nil, err
	}
	return creds, nil
}

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

func importByCtl(ctx context.Context, ctl, vhost string, defs []byte) error {
	if ctl == "" {
		ctl = "rabbitmqctl"
	}
	run := func(args ...string) error {
		out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("setup-broker: %s %s: %w: %s", ctl, args[0], err, lastLine(out))
		}
		return nil
	}
	// rabbitmqctl reads the definitions from stdin, so the password hashes
	// never touch the disk. It looks at stdin once, as it starts, and takes
	// an empty one for a missing argument (exit 64), as happened when our
	// writer was a moment late on a busy machine; so the whole document is
	// in the pipe, and the pipe closed, before rabbitmqctl starts. A pipe
	// holds 64 KiB; the document is about 13.
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("setup-broker: pipe definitions: %w", err)
	}
	defer r.Close()
	if len(defs) > 60<<10 {
		w.Close()
		return fmt.Errorf("setup-broker: the definitions are %d bytes, more than a pipe holds", len(defs))
	}
	_, err = w.Write(defs)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("setup-broker: pipe definitions: %w", err)
	}
	cmd := exec.CommandContext(ctx, ctl, "import_definitions")
	cmd.Stdin = r
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("setup-broker: %s import_definitions: %w: %s", ctl, err, lastLine(out))
	}
	return run("clear_permissions", "-p", vhost, "guest")
}

func importByAPI(ctx context.Context, base, vhost string, defs []byte) error {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return errors.New("setup-broker: -management must be a URL such as http://guest:guest@127.0.0.1:15672")
	}
	user := u.User
	u.User = nil
	do := func(method, path string, body []byte, okMissing bool) error {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(u.String(), "/")+path, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("setup-broker: %s %s: %w", method, path, err)
		}
		if user != nil {
			pw, _ := user.Password()
			req.SetBasicAuth(user.Username(), pw)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("setup-broker: %s %s: %w", method, path, err)
		}
		defer res.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		if res.StatusCode/100 != 2 && !(okMissing && res.StatusCode == http.StatusNotFound) {
			return fmt.Errorf("setup-broker: the management API answered %s to %s %s: %s", res.Status, method, path, lastLine(msg))
		}
		return nil
	}
	if err := do(http.MethodPost, "/api/definitions", defs, false); err != nil {
		return err
	}
	return do(http.MethodDelete, "/api/permissions/"+url.PathEscape(vhost)+"/guest", nil, true)
}

func waitLogin(ctx context.Context, rawURL string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		conn, err := amqp.DialConfig(rawURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// writeCredentials writes the file readable by its owner only, through a
// temporary file, so a reader never sees half of it.
func writeCredentials(dir string, c *Credentials) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("setup-broker: create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("setup-broker: encode credentials: %w", err)
	}
	f, err := os.CreateTemp(dir, CredentialsFile+".*")
	if err != nil {
		return fmt.Errorf("setup-broker: write credentials: %w", err)
	}
	defer os.Remove(f.Name())
	// One err through every step, so that a failed write or sync is not lost
	// and the file is closed whatever happened.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("setup-broker: write credentials: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, CredentialsFile)); err != nil {
		return fmt.Errorf("setup-broker: write credentials: %w", err)
	}
	return nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// redactErr is err's text with any URL password in it hidden.
func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": the URL could not be parsed"
	}
	return err.Error()
}

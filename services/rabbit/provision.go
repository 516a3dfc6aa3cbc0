package rabbit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

// ProvisionOptions say where and how to provision.
type ProvisionOptions struct {
	// URL is the broker and vhost to provision, with an administrator's
	// user (guest on a fresh local broker). The vhost may not be "/".
	URL string
	// Dir is the data folder the credentials file is written to.
	Dir string
	// Quorum declares the work queues as quorum queues.
	Quorum bool
	// Tap and TapRetention make the observer's tap, as Config's do.
	Tap          string
	TapRetention int64
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
	cfg := Config{Quorum: o.Quorum, DeliveryLimit: 20, Tap: o.Tap, TapRetention: o.TapRetention}.withTapDefaults()
	creds := &Credentials{Vhost: u.Vhost, Parts: map[string]Login{}, Tap: cfg.Tap}
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
	defs, err := definitions(u.Vhost, cfg, creds)
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

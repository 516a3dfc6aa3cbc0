package rabbit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	// Tap is the kind setup-broker made the observer's tap (TapClassic or
	// TapStream), so every process on the vhost reads it as what it is.
	// "" in a file written before streams: classic.
	Tap string `json:"tap,omitempty"`
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
	// base may list a cluster's nodes: each gets the part's user.
	var urls []string
	for _, raw := range SplitURLs(base) {
		u, err := amqp.ParseURI(raw)
		if err != nil {
			return "", fmt.Errorf("the AMQP URL is not valid: %s", redactErr(err))
		}
		if u.Vhost != c.Vhost {
			return "", fmt.Errorf("-amqp names vhost %q, but %s was written for vhost %q; use the same vhost, or leave -amqp out", u.Vhost, CredentialsFile, c.Vhost)
		}
		u.Username, u.Password = login.User, login.Password
		urls = append(urls, u.String())
	}
	return strings.Join(urls, ","), nil
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

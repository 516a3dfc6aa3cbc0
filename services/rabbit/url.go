package rabbit

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrPermanent marks a connection failure that retrying will not fix: a
// wrong user or password, an unknown vhost or no permission on it, or a URL
// that cannot be used. Test for it with errors.Is.
var ErrPermanent = errors.New("this will not fix itself")

// ValidateURL checks an AMQP URL before it is used, so a typo stops the
// program at start with a sentence instead of connecting somewhere else:
// amqp091-go reads "amqp:guest:pw@host/" (no "//") as localhost, vhost "/".
// Its errors name the URL with the password hidden, never the URL itself:
// url.Parse's errors quote the whole URL, and even their inner text can quote
// part of a password ("amqp://u:pa/ss@h" reads as host "u", port "pa").
//
// raw may list the nodes of one cluster, separated by commas; each is
// checked.
func ValidateURL(raw string) error {
	urls := SplitURLs(raw)
	if len(urls) == 0 {
		return errors.New("no AMQP URL given, as in amqp://user:password@localhost:5672/vhost")
	}
	for _, u := range urls {
		if _, err := parseURL(u); err != nil {
			return err
		}
	}
	return nil
}

// parseURL is ValidateURL that also returns the URL's parts.
func parseURL(raw string) (amqp.URI, error) {
	shown := redact(raw)
	// Without "://", Cut gives the whole URL as the scheme, which fails.
	scheme, rest, _ := strings.Cut(raw, "://")
	switch {
	case scheme != "amqp" && scheme != "amqps":
		if i := strings.Index(raw, ":"); i > 0 && (raw[:i] == "amqp" || raw[:i] == "amqps") {
			return amqp.URI{}, fmt.Errorf("AMQP URL %s: there must be // after %s:, as in amqp://user:password@localhost:5672/vhost", shown, raw[:i])
		}
		return amqp.URI{}, fmt.Errorf("AMQP URL %s: it must start with amqp:// or amqps://, as in amqp://user:password@localhost:5672/vhost", shown)
	case strings.ContainsAny(rest, " \t\r\n"):
		return amqp.URI{}, fmt.Errorf("AMQP URL %s: it must not contain spaces (percent-encode them)", shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return amqp.URI{}, fmt.Errorf("AMQP URL %s cannot be read: check the host and port, and percent-encode any / ? # @ : or %% in the user or password", shown)
	}
	if u.Hostname() == "" {
		return amqp.URI{}, fmt.Errorf("AMQP URL %s names no host, as in amqp://user:password@localhost:5672/vhost", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return amqp.URI{}, fmt.Errorf("AMQP URL %s: the port must be a number from 1 to 65535", shown)
		}
	}
	uri, err := amqp.ParseURI(raw)
	if err != nil {
		// What is left to fail here is the query (heartbeat=, channel_max=...),
		// which is no place for a password; still, quote it only if it
		// does not contain the password.
		pw, _ := u.User.Password()
		if pw != "" && strings.Contains(err.Error(), pw) {
			return amqp.URI{}, fmt.Errorf("AMQP URL %s cannot be used", shown)
		}
		return amqp.URI{}, fmt.Errorf("AMQP URL %s cannot be used: %v", shown, err)
	}
	return uri, nil
}

// redact returns an AMQP URL with its password hidden, and without its
// query, for logs, /healthz and the page. A URL that does not parse as one with a host is shown only up to
// its user name, since where its password ends cannot be known.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return mask(raw)
	}
	// The query names options, not the broker, and is no place to look
	// for a password that landed in it.
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	return u.Redacted()
}

// mask shows a broken URL up to "//user:" and hides the rest.
func mask(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "//")
	if !ok || !isScheme(scheme) {
		// Without "//" there is no telling a user from a password:
		// "amqp:guest:pw@host" shows only its scheme.
		if s, _, ok := strings.Cut(raw, ":"); ok && isScheme(s+":") {
			return s + ":***"
		}
		return "***"
	}
	user := rest
	if i := strings.IndexAny(rest, ":@/?#["); i >= 0 {
		user = rest[:i+1]
		if rest[i] != ':' {
			user = rest[:i]
		}
	}
	return scheme + "//" + user + "***"
}

// isScheme reports whether s is a URL scheme followed by ":".
func isScheme(s string) bool {
	name, ok := strings.CutSuffix(s, ":")
	if !ok || name == "" || len(name) > 16 {
		return false
	}
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return true
}

// refused turns a failure to connect or to declare the topology into a
// sentence naming the user, host and vhost, marked ErrPermanent, when it is
// the broker refusing for good. Other errors (connection refused, a timeout,
// a broker shutting down) come back as they are: retrying may fix them.
func refused(uri amqp.URI, err error, declaring bool) error {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return err
	}
	where := fmt.Sprintf("RabbitMQ at %s:%d", uri.Host, uri.Port)
	switch {
	case ae.Code == amqp.AccessRefused && declaring:
		return fmt.Errorf("%s lets user %q into vhost %q but refuses it the topology (the broker says: %s); %w: grant the user configure, write and read permissions on the vhost, e.g. rabbitmqctl set_permissions -p %s %s '.*' '.*' '.*'",
			where, uri.Username, uri.Vhost, ae.Reason, ErrPermanent, uri.Vhost, uri.Username)
	case ae.Code == amqp.AccessRefused:
		return fmt.Errorf("%s refused the login of user %q for vhost %q: wrong user or password (the broker says: %s); %w: correct the AMQP URL",
			where, uri.Username, uri.Vhost, ae.Reason, ErrPermanent)
	case ae.Code == amqp.PreconditionFailed && declaring:
		// A queue's arguments are fixed when it is made: a process started
		// with another -quorum, -tap or -tap-retention than the one that
		// made it cannot declare it, and retrying will not change that.
		return fmt.Errorf("%s has a queue made with other arguments than this process asks for (the broker says: %s); %w: start every process on vhost %q with the same -quorum, -tap and -tap-retention as the one that made it, or delete that queue (rabbitmqctl delete_queue -p %s NAME) to make it anew",
			where, ae.Reason, ErrPermanent, uri.Vhost, uri.Vhost)
	// 530 at connection.open is also how RabbitMQ says a connection limit is
	// reached, which clears when other connections close: only its reason
	// tells the two apart.
	case ae.Code == amqp.NotAllowed && !strings.Contains(ae.Reason, "limit"):
		return fmt.Errorf("%s does not let user %q into vhost %q: it does not exist, or the user has no permission on it (the broker says: %s); %w: create it (rabbitmqctl add_vhost %s), grant the user permissions on it, or correct the AMQP URL",
			where, uri.Username, uri.Vhost, ae.Reason, ErrPermanent, uri.Vhost)
	}
	return err
}

// Package rabbit is the RabbitMQ adapter: it declares the saga's topology,
// publishes with confirms and consumes with manual acks, and keeps doing so
// across broker restarts.
//
// Why not amqp091-go's Config.Recovery: it reopens a channel under the same id
// and restarts delivery tags at 1, while Delivery.Ack carries no notion of
// which incarnation of the channel a delivery came from. A message received
// before an outage and acked after it would ack whatever new message now holds
// that tag, one that was never processed: a lost message. So each connection
// here is a session; everything opened on it dies with it, a stale ack fails
// harmlessly on a closed channel, and the broker redelivers what was unacked
// (the inboxes make that safe).
package rabbit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Config configures a Broker.
type Config struct {
	// URL is the broker, e.g. amqp://guest:guest@localhost:5672/.
	URL string
	// Name is shown as the connection name in RabbitMQ's tools. Default "sagaboard".
	Name string
	// Quorum declares every queue of the saga as a quorum queue, replicated
	// on every node of a RabbitMQ cluster, the work queues with a delivery
	// limit. Queues keep the type they were first declared
	// with, so this must not change for a vhost once used. Default false.
	Quorum bool
	// DeliveryLimit is the quorum delivery limit. Default 20.
	DeliveryLimit int
	// Tap is how the observer's tap is declared: TapClassic or TapStream
	// (see topology). Like Quorum, it must not change for a vhost once
	// used. Default TapClassic.
	Tap string
	// TapRetention is how many bytes a stream tap keeps, its oldest
	// segments going first. Default DefaultTapRetention.
	TapRetention int64
	// Provisioned says the vhost's topology was made by setup-broker, and
	// this connection's user may not declare it: it is only checked.
	Provisioned bool
	// Log receives connection state changes. Default slog.Default().
	Log *slog.Logger
}

// Broker is a self-healing connection to RabbitMQ.
type Broker struct {
	cfg   Config
	log   *slog.Logger
	uri   amqp.URI // the first node's parts: the user every publish names
	nodes []node   // cfg.URL's nodes, in the order given
	bad   error    // why cfg.URL cannot be used, if it cannot

	first    chan struct{} // closed once the first connection attempt is over
	firstErr error         // set before first is closed

	mu      sync.Mutex
	at      int // the node tried first: the one connected to, or the next after a loss
	sess    *session
	up      chan struct{} // closed while sess != nil
	lastErr error
	outages int
	since   time.Time

	stop context.CancelFunc
	done chan struct{}

	// unacked counts, per queue, the deliveries this process's consumers
	// have taken and not yet settled. AMQP reports only ready messages and
	// consumers; this is the part of "unacked" a process can know without
	// the management plugin.
	unacked sync.Map // queue name → *atomic.Int64
}

type session struct {
	conn *amqp.Connection
	pub  *amqp.Channel // confirm mode; shared by all publishers
	dead chan struct{} // closed when the connection is gone
}

// ErrDown is returned while the broker cannot be reached.
var ErrDown = errors.New("broker unreachable")

// Open starts connecting in the background and returns at once: a broker that
// is down at start is logged in one clear line and retried, never fatal.
func Open(cfg Config) *Broker {
	if cfg.Name == "" {
		cfg.Name = "sagaboard"
	}
	if cfg.DeliveryLimit == 0 {
		cfg.DeliveryLimit = 20
	}
	cfg = cfg.withTapDefaults()
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{cfg: cfg, log: cfg.Log, up: make(chan struct{}), stop: cancel, done: make(chan struct{}), since: time.Now(), first: make(chan struct{})}
	// A URL ValidateURL refuses is never handed to amqp091-go, whose parse
	// errors quote it whole, password included.
	for _, raw := range SplitURLs(cfg.URL) {
		uri, err := parseURL(raw)
		if err != nil {
			b.bad = fmt.Errorf("rabbit: %w; %w", err, ErrPermanent)
			break
		}
		b.nodes = append(b.nodes, node{raw: raw, uri: uri})
	}
	if b.bad == nil && len(b.nodes) == 0 {
		b.bad = fmt.Errorf("rabbit: no AMQP URL given; %w", ErrPermanent)
	}
	if b.bad == nil {
		b.uri = b.nodes[0].uri
	}
	go b.run(ctx)
	return b
}

// WaitFirst waits for the first connection attempt to end. It returns nil
// once connected, and nil after a failure that retrying may fix, such as a
// broker that is down: that failure was logged and the Broker keeps trying in
// the background. It returns the failure when it is permanent
// (errors.Is(err, ErrPermanent)): a wrong user or password, an unknown vhost
// or no permission on it. A program that is starting should stop with it
// rather than retry what will never work.
func (b *Broker) WaitFirst(ctx context.Context) error {
	select {
	case <-b.first:
		if errors.Is(b.firstErr, ErrPermanent) {
			return b.firstErr
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rabbit: wait for the first connection: %w", ctx.Err())
	}
}

// Close stops reconnecting and closes the connection. It cannot fail: a
// connection that does not close cleanly is gone all the same.
func (b *Broker) Close() {
	b.stop()
	<-b.done
}

// Status reports whether the broker is connected, the last error, how many
// outages there have been, and since when the current state holds.
//
//lint:ignore ST1008 lastErr is part of a snapshot, not a failure of the call.
func (b *Broker) Status() (connected bool, lastErr error, outages int, since time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sess != nil, b.lastErr, b.outages, b.since
}

// Healthy returns nil when connected, or why not.
func (b *Broker) Healthy() error {
	ok, err, _, _ := b.Status()
	if ok {
		return nil
	}
	if err == nil {
		err = errors.New("not connected yet")
	}
	return fmt.Errorf("broker %s: %w", redact(b.cfg.URL), err)
}

// Reconnect timing. A broker that is down is tried again within seconds;
// one that refuses for good (ErrPermanent) is still tried, in case someone
// fixes the user or the vhost, but slowly, and the log says so rarely.
const (
	retryMin          = 500 * time.Millisecond
	retryMax          = 5 * time.Second
	retryMaxPermanent = time.Minute
	repeatPermanent   = 10 * time.Minute
)

func (b *Broker) run(ctx context.Context) {
	defer close(b.done)
	wait := retryMin
	reported := false
	var said string // the permanent failure last logged, and when
	var saidAt time.Time
	over := false // the first attempt
	firstOver := func(err error) {
		if !over {
			b.firstErr, over = err, true
			close(b.first)
		}
	}
	defer firstOver(nil)
	for ctx.Err() == nil {
		s, err := b.dial()
		if err != nil {
			b.mu.Lock()
			b.lastErr = err
			b.mu.Unlock()
			limit := retryMax
			if errors.Is(err, ErrPermanent) {
				limit = retryMaxPermanent
				if err.Error() != said || time.Since(saidAt) > repeatPermanent {
					b.log.Error(err.Error() + "; still retrying, every minute at most")
					said, saidAt = err.Error(), time.Now()
				}
				reported = true
			} else if !reported {
				b.log.Error(fmt.Sprintf("cannot reach RabbitMQ at %s (%v); start it with `rabbitmq-server -detached` or `make broker`; retrying every few seconds", redact(b.cfg.URL), err))
				reported = true
			}
			firstOver(err)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
			// A capped doubling by hand, as the relay's: no library for it.
			wait = min(wait*2, limit)
			continue
		}
		firstOver(nil)
		said = ""
		wait = retryMin
		if reported {
			b.log.Info("connected to RabbitMQ", "node", b.Node())
		}
		reported = true // from now on, every loss is worth one line
		closed := s.conn.NotifyClose(make(chan *amqp.Error, 1))
		// The broker closes the publishing channel when it refuses a
		// publish (a topic permission, a user_id). Every publisher shares
		// it, so start a new session rather than fail every publish after.
		pubClosed := s.pub.NotifyClose(make(chan *amqp.Error, 1))
		b.mu.Lock()
		b.sess, b.lastErr, b.since = s, nil, time.Now()
		close(b.up)
		b.mu.Unlock()

		var cause error
		select {
		case e := <-closed:
			if e != nil {
				cause = e
			} else {
				cause = errors.New("connection closed")
			}
		case e := <-pubClosed:
			cause = errors.New("publishing channel closed")
			if e != nil {
				cause = fmt.Errorf("publishing channel closed: %w", e)
			}
		case <-ctx.Done():
			cause = errors.New("shutting down")
		}
		b.mu.Lock()
		b.sess, b.lastErr, b.since = nil, cause, time.Now()
		b.up = make(chan struct{})
		b.outages++
		b.at = (b.at + 1) % len(b.nodes) // try the next node first
		b.mu.Unlock()
		close(s.dead)
		_ = s.conn.Close()
		if ctx.Err() == nil {
			b.log.Warn("lost RabbitMQ connection; reconnecting", "err", cause)
		}
	}
}

// node is one broker of a cluster, as -amqp names it.
type node struct {
	raw string
	uri amqp.URI
}

// addr is the node as the page names it: host and port, no user.
func (n node) addr() string { return net.JoinHostPort(n.uri.Host, strconv.Itoa(n.uri.Port)) }

// SplitURLs splits -amqp's comma-separated list of one cluster's nodes.
// Spaces are not trimmed: a URL with a space in it is refused whole, as a
// typo is, rather than read as something else.
func SplitURLs(raw string) []string {
	var out []string
	for _, u := range strings.Split(raw, ",") {
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Nodes is how many nodes -amqp named.
func (b *Broker) Nodes() int { return len(b.nodes) }

// Node is the broker node this connection is on, as host:port; "" while
// it is on none.
func (b *Broker) Node() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess == nil || b.bad != nil {
		return ""
	}
	return b.nodes[b.at].addr()
}

// dial connects to the first node that answers, starting from the one
// after the node lost last, so a process whose node died moves on to the
// next and comes back to it last. A node that refuses for good is passed
// over as long as another may still answer.
func (b *Broker) dial() (*session, error) {
	if b.bad != nil {
		return nil, b.bad
	}
	b.mu.Lock()
	start := b.at
	b.mu.Unlock()
	var failed error
	for i := range b.nodes {
		k := (start + i) % len(b.nodes)
		s, err := b.dialNode(b.nodes[k])
		if err == nil {
			b.mu.Lock()
			b.at = k
			b.mu.Unlock()
			return s, nil
		}
		if failed == nil || errors.Is(failed, ErrPermanent) {
			failed = err
		}
	}
	return nil, failed
}

func (b *Broker) dialNode(n node) (*session, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(b.cfg.Name)
	conn, err := amqp.DialConfig(n.raw, amqp.Config{
		Heartbeat:  10 * time.Second,
		Properties: props,
		Dial:       amqp.DefaultDial(5 * time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("rabbit: dial: %w", refused(n.uri, err, false))
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("rabbit: open channel: %w", err)
	}
	if !b.cfg.Provisioned {
		if err := declare(ch, b.cfg); err != nil {
			conn.Close()
			return nil, refused(n.uri, err, true)
		}
	}
	if err := ch.Confirm(false); err != nil {
		conn.Close()
		return nil, fmt.Errorf("rabbit: confirm mode: %w", err)
	}
	return &session{conn: conn, pub: ch, dead: make(chan struct{})}, nil
}

// session waits for a live session, or for ctx to end.
func (b *Broker) session(ctx context.Context) (*session, error) {
	for {
		b.mu.Lock()
		s, up := b.sess, b.up
		b.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, fmt.Errorf("rabbit: %w: %w", ErrDown, ctx.Err())
		}
	}
}

// held returns the counter of unsettled deliveries for queue.
func (b *Broker) held(queue string) *atomic.Int64 {
	if c, ok := b.unacked.Load(queue); ok {
		return c.(*atomic.Int64)
	}
	c, _ := b.unacked.LoadOrStore(queue, new(atomic.Int64))
	return c.(*atomic.Int64)
}

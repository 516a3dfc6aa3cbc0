package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/rabbit"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web"
)

// openBrokers connects each part of this process to the broker. With the
// credentials setup-broker wrote in the data folder, each part is its own
// broker user, on a connection of its own, and its consumers believe a
// message only from the part that may send it. Without them, every part
// shares one connection and one identity, and the server says so.
func (m *Main) openBrokers(ctx context.Context) error {
	if err := m.dialBrokers(); err != nil {
		return err
	}
	// A broker that refuses us for good (a wrong password, no such vhost)
	// stops the start with its sentence; one that is down is retried.
	for _, b := range uniqueBrokers(m.brokers) {
		if err := b.WaitFirst(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (m *Main) dialBrokers() error {
	c := m.Config
	creds, err := rabbit.ReadCredentials(c.Data)
	if err != nil {
		return err
	}
	m.brokers = map[string]*rabbit.Broker{}
	m.tap = c.Tap
	if creds == nil {
		b := rabbit.Open(rabbit.Config{URL: c.AMQP, Quorum: c.Quorum, Tap: c.Tap, TapRetention: c.TapRetention, Log: m.Log, Name: "sagaboard " + strings.Join(c.Only, ",")})
		for _, p := range c.Only {
			m.brokers[p] = b
		}
		m.control = b
		m.Log.Warn("shared broker identity: every part connects as the same RabbitMQ user, so any client of this vhost can forge saga messages; run `sagaboard setup-broker` to give each part its own user (README, Security)")
		return nil
	}
	// setup-broker made the tap; a credentials file from before streams
	// says nothing, and its tap is classic.
	m.tap = cmp.Or(creds.Tap, rabbit.TapClassic)
	if c.TapSet && c.Tap != m.tap {
		return fmt.Errorf("-tap %s: setup-broker made vhost %q's tap %s; run with -tap %s, or run setup-broker again with -tap %s after deleting the tap (rabbitmqctl delete_queue -p %s %s)",
			c.Tap, creds.Vhost, m.tap, m.tap, c.Tap, creds.Vhost, saga.ObserverQueue)
	}
	base := creds.URL
	if c.AMQPSet {
		base = c.AMQP
	}
	m.senders = rabbit.SendersFor(creds.Vhost)
	for _, p := range c.Only {
		url, err := creds.PartURL(base, p)
		if err != nil {
			return err
		}
		m.brokers[p] = rabbit.Open(rabbit.Config{URL: url, Provisioned: true, Tap: m.tap, Log: m.Log, Name: "sagaboard " + p})
	}
	// Control messages go through the dashboard's user where it runs here:
	// only it may change the switches.
	m.control = m.brokers[saga.PartWeb]
	if m.control == nil {
		m.control = m.brokers[c.Only[0]]
	}
	m.Log.Info("broker identity: each part is its own RabbitMQ user", "vhost", creds.Vhost)
	return nil
}

// identity is what /healthz and the page say of the broker identity.
func (m *Main) identity() string {
	if m.senders == nil {
		return web.BrokerShared
	}
	return web.BrokerPerPart
}

func uniqueBrokers(all map[string]*rabbit.Broker) []*rabbit.Broker {
	var out []*rabbit.Broker
	for _, b := range all {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// brokers is every connection of the process seen as one, for the health
// check and the broker badge: it is up only while all of them are.
type brokers struct {
	all     []*rabbit.Broker
	inspect *rabbit.Broker
}

func brokerSet(all map[string]*rabbit.Broker, inspect *rabbit.Broker) web.Broker {
	return brokers{uniqueBrokers(all), inspect}
}

func (bs brokers) Healthy() error {
	var errs []error
	for _, b := range bs.all {
		if err := b.Healthy(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Status reports the worst of the connections: down if any is, with its
// error, and the outages of all of them added up.
//
//lint:ignore ST1008 lastErr is part of a snapshot, not a failure of the call.
func (bs brokers) Status() (connected bool, lastErr error, outages int, since time.Time) {
	connected = true
	for _, b := range bs.all {
		ok, err, n, t := b.Status()
		outages += n
		switch {
		case !ok && connected:
			connected, lastErr, since = false, err, t
		case ok == connected && t.After(since):
			since = t
		}
	}
	return connected, lastErr, outages, since
}

// Node and Nodes are the control connection's, as the page's badge says
// which node this process is on.
func (bs brokers) Node() string {
	if bs.inspect == nil {
		return ""
	}
	return bs.inspect.Node()
}

func (bs brokers) Nodes() int {
	if bs.inspect == nil {
		return 0
	}
	return bs.inspect.Nodes()
}

func (bs brokers) Inspect(ctx context.Context, queues []string) ([]saga.QueueStat, error) {
	if bs.inspect == nil {
		return nil, fmt.Errorf("inspect queues: %w", rabbit.ErrDown)
	}
	stats, err := bs.inspect.Inspect(ctx, queues)
	// Each part consumes on a connection of its own where parts are their
	// own users: what is in hand is the sum over this process's brokers,
	// not only the one that asked.
	if len(bs.all) > 1 {
		for i := range stats {
			stats[i].Unacked = 0
			for _, b := range bs.all {
				stats[i].Unacked += b.Unacked(stats[i].Name)
			}
		}
	}
	return stats, err
}

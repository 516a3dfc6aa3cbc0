package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

// The raw ceiling is the saga's shape on the broker with no business logic:
// what the local RabbitMQ allows when every message is persistent,
// publisher-confirmed, manually acked, and copied to an observer queue by a
// topic exchange. sagaboard is judged by its ratio to this figure, so the
// ceiling is built to be high: confirms are waited for asynchronously and
// acked in batches, and prefetch leaves room for pipelining.

const (
	ceilingExchange = "bench"
	ceilingObserver = "observer"
	// ceilingPrefetch is per consumer. 256 is what sagaboard's participants
	// use by default; more only lengthens queues inside the client.
	ceilingPrefetch = 256
	// ceilingWindow bounds the driver's unconfirmed publishes in the
	// throughput mode, as 32 HTTP clients bound sagaboard's POSTs in flight
	// only loosely: both keep the pipeline full.
	ceilingWindow = 1024
)

// ceilingHops are the queues one saga walks through: the driver publishes
// to q1, hop i consumes qi and publishes the next, the driver counts
// arrivals in done.
var ceilingHops = []string{"q1", "q2", "q3", "done"}

// CeilingResult is one measurement of the raw ceiling.
type CeilingResult struct {
	Sagas   int
	Elapsed time.Duration
	Rate    float64 // sagas per second
	Latency Latency // first publish to the third hop's arrival
	MsgSize int
	// BrokerCPU is the broker's CPU during the throughput mode; 0 when the
	// broker does not run on this machine.
	BrokerCPU time.Duration
	// Wire is what the broker counted for the ceiling's vhost during the
	// throughput mode.
	Wire Wire
}

// BrokerPerSaga is the broker's CPU per saga, in milliseconds.
func (c CeilingResult) BrokerPerSaga() float64 {
	if c.Sagas == 0 {
		return 0
	}
	return c.BrokerCPU.Seconds() * 1000 / float64(c.Sagas)
}

// ceilingSize is the body size of a ceiling message: a saga message with
// its booking, event and the reason a person reads on the timeline is 150
// to 300 bytes of JSON, so the ceiling carries the upper end.
const ceilingSize = 300

// ceilingBody is a saga message as sagaboard sends it, its reason padded so
// the body is ceilingSize bytes.
func ceilingBody(i int) []byte {
	user, seat := fmt.Sprintf("bench-user-%02d", i%32), saga.SeatID(i/100%100, i%100)
	e := saga.Envelope{
		Booking: saga.Booking{ID: saga.NewID(), UserID: user, Seats: []string{seat}, AmountCents: saga.PricePerSeat},
		Reason:  "held " + seat + " for " + user + " ",
	}
	if pad := ceilingSize - len(e.Encode()); pad > 0 {
		e.Reason += strings.Repeat(".", pad)
	}
	return e.Encode()
}

func ceilingPublishing(body []byte, typ string) amqp.Publishing {
	id := saga.NewID()
	return amqp.Publishing{
		Headers:       amqp.Table{"x-source": "bench", "x-published-ms": time.Now().UnixMilli()},
		ContentType:   "application/json",
		DeliveryMode:  amqp.Persistent,
		MessageId:     id,
		CorrelationId: id,
		Type:          typ,
		Timestamp:     time.Now(),
		AppId:         "sagabench",
		Body:          body,
	}
}

// ceiling is the raw topology in one vhost, with its consumers running.
type ceiling struct {
	conns   []*amqp.Connection
	pub     *amqp.Channel // the driver's, in confirm mode
	done    chan struct{} // one value per arrival in the done queue
	third   atomic.Pointer[chan struct{}]
	errs    chan error
	wg      sync.WaitGroup
	stop    context.CancelFunc
	msgSize int
}

// openCeiling declares the topology and starts three hops, the observer and
// the done counter, each on its own connection as separate processes would.
func openCeiling(ctx context.Context, url string) (*ceiling, error) {
	c := &ceiling{done: make(chan struct{}, 1<<16), errs: make(chan error, 8)}
	dial := func() (*amqp.Connection, error) {
		conn, err := amqp.Dial(url)
		if err != nil {
			return nil, fmt.Errorf("ceiling: dial %s: %w", redact(url), err)
		}
		c.conns = append(c.conns, conn)
		return conn, nil
	}
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("ceiling: open channel: %w", err)
	}
	if err := declareCeiling(ch); err != nil {
		c.close()
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		c.close()
		return nil, fmt.Errorf("ceiling: confirm mode: %w", err)
	}
	c.pub = ch

	runCtx, stop := context.WithCancel(ctx)
	c.stop = stop
	start := func(f func(context.Context, *amqp.Connection) error) error {
		conn, err := dial()
		if err != nil {
			return err
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := f(runCtx, conn); err != nil && runCtx.Err() == nil {
				c.errs <- err
			}
		}()
		return nil
	}
	for i := 0; i < len(ceilingHops)-1; i++ {
		in, out := ceilingHops[i], ceilingHops[i+1]
		var arrived func()
		if i == len(ceilingHops)-2 {
			arrived = func() {
				if p := c.third.Load(); p != nil {
					select {
					case *p <- struct{}{}:
					default:
					}
				}
			}
		}
		if err := start(func(ctx context.Context, conn *amqp.Connection) error {
			return hop(ctx, conn, in, out, arrived)
		}); err != nil {
			c.close()
			return nil, err
		}
	}
	if err := start(func(ctx context.Context, conn *amqp.Connection) error {
		return drain(ctx, conn, ceilingObserver, nil)
	}); err != nil {
		c.close()
		return nil, err
	}
	if err := start(func(ctx context.Context, conn *amqp.Connection) error {
		return drain(ctx, conn, "done", func() { c.done <- struct{}{} })
	}); err != nil {
		c.close()
		return nil, err
	}
	c.msgSize = len(ceilingBody(0))
	return c, nil
}

// declareCeiling mirrors sagaboard's topology: durable classic queues, a
// durable topic exchange, and a capped observer tap bound with "#".
func declareCeiling(ch *amqp.Channel) error {
	if err := ch.ExchangeDeclare(ceilingExchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("ceiling: declare exchange: %w", err)
	}
	for _, q := range ceilingHops {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			return fmt.Errorf("ceiling: declare %s: %w", q, err)
		}
		if err := ch.QueueBind(q, q, ceilingExchange, false, nil); err != nil {
			return fmt.Errorf("ceiling: bind %s: %w", q, err)
		}
	}
	if _, err := ch.QueueDeclare(ceilingObserver, true, false, false, false, amqp.Table{"x-max-length": 200_000, "x-overflow": "drop-head"}); err != nil {
		return fmt.Errorf("ceiling: declare observer: %w", err)
	}
	if err := ch.QueueBind(ceilingObserver, "#", ceilingExchange, false, nil); err != nil {
		return fmt.Errorf("ceiling: bind observer: %w", err)
	}
	return nil
}

func (c *ceiling) close() {
	if c.stop != nil {
		c.stop()
	}
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.wg.Wait()
}

// throughput publishes n sagas as fast as the broker confirms them and
// returns the time from the first publish to the n-th arrival in done.
func (c *ceiling) throughput(ctx context.Context, n int) (time.Duration, error) {
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = ceilingBody(i)
	}
	pubErr := make(chan error, 1)
	start := time.Now()
	go func() {
		window := make(chan *amqp.DeferredConfirmation, ceilingWindow)
		waited := make(chan error, 1)
		go func() {
			for dc := range window {
				if ok, err := dc.WaitContext(ctx); err != nil || !ok {
					waited <- fmt.Errorf("ceiling: first publish not confirmed: %v", err)
					for range window {
					}
					return
				}
			}
			waited <- nil
		}()
		for _, b := range bodies {
			dc, err := c.pub.PublishWithDeferredConfirmWithContext(ctx, ceilingExchange, ceilingHops[0], false, false, ceilingPublishing(b, ceilingHops[0]))
			if err != nil {
				close(window)
				pubErr <- fmt.Errorf("ceiling: publish: %w", err)
				return
			}
			window <- dc
		}
		close(window)
		pubErr <- <-waited
	}()
	return waitArrivals(ctx, c, n, pubErr, func() time.Duration { return time.Since(start) })
}

// waitArrivals waits for n arrivals in done, failing on a consumer error, a
// publish error, or a minute without progress.
func waitArrivals(ctx context.Context, c *ceiling, n int, pubErr <-chan error, elapsed func() time.Duration) (time.Duration, error) {
	stall := time.NewTimer(time.Minute)
	defer stall.Stop()
	for got := 0; got < n; {
		select {
		case <-c.done:
			got++
			if got%256 == 0 {
				stall.Reset(time.Minute)
			}
		case err := <-pubErr:
			if err != nil {
				return 0, err
			}
			pubErr = nil
		case err := <-c.errs:
			return 0, err
		case <-stall.C:
			return 0, fmt.Errorf("ceiling: %d of %d sagas arrived, then nothing for a minute", got, n)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return elapsed(), nil
}

// latency runs n sagas one at a time and times each from its publish to
// its arrival at the third hop; it then waits for the saga to finish, so
// no two overlap.
func (c *ceiling) latency(ctx context.Context, warmup, n int) ([]time.Duration, error) {
	third := make(chan struct{}, 1)
	c.third.Store(&third)
	defer c.third.Store(nil)
	var out []time.Duration
	for i := 0; i < warmup+n; i++ {
		body := ceilingBody(i)
		start := time.Now()
		dc, err := c.pub.PublishWithDeferredConfirmWithContext(ctx, ceilingExchange, ceilingHops[0], false, false, ceilingPublishing(body, ceilingHops[0]))
		if err != nil {
			return nil, fmt.Errorf("ceiling: publish: %w", err)
		}
		select {
		case <-third:
		case err := <-c.errs:
			return nil, err
		case <-time.After(10 * time.Second):
			return nil, errors.New("ceiling: a saga took more than 10s to reach the third hop")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if i >= warmup {
			out = append(out, time.Since(start))
		}
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return nil, fmt.Errorf("ceiling: publish not confirmed: %v", err)
		}
		if _, err := waitArrivals(ctx, c, 1, nil, func() time.Duration { return 0 }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// measureCeiling measures the raw ceiling in a fresh vhost: throughput over
// n sagas, then latency over latN one at a time.
func measureCeiling(ctx context.Context, cfg Config, n, warmup, latN int) (CeilingResult, error) {
	local := localBroker(cfg)
	vhost, err := addVhost(ctx, local, "sagabench-ceiling")
	if err != nil {
		return CeilingResult{}, err
	}
	defer deleteVhost(local, vhost)
	c, err := openCeiling(ctx, cfg.AMQP+vhost)
	if err != nil {
		return CeilingResult{}, err
	}
	defer c.close()
	// A short warm-up lets the broker create its queue processes and the
	// connections grow their buffers before the clock starts.
	if _, err := c.throughput(ctx, min(500, n)); err != nil {
		return CeilingResult{}, err
	}
	wire0, err := readWire(ctx, local, vhost)
	if err != nil {
		return CeilingResult{}, err
	}
	broker := cpuSince(local.pids()...)
	elapsed, err := c.throughput(ctx, n)
	if err != nil {
		return CeilingResult{}, err
	}
	brokerCPU := broker()
	wire1, err := readWire(ctx, local, vhost)
	if err != nil {
		return CeilingResult{}, err
	}
	lat, err := c.latency(ctx, warmup, latN)
	if err != nil {
		return CeilingResult{}, err
	}
	return CeilingResult{Sagas: n, Elapsed: elapsed, Rate: float64(n) / elapsed.Seconds(), Latency: summarize(lat), MsgSize: c.msgSize, BrokerCPU: brokerCPU, Wire: wire1.Sub(wire0)}, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Throughput is one throughput run against sagaboard.
type Throughput struct {
	Bookings    int           // accepted by POST
	Rejected    int           // POSTs that failed
	FirstErr    error         // the first failed POST, to show
	Compensated int64         // should be 0 with the switches off
	Elapsed     time.Duration // first POST to all confirmed
	Rate        float64       // bookings per second
	CPU         time.Duration // server CPU from the first POST until settled; 0 without a pid
	BrokerCPU   time.Duration // the broker's CPU over the same span; 0 when it is not on this machine
	StoreCPU    time.Duration // PostgreSQL's processes' CPU over the same span, with store=postgres
	Settle      time.Duration // first POST until every queue was empty
	Posted      time.Duration // first POST until the last POST was answered
	Post        Latency       // how long one POST took under load
	// Confirmed holds, for a sample of bookings, when each was confirmed:
	// its updated_at as read right after the commit, before notification
	// touches the row again.
	Confirmed map[string]time.Time
	IDs       []string  // every booking posted
	Done      time.Time // when none was pending any more
	Profile   string    // where the CPU profile went, or why there is none
	// Wire is what the broker counted for the server's vhost from the
	// first POST until the dashboards caught up (finishWire); zero with
	// -target, whose vhost sagabench does not know.
	Wire  Wire
	wire0 Wire
	// Traffic is publishes and deliveries counted from a sample of the
	// bookings' timelines.
	Traffic Traffic
}

// BrokerPerBooking is the broker's CPU per booking, in milliseconds.
func (t Throughput) BrokerPerBooking() float64 {
	if t.Bookings == 0 {
		return 0
	}
	return t.BrokerCPU.Seconds() * 1000 / float64(t.Bookings)
}

// StorePerBooking is PostgreSQL's CPU per booking, in milliseconds.
func (t Throughput) StorePerBooking() float64 {
	if t.Bookings == 0 {
		return 0
	}
	return t.StoreCPU.Seconds() * 1000 / float64(t.Bookings)
}

// CPUPer1k is CPU seconds per 1,000 bookings.
func (t Throughput) CPUPer1k() float64 {
	if t.Bookings == 0 {
		return 0
	}
	return t.CPU.Seconds() * 1000 / float64(t.Bookings)
}

// throughputOpts shapes one throughput run.
type throughputOpts struct {
	Seats       []string // one booking per seat
	Clients     int      // concurrent POSTers
	SampleEvery int      // long-poll every k-th booking for its confirmation time; 0 for none
	PIDs        []int    // the server's processes, for CPU; none to skip
	Vhost       string   // the server's vhost, to read the broker's counters; "" to skip
	Broker      broker   // where the vhost is, for the broker's CPU and counters
	Postgres    bool     // the stores are in the machine's PostgreSQL: count its CPU too
	Profile     func(ctx context.Context) string
}

// throughput posts one booking per seat from many clients at once and
// times the first POST to the moment none is pending.
func runThroughput(ctx context.Context, a *api, o throughputOpts) (Throughput, error) {
	base, err := a.stats(ctx)
	if err != nil {
		return Throughput{}, err
	}
	var wire0 Wire
	if o.Vhost != "" {
		if wire0, err = readWire(ctx, o.Broker, o.Vhost); err != nil {
			return Throughput{}, err
		}
	}
	broker := cpuSince(o.Broker.pids()...)
	server := cpuSince(o.PIDs...)
	storeCPU := func() time.Duration { return 0 }
	if o.Postgres {
		storeCPU = cpuOfNamed("postgres")
	}
	var (
		mu        sync.Mutex
		res       = Throughput{Confirmed: map[string]time.Time{}}
		next      atomic.Int64
		posts     sync.WaitGroup
		postTimes []time.Duration
		polls     sync.WaitGroup
		profileCh = make(chan string, 1)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	if o.Profile != nil {
		go func() { profileCh <- o.Profile(ctx) }()
	} else {
		profileCh <- ""
	}
	for w := 0; w < o.Clients; w++ {
		posts.Add(1)
		go func() {
			defer posts.Done()
			user := fmt.Sprintf("bench-%02d", w)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(o.Seats) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				id, err := a.book(ctx, user, o.Seats[i])
				took := time.Since(t0)
				mu.Lock()
				postTimes = append(postTimes, took)
				if err != nil {
					res.Rejected++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
				} else {
					res.Bookings++
					res.IDs = append(res.IDs, id)
				}
				mu.Unlock()
				if err != nil || o.SampleEvery <= 0 || i%o.SampleEvery != 0 {
					continue
				}
				polls.Add(1)
				go func() {
					defer polls.Done()
					v, err := a.wait(ctx, id, 30*time.Second)
					// A row already marked notified has a later updated_at
					// than its confirmation; leave it out rather than guess.
					if err == nil && v.Status == "confirmed" && !v.Notified {
						mu.Lock()
						res.Confirmed[id] = v.UpdatedAt
						mu.Unlock()
					}
				}()
			}
		}()
	}
	posts.Wait()
	res.Posted = time.Since(start)
	res.Post = summarize(postTimes)
	if res.Bookings == 0 {
		return res, fmt.Errorf("drive: every POST failed; the first: %w", res.FirstErr)
	}
	for {
		pending, err := a.anyPending(ctx)
		if err != nil {
			return res, err
		}
		if !pending {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return res, errors.New("drive: bookings still pending after 10 minutes")
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	res.Done = time.Now()
	res.Elapsed = res.Done.Sub(start)
	res.Rate = float64(res.Bookings) / res.Elapsed.Seconds()
	if err := a.settled(ctx, 5*time.Minute); err != nil {
		return res, err
	}
	res.Settle = time.Since(start)
	res.BrokerCPU = broker()
	// The counters are read again later, by finishWire: rabbitmqctl
	// starts an Erlang VM, a second of CPU that would hold up the
	// dashboards' last frames and count as their staleness.
	res.wire0 = wire0
	res.CPU = server()
	res.StoreCPU = storeCPU()
	polls.Wait()
	res.Profile = <-profileCh
	st, err := a.stats(ctx)
	if err != nil {
		return res, err
	}
	res.Compensated = st.Compensated - base.Compensated
	return res, nil
}

// runLatency books one seat at a time and times POST to confirmed, after
// warmup bookings that are not counted (the first requests pay for cold
// connections, caches and SQLite pages).
func runLatency(ctx context.Context, a *api, seats []string, warmup int) ([]time.Duration, error) {
	var out []time.Duration
	for i, seat := range seats {
		start := time.Now()
		id, err := a.book(ctx, "bench-latency", seat)
		if err != nil {
			return nil, err
		}
		v, err := a.wait(ctx, id, 10*time.Second)
		if err != nil {
			return nil, err
		}
		d := time.Since(start)
		if v.Status != "confirmed" {
			return nil, fmt.Errorf("drive: booking %s is %s after %s, want confirmed", id, v.Status, d.Round(time.Millisecond))
		}
		if i >= warmup {
			out = append(out, d)
		}
		// The next booking starts once this one has ended, its user told,
		// as the ceiling's next saga starts once the last one is done.
		// Started at once, it would share two cores with this one's last
		// hop (the notice, its record, the acks) and time both.
		if err := a.told(ctx, id, 10*time.Second); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fill stores bookings that end compensated until the store holds total
// bookings: with payment.fail_rate=1 every booking's seat comes free again,
// so a 10,000-seat venue can hold any number of bookings.
func fill(ctx context.Context, a *api, seats []string, clients int, total int64) error {
	if err := a.setFailures(ctx, `{"payment":{"fail_rate":1}}`); err != nil {
		return fmt.Errorf("drive: turn payment failures on: %w", err)
	}
	defer func() {
		_ = a.setFailures(context.WithoutCancel(ctx), `{"payment":{"fail_rate":0}}`)
	}()
	for {
		st, err := a.stats(ctx)
		if err != nil {
			return err
		}
		left := total - st.Total
		if left <= 0 {
			return nil
		}
		round := seats[:min(int64(len(seats)), left)]
		res, err := runThroughput(ctx, a, throughputOpts{Seats: round, Clients: clients})
		if err != nil {
			return err
		}
		if res.Rejected > 0 {
			return fmt.Errorf("drive: %d of %d fill bookings were refused; the first: %w", res.Rejected, len(round), res.FirstErr)
		}
		fmt.Fprintf(os.Stderr, "sagabench: scale: %s bookings stored\n", thousands(st.Total+int64(len(round))))
	}
}

// finishWire reads the broker's counters at the end of a throughput run,
// once the dashboards have caught up. The few seconds since the last
// booking add only the server's idle traffic.
func finishWire(ctx context.Context, t *Throughput, o throughputOpts) error {
	if o.Vhost == "" {
		return nil
	}
	w, err := readWire(ctx, o.Broker, o.Vhost)
	if err != nil {
		return err
	}
	t.Wire = w.Sub(t.wire0)
	return nil
}

package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Consumption is one queue a participant consumes and what it does with it.
type Consumption struct {
	Queue  string
	Effect Effect
	// Switch, when set, names the failure switch whose delay and pause apply.
	Switch string
}

// Runner runs one participant: its outbox relay and its consumers. It is the
// small router every participant shares, so each of them is only its effects.
type Runner struct {
	DB       *DB
	Relay    *Relay
	Bus      saga.Consumer
	Switches *saga.Switches
	Log      *slog.Logger
	// Committed, when set, is called for every message whose effect was
	// committed, after the commit. It must not block.
	Committed func(saga.Message)
}

// Run consumes until ctx ends. Shutdown goes in the order that loses nothing:
// consumers stop taking messages and finish the batch in hand (whose acks wait
// for the relay), then the relay flushes what is left and stops. It returns
// nil when ctx ended and everything was sent, and otherwise what stopped a
// consumer and what the relay could not send.
func (r *Runner) Run(ctx context.Context, cs ...Consumption) error {
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	relayErr := make(chan error, 1)
	go func() { relayErr <- r.Relay.Run(relayCtx) }()
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = r.Bus.Consume(ctx, c.Queue, r.options(c), r.handler(c)) })
	}
	wg.Wait()
	stopRelay()
	return errors.Join(append(errs, <-relayErr)...)
}

// options maps the switches onto a consumer. Slow motion reaches every
// consumer, the undo chain's too, so a whole booking can be watched hop by
// hop; a step's own delay, pause and let-one-through only its queue.
func (r *Runner) options(c Consumption) saga.ConsumeOptions {
	opt := saga.ConsumeOptions{}
	if r.Switches == nil {
		return opt
	}
	sw := r.Switches
	opt.Changed = sw.Changed
	opt.Delay = sw.Slow
	if c.Switch != "" {
		opt.Paused = func() bool { return sw.Get(c.Switch).Paused }
		opt.Delay = func() time.Duration {
			return max(time.Duration(sw.Get(c.Switch).DelayMS)*time.Millisecond, sw.Slow())
		}
		opt.LetOne = func(take bool) bool {
			if take {
				return sw.TakePermit(c.Switch)
			}
			return sw.Permits(c.Switch) > 0
		}
	}
	return opt
}

// handler applies a batch in one transaction, and tells the consumer to wait
// until the messages it caused are confirmed by the broker before it acks: a
// message leaves its queue only when its consequences are in theirs.
func (r *Runner) handler(c Consumption) saga.BatchHandler {
	return func(ctx context.Context, msgs []saga.Message) []saga.Outcome {
		outs, seq := r.DB.Apply(ctx, msgs, c.Effect)
		if r.Committed != nil {
			for i, o := range outs {
				if o.Err == nil {
					r.Committed(msgs[i])
				}
			}
		}
		if seq > 0 {
			// Committed but maybe not yet confirmed. If the wait fails the
			// consumer requeues; the redelivery finds the inbox entry, and the
			// relay publishes the outbox all the same.
			durable := func(ctx context.Context) error { return r.Relay.WaitSent(ctx, seq) }
			for i := range outs {
				if outs[i].Err == nil {
					outs[i].Durable = durable
				}
			}
		}
		return outs
	}
}

package saga

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"unicode/utf8"
)

// Middleware is one cross-cutting step in front of a BatchHandler, in the
// spirit of watermill's middleware: it may decide some messages' outcomes
// itself and hand the rest on.
//
// A consumed message goes through these steps, outermost first, each a
// small function with its own test:
//
//	Recover        a handler's panic poisons only the message that caused it
//	Bound          a body over MaxBodyBytes, or not UTF-8, is poison
//	CheckSenders   a message its sender may not send is forged
//	(the handler)  decode, switches, skip duplicates (the inbox), apply
//
// Skipping duplicates stays inside the participant's transaction (the
// inbox), because only there can it be exactly once with the effect.
type Middleware func(BatchHandler) BatchHandler

// WithMiddleware returns bus with every handler given to Consume behind mw,
// the first outermost. Publishing and replaying are bus's own.
func WithMiddleware(bus Bus, mw ...Middleware) Bus {
	if len(mw) == 0 {
		return bus
	}
	return pipedBus{bus, mw}
}

type pipedBus struct {
	Bus
	mw []Middleware
}

func (p pipedBus) Consume(ctx context.Context, queue string, opt ConsumeOptions, h BatchHandler) error {
	for i := len(p.mw) - 1; i >= 0; i-- {
		h = p.mw[i](h)
	}
	return p.Bus.Consume(ctx, queue, opt, h)
}

// decide runs h on the messages judge lets through and gives the others
// the outcome judge gave them; a batch that passes whole goes to h as it is.
// A message from a stream cannot be dead-lettered, so it goes on to h with
// judge's verdict in Refused, for h to keep.
func decide(ctx context.Context, msgs []Message, h BatchHandler, judge func(Message) error) []Outcome {
	outs := make([]Outcome, len(msgs))
	var kept []Message
	var at []int
	copied := false
	for i, m := range msgs {
		if err := judge(m); err != nil {
			if m.InStream {
				if !copied {
					msgs, copied = slices.Clone(msgs), true
				}
				if msgs[i].Refused == nil {
					msgs[i].Refused = err
				}
				kept, at = append(kept, msgs[i]), append(at, i)
				continue
			}
			outs[i].Err = err
			continue
		}
		kept, at = append(kept, m), append(at, i)
	}
	if len(kept) == len(msgs) {
		return h(ctx, msgs)
	}
	if len(kept) > 0 {
		for j, o := range h(ctx, kept) {
			outs[at[j]] = o
		}
	}
	return outs
}

// Bound makes poison of a message whose body is over MaxBodyBytes as it
// arrived, or not UTF-8, before any handler decodes it. The observer's
// queues are let through: it keeps a bounded prefix of whatever it sees,
// poison included, since what it records is the evidence.
func Bound() Middleware {
	return func(h BatchHandler) BatchHandler {
		return func(ctx context.Context, msgs []Message) []Outcome {
			return decide(ctx, msgs, h, func(m Message) error {
				if m.Queue == ObserverQueue || m.Queue == DeadLetterQueue {
					return nil
				}
				if n := max(m.Size, len(m.Body)); n > MaxBodyBytes {
					return Poison("body is %d bytes, more than the %d allowed", n, MaxBodyBytes)
				}
				if !utf8.Valid(m.Body) {
					return Poison("body is not valid UTF-8")
				}
				return nil
			})
		}
	}
}

// CheckSenders makes a message forged when s says its sender may not send
// it (see Senders.Check). With nil s it checks nothing.
func CheckSenders(s Senders) Middleware {
	return func(h BatchHandler) BatchHandler {
		if s == nil {
			return h
		}
		return func(ctx context.Context, msgs []Message) []Outcome {
			return decide(ctx, msgs, h, s.Check)
		}
	}
}

// Recover catches a handler's panic. The batch is tried again one message
// at a time, and a message that panics on its own is poison: a message that
// crashes its handler must not crash the process, nor come back forever, nor
// take its batch-mates down with it. A handler that returns the wrong number
// of outcomes is treated as a panic.
func Recover(log *slog.Logger) Middleware {
	return func(h BatchHandler) BatchHandler {
		return func(ctx context.Context, msgs []Message) []Outcome {
			outs, ok := try(ctx, log, msgs, h)
			if ok {
				return outs
			}
			outs = make([]Outcome, len(msgs))
			for i := range msgs {
				one, ok := try(ctx, log, msgs[i:i+1], h)
				if !ok {
					outs[i].Err = Poison("handler panicked on this message")
					continue
				}
				outs[i] = one[0]
			}
			return outs
		}
	}
}

func try(ctx context.Context, log *slog.Logger, msgs []Message, h BatchHandler) (outs []Outcome, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			queue := ""
			if len(msgs) > 0 {
				queue = msgs[0].Queue
			}
			log.Error("handler panicked", "queue", queue, "panic", r, "stack", string(debug.Stack()))
			outs, ok = nil, false
		}
	}()
	outs = h(ctx, msgs)
	if len(outs) != len(msgs) {
		panic(fmt.Sprintf("handler returned %d outcomes for %d messages", len(outs), len(msgs)))
	}
	return outs, true
}

package saga_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
)

// recordingHandler acks every message and remembers what it was given.
func recordingHandler(seen *[][]string) saga.BatchHandler {
	return func(_ context.Context, msgs []saga.Message) []saga.Outcome {
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		*seen = append(*seen, ids)
		return make([]saga.Outcome, len(msgs))
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRecoverPoisonsOnlyTheMessageThatPanics(t *testing.T) {
	var calls int
	h := saga.Recover(quietLog())(func(_ context.Context, msgs []saga.Message) []saga.Outcome {
		calls++
		for _, m := range msgs {
			if m.ID == "bad" {
				panic("boom")
			}
		}
		return make([]saga.Outcome, len(msgs))
	})
	outs := h(context.Background(), []saga.Message{{ID: "a"}, {ID: "bad"}, {ID: "c"}})
	if outs[0].Err != nil || outs[2].Err != nil {
		t.Errorf("its batch-mates failed too: %v, %v", outs[0].Err, outs[2].Err)
	}
	if !errors.Is(outs[1].Err, saga.ErrPoison) {
		t.Errorf("the panicking message: %v, want poison", outs[1].Err)
	}
	if calls != 4 { // the batch, then each message alone
		t.Errorf("%d calls, want 4", calls)
	}
	short := saga.Recover(quietLog())(func(context.Context, []saga.Message) []saga.Outcome { return nil })
	if outs := short(context.Background(), []saga.Message{{ID: "a"}}); len(outs) != 1 || !errors.Is(outs[0].Err, saga.ErrPoison) {
		t.Errorf("a handler that answers no outcome: %v, want one poison outcome", outs)
	}
}

func TestBoundRefusesBigAndBrokenBodiesBeforeTheHandler(t *testing.T) {
	var seen [][]string
	h := saga.Bound()(recordingHandler(&seen))
	outs := h(context.Background(), []saga.Message{
		{ID: "ok", Body: []byte(`{}`)},
		{ID: "big", Body: []byte(`{}`), Size: saga.MaxBodyBytes + 1},
		{ID: "latin1", Body: []byte{'{', 0xe9, '}'}},
		{ID: "ok2", Body: []byte(`{}`)},
	})
	if len(seen) != 1 || strings.Join(seen[0], ",") != "ok,ok2" {
		t.Errorf("the handler saw %v, want only ok,ok2", seen)
	}
	if outs[0].Err != nil || outs[3].Err != nil {
		t.Errorf("good messages failed: %v %v", outs[0].Err, outs[3].Err)
	}
	if e := outs[1].Err; !errors.Is(e, saga.ErrPoison) || !strings.Contains(e.Error(), "65537 bytes") {
		t.Errorf("a body over the bound as it arrived: %v, want poison naming its size", e)
	}
	if e := outs[2].Err; !errors.Is(e, saga.ErrPoison) || !strings.Contains(e.Error(), "UTF-8") {
		t.Errorf("a body that is not UTF-8: %v, want poison saying so", e)
	}
	// The observer records poison as evidence: its queues are let through.
	for _, q := range []string{saga.ObserverQueue, saga.DeadLetterQueue} {
		if outs := h(context.Background(), []saga.Message{{ID: "x", Queue: q, Body: []byte{0xff}}}); outs[0].Err != nil {
			t.Errorf("%s: %v, want it handed to the observer", q, outs[0].Err)
		}
	}
}

func TestCheckSendersKeepsTheBatchOrderAroundAForgery(t *testing.T) {
	var seen [][]string
	s := saga.Senders{"v.booking": saga.PartBooking, "v.seats": saga.PartSeats}
	h := saga.CheckSenders(s)(recordingHandler(&seen))
	msg := func(id, sender string) saga.Message {
		return saga.Message{ID: id, Type: saga.TypeBookingCreated, Queue: saga.PaymentQueue, RoutingKey: saga.PaymentQueue, Sender: sender}
	}
	outs := h(context.Background(), []saga.Message{msg("1", "v.booking"), msg("2", "v.seats"), msg("3", "v.booking")})
	if len(seen) != 1 || strings.Join(seen[0], ",") != "1,3" {
		t.Errorf("the handler saw %v, want 1,3", seen)
	}
	if outs[0].Err != nil || outs[2].Err != nil || !errors.Is(outs[1].Err, saga.ErrForged) {
		t.Errorf("outcomes %v, want the second forged and the others acked", outs)
	}
	if saga.CheckSenders(nil)(recordingHandler(&seen))(context.Background(), []saga.Message{msg("4", "anyone")})[0].Err != nil {
		t.Error("with one shared identity nothing can be checked, and nothing is refused")
	}
}

// TestAForgeryOnAStreamReachesTheHandlerWithItsVerdict: a stream can
// neither dead-letter nor take back, so the handler, which stores the
// stream's offset, gets the whole batch in order, the forgery marked.
func TestAForgeryOnAStreamReachesTheHandlerWithItsVerdict(t *testing.T) {
	s := saga.Senders{"v.booking": saga.PartBooking, "v.seats": saga.PartSeats}
	var refused []error
	var ids []string
	h := saga.CheckSenders(s)(func(_ context.Context, msgs []saga.Message) []saga.Outcome {
		for _, m := range msgs {
			ids, refused = append(ids, m.ID), append(refused, m.Refused)
		}
		return make([]saga.Outcome, len(msgs))
	})
	msg := func(id, sender string, off int64) saga.Message {
		return saga.Message{ID: id, Type: saga.TypeBookingCreated, Queue: saga.ObserverQueue, RoutingKey: saga.PaymentQueue, Sender: sender, InStream: true, Offset: off}
	}
	batch := []saga.Message{msg("1", "v.booking", 7), msg("2", "v.seats", 8), msg("3", "v.booking", 9)}
	outs := h(context.Background(), batch)
	if strings.Join(ids, ",") != "1,2,3" || refused[0] != nil || refused[2] != nil || !errors.Is(refused[1], saga.ErrForged) {
		t.Errorf("the handler saw %v with verdicts %v; want 1,2,3 with only 2 forged", ids, refused)
	}
	for i, o := range outs {
		if o.Err != nil {
			t.Errorf("outcome %d is %v; the handler kept it, so it is done", i, o.Err)
		}
	}
	if batch[1].Refused != nil {
		t.Error("the caller's batch was changed; the verdict belongs on the handler's copy")
	}
}

// fakeBus hands every Consume the batch it was made with.
type fakeBus struct {
	saga.Bus
	batch []saga.Message
	outs  []saga.Outcome
}

func (f *fakeBus) Consume(ctx context.Context, _ string, _ saga.ConsumeOptions, h saga.BatchHandler) error {
	f.outs = h(ctx, f.batch)
	return nil
}

func TestWithMiddlewareRunsTheStepsOutermostFirst(t *testing.T) {
	var order []string
	step := func(name string) saga.Middleware {
		return func(next saga.BatchHandler) saga.BatchHandler {
			return func(ctx context.Context, msgs []saga.Message) []saga.Outcome {
				order = append(order, name)
				return next(ctx, msgs)
			}
		}
	}
	fb := &fakeBus{batch: []saga.Message{{ID: "x"}}}
	bus := saga.WithMiddleware(fb, step("first"), step("second"))
	_ = bus.Consume(context.Background(), "q", saga.ConsumeOptions{}, func(_ context.Context, msgs []saga.Message) []saga.Outcome {
		order = append(order, "handler")
		return make([]saga.Outcome, len(msgs))
	})
	if strings.Join(order, ",") != "first,second,handler" {
		t.Errorf("order %v", order)
	}
}

package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web"
)

// A booking whose step is paused says where it waits and why, in its own
// JSON and in the queue panel's. (That a decided and told booking waits
// nowhere is checked end to end, in cmd/sagaboard.)
func TestWaitingSaysWhereAndWhy(t *testing.T) {
	h := mustServe(t, "")
	ctx := context.Background()
	b, err := h.Booking.Create(ctx, "gus", []string{"A1"})
	if err != nil {
		t.Fatal(err)
	}
	paused := true
	h.Switches.Apply(map[string]saga.SwitchPatch{saga.PartPayment: {Paused: &paused}})

	var v web.BookingView
	getJSON(t, h, "/api/bookings/"+b.ID, &v)
	if v.Waiting == nil {
		t.Fatal("a pending booking has no waiting")
	}
	if w := *v.Waiting; w.Queue != saga.PaymentQueue || w.Step != saga.PartPayment || w.Note != "payment paused" || w.Since.Sub(b.CreatedAt).Abs() > time.Millisecond {
		t.Errorf("waiting = %+v, want payment_queue, step payment, note \"payment paused\", since its creation", w)
	}

	delay := 750
	paused = false
	h.Switches.Apply(map[string]saga.SwitchPatch{saga.PartPayment: {Paused: &paused, DelayMS: &delay}})
	var qs []web.QueueView
	getJSON(t, h, "/api/queues", &qs)
	found := false
	for _, q := range qs {
		for _, w := range q.Waiting {
			if w.ID != b.ID {
				continue
			}
			found = true
			if q.Name != saga.PaymentQueue || w.UserID != "gus" || w.Note != "payment waits 750 ms per message" {
				t.Errorf("the queue panel has %s waiting in %s as %+v", b.ID, q.Name, w)
			}
		}
	}
	if !found {
		t.Errorf("the queue panel does not list %s as waiting anywhere: %+v", b.ID, qs)
	}
}

func getJSON(t *testing.T, h *harness, path string, v any) {
	t.Helper()
	res, body := h.get(path)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, res.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

package notification_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/services/store/storetest"
)

// MustOpen opens Notification's store in a temporary folder with switches
// set as a PUT /api/failures body ("" for none). Its bus is nil: only the
// effect runs, as the consumer would apply it.
func MustOpen(tb testing.TB, patch string) (*notification.Service, *store.DB) {
	tb.Helper()
	sw := saga.NewSwitches()
	if patch != "" {
		p, err := saga.ParsePatch([]byte(patch))
		if err != nil {
			tb.Fatal(err)
		}
		sw.Apply(p)
	}
	db := storetest.MustOpen(tb, "notification")
	svc, err := notification.New(context.Background(), db, nil, sw, storetest.Quiet())
	if err != nil {
		tb.Fatal(err)
	}
	return svc, db
}

func sold(id string) saga.Message {
	return storetest.Message(saga.PartSeats, saga.TypeSeatsSold, saga.NotificationQueue, id, saga.Envelope{IsSuccess: saga.Bool(true)})
}

func cancelled(id string) saga.Message {
	return storetest.Message(saga.PartBooking, saga.TypeBookingCancelled, saga.NotificationQueue, id, saga.Envelope{IsSuccess: saga.Bool(false)})
}

func TestNotifyOnOutcome(t *testing.T) {
	cases := []struct {
		name string
		m    saga.Message
		text string
	}{
		{"seats sold", sold("b1"), "Booking SUCCESS sent to user u-b1"},
		{"booking cancelled", cancelled("b1"), "Booking FAIL sent to user u-b1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc, db := MustOpen(t, "")
			out := storetest.MustApplyOne(t, db, svc.NotifyOnOutcome, c.m)
			if out.Type != saga.TypeBookingNotified || out.RoutingKey != saga.KeyBookingNotified {
				t.Errorf("caused %s to %s, want %s to %s", out.Type, out.RoutingKey, saga.TypeBookingNotified, saga.KeyBookingNotified)
			}
			notices, err := svc.List(context.Background(), "u-b1", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(notices) != 1 || notices[0].Text != c.text {
				t.Fatalf("notices %+v, want one saying %q", notices, c.text)
			}
			// Told once: the same message, a new one, or a retry in flight
			// tell nobody again.
			retry := c.m
			retry.ID, retry.Type, retry.Attempt = saga.NewID(), saga.TypeNotificationRetry, 1
			for _, m := range []saga.Message{c.m, sold("b1"), retry} {
				if again := storetest.MustApply(t, db, svc.NotifyOnOutcome, m); len(again) != 0 {
					t.Errorf("%s %s caused %d messages after the user was told", m.Type, m.ID, len(again))
				}
			}
			if notices, _ := svc.List(context.Background(), "", 10); len(notices) != 1 {
				t.Errorf("%d notices, want 1", len(notices))
			}
		})
	}
}

// A failed send goes to the retry queue for its attempt, counting attempts
// on the message, and after saga.MaxNotificationAttempts it is
// dead-lettered for a person to replay.
func TestRetryOnFailedSend(t *testing.T) {
	svc, db := MustOpen(t, `{"notification":{"fail_rate":1}}`)
	cases := []struct {
		attempt   int // of the message handled: 0 for the first send
		wantQueue string
	}{
		{0, saga.NotificationRetryQueues[0].Name},
		{1, saga.NotificationRetryQueues[1].Name},
		{2, saga.NotificationRetryQueues[2].Name},
		{3, saga.NotificationRetryQueues[3].Name},
		{10, saga.NotificationRetryQueues[3].Name}, // the last delay is the cap
		{saga.MaxNotificationAttempts - 1, saga.NotificationRetryQueues[3].Name},
	}
	for _, c := range cases {
		m := sold("b1")
		if c.attempt > 0 {
			m.Type, m.Attempt = saga.TypeNotificationRetry, c.attempt
		}
		out := storetest.MustApplyOne(t, db, svc.NotifyOnOutcome, m)
		if out.Type != saga.TypeNotificationRetry || out.RoutingKey != c.wantQueue || out.Attempt != c.attempt+1 {
			t.Errorf("attempt %d: caused %s to %s attempt %d, want %s to %s attempt %d",
				c.attempt, out.Type, out.RoutingKey, out.Attempt, saga.TypeNotificationRetry, c.wantQueue, c.attempt+1)
		}
		if !saga.Reaches(out.RoutingKey, saga.NotificationQueue) {
			t.Errorf("attempt %d: %s does not come back to %s", c.attempt, out.RoutingKey, saga.NotificationQueue)
		}
		e := storetest.Envelope(t, out)
		if e.IsSuccess == nil || !*e.IsSuccess || !e.Injected || !strings.Contains(e.Reason, "notification.fail_rate=1") {
			t.Errorf("attempt %d: isSuccess %v injected %v reason %q: the retry must keep the outcome and say why", c.attempt, e.IsSuccess, e.Injected, e.Reason)
		}
	}
	last := sold("b1")
	last.Type, last.Attempt = saga.TypeNotificationRetry, saga.MaxNotificationAttempts
	_, err := storetest.Apply(t, db, svc.NotifyOnOutcome, last)
	if !errors.Is(err, saga.ErrPoison) || !strings.Contains(err.Error(), "giving up") {
		t.Errorf("attempt %d: %v, want a poison that gives up", saga.MaxNotificationAttempts, err)
	}
	if notices, _ := svc.List(context.Background(), "", 10); len(notices) != 0 {
		t.Errorf("%d notices while every send failed", len(notices))
	}
}

// fail_next fails that many sends, then the retry gets through.
func TestARetryGetsThroughOnceTheSwitchIsSpent(t *testing.T) {
	svc, db := MustOpen(t, `{"notification":{"fail_next":1}}`)
	retry := storetest.MustApplyOne(t, db, svc.NotifyOnOutcome, cancelled("b1"))
	retry.Queue = saga.NotificationQueue // as the retry queue hands it back
	if out := storetest.MustApplyOne(t, db, svc.NotifyOnOutcome, retry); out.Type != saga.TypeBookingNotified {
		t.Errorf("the retry caused %s, want %s", out.Type, saga.TypeBookingNotified)
	}
	if n, err := svc.Get(context.Background(), "b1"); err != nil || n.Success {
		t.Errorf("notice %+v, %v: want a FAIL notice", n, err)
	}
}

func TestAnOutcomeWithoutIsSuccessIsPoison(t *testing.T) {
	svc, db := MustOpen(t, "")
	m := storetest.Message(saga.PartSeats, saga.TypeSeatsSold, saga.NotificationQueue, "b1", saga.Envelope{})
	if _, err := storetest.Apply(t, db, svc.NotifyOnOutcome, m); !errors.Is(err, saga.ErrPoison) {
		t.Errorf("%v, want ErrPoison", err)
	}
}

package saga_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/sagaboard/sagaboard/services/saga"
)

// The seeds of these fuzz targets live in testdata/fuzz/<FuzzName>/. Without
// -fuzz, `go test` runs each seed as a normal test.

// FuzzDecodeEnvelope feeds message bodies to the decoder every consumer uses.
// It must never panic, every refusal must be poison (so it is dead-lettered,
// not requeued forever), and whatever it accepts must be a well-formed saga
// message that survives being passed on: a participant re-encodes what it
// received, and the next participant must accept that as the same value.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := saga.DecodeEnvelope(body)
		if err != nil {
			if !errors.Is(err, saga.ErrPoison) {
				t.Fatalf("refused with %v, which does not wrap ErrPoison", err)
			}
			return
		}
		if len(body) > saga.MaxBodyBytes {
			t.Errorf("accepted a %d-byte body, over MaxBodyBytes", len(body))
		}
		if !utf8.Valid(body) {
			t.Errorf("accepted a body that is not valid UTF-8: %s", clip(body))
		}
		if !json.Valid(body) {
			t.Errorf("accepted a body that is not one JSON value (trailing data?): %s", clip(body))
		}
		checkEnvelope(t, e)

		again, err := saga.DecodeEnvelope(e.Encode())
		if err != nil {
			t.Fatalf("accepted %s (%d bytes) but refuses its own re-encoding (%d bytes): %v", clip(body), len(body), len(e.Encode()), err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Errorf("re-encoding changed the message:\nfirst  %.300v\nagain  %.300v", e, again)
		}
	})
}

// checkEnvelope asserts what DecodeEnvelope promises about what it accepts.
func checkEnvelope(t *testing.T, e saga.Envelope) {
	t.Helper()
	b := e.Booking
	if b.ID == "" || len(b.ID) > 64 || !printable(b.ID) {
		t.Errorf("accepted booking.id %q", b.ID)
	}
	if b.UserID == "" || len(b.UserID) > saga.MaxUserIDLen || !printable(b.UserID) {
		t.Errorf("accepted booking.user_id %q", b.UserID)
	}
	if len(b.Seats) == 0 || len(b.Seats) > saga.MaxSeatsPerBooking {
		t.Errorf("accepted %d seats", len(b.Seats))
	}
	for _, s := range b.Seats {
		if _, _, err := saga.ParseSeatID(s); err != nil {
			t.Errorf("accepted seat %q: %v", s, err)
		}
	}
	if b.AmountCents != saga.Amount(len(b.Seats)) {
		t.Errorf("accepted amount_cents %d for %d seats", b.AmountCents, len(b.Seats))
	}
	if len(e.Reason) > 1024 || len(e.Cause) > 1024 {
		t.Errorf("accepted a reason of %d bytes or a cause of %d bytes", len(e.Reason), len(e.Cause))
	}
}

// clip quotes the start of a body for a failure message.
func clip(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q…", b[:200])
	}
	return fmt.Sprintf("%q", b)
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// FuzzParsePatch feeds PUT /api/failures bodies to the patch parser. It must
// never panic, refuse with ErrInvalid (a 400), and accept only patches that
// name real participants with values in range.
func FuzzParsePatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := saga.ParsePatch(body)
		if err != nil {
			if !errors.Is(err, saga.ErrInvalid) {
				t.Fatalf("refused with %v, which does not wrap ErrInvalid", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Errorf("accepted a body that is not one JSON value (trailing data?): %s", clip(body))
		}
		if len(p) == 0 {
			t.Errorf("accepted a patch that names no participant: %s", clip(body))
		}
		for part, sw := range p {
			known := false
			for _, q := range saga.SwitchParts {
				known = known || q == part
			}
			if !known {
				t.Errorf("accepted unknown participant %q", part)
			}
			if sw.FailRate != nil && !(*sw.FailRate >= 0 && *sw.FailRate <= 1) {
				t.Errorf("accepted %s.fail_rate %v", part, *sw.FailRate)
			}
			if sw.DelayMS != nil && (*sw.DelayMS < 0 || *sw.DelayMS > saga.MaxDelayMS) {
				t.Errorf("accepted %s.delay_ms %d", part, *sw.DelayMS)
			}
			if sw.FailNext != nil && (*sw.FailNext < 0 || *sw.FailNext > saga.MaxFailNext) {
				t.Errorf("accepted %s.fail_next %d", part, *sw.FailNext)
			}
			if sw.UserID != nil && (len(*sw.UserID) > saga.MaxUserIDLen || !printable(*sw.UserID)) {
				t.Errorf("accepted %s.user_id %q, which no booking could have", part, *sw.UserID)
			}
		}
		// Applying what was accepted keeps every switch in range, and the
		// whole set, as it is sent to other processes, is accepted again
		// and gives the same switches there.
		s := saga.NewSwitches()
		s.Apply(p)
		for part, sw := range s.All() {
			if sw.FailRate < 0 || sw.FailRate > 1 || sw.DelayMS < 0 || sw.DelayMS > saga.MaxDelayMS || sw.FailNext < 0 || sw.FailNext > saga.MaxFailNext {
				t.Errorf("after Apply, %s = %+v", part, sw)
			}
		}
		all, _ := json.Marshal(s.All())
		again, err := saga.ParsePatch(all)
		if err != nil {
			t.Fatalf("accepted %s, but not the set it made: %s: %v", clip(body), all, err)
		}
		other := saga.NewSwitches()
		other.Apply(again)
		if !reflect.DeepEqual(other.All(), s.All()) {
			t.Errorf("the set changed on its way to another process:\nsent %+v\ngot  %+v", s.All(), other.All())
		}
	})
}

// FuzzParseSeatID checks that whatever ParseSeatID accepts is exactly the id
// SeatID gives for that row and column, so one seat has one name.
func FuzzParseSeatID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		row, col, err := saga.ParseSeatID(id)
		if err != nil {
			return
		}
		if row < 0 || col < 0 {
			t.Fatalf("ParseSeatID(%q) = %d, %d", id, row, col)
		}
		if back := saga.SeatID(row, col); back != id {
			t.Errorf("ParseSeatID(%q) = %d, %d, but SeatID(%d, %d) = %q", id, row, col, row, col, back)
		}
	})
}

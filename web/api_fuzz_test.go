package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web"
)

// FuzzParseBookingRequest feeds POST /api/bookings bodies to the request
// decoder; its seeds live in testdata/fuzz/FuzzParseBookingRequest/. It must
// never panic, refuse with ErrInvalid (a 400, never a 500), and never accept
// a body with data after the JSON object or a field the request does not have.
func FuzzParseBookingRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := web.ParseBookingRequest(body)
		if err != nil {
			if !errors.Is(err, saga.ErrInvalid) {
				t.Fatalf("refused with %v, which does not wrap ErrInvalid", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not one JSON value (trailing data?): %.200q", body)
		}
		// Every key of the object must be one of the request's fields.
		// encoding/json matches names without regard to case, so "USER_ID"
		// is the user_id field, not an unknown one.
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(body, &fields); err != nil {
				t.Fatalf("accepted %.200q, which is not a JSON object: %v", body, err)
			}
			for k := range fields {
				if !strings.EqualFold(k, "user_id") && !strings.EqualFold(k, "seats") {
					t.Errorf("accepted unknown field %.64q in %.200q", k, body)
				}
			}
		}
		// What was accepted can be sent again and means the same.
		again, err := web.ParseBookingRequest(mustJSON(t, req))
		if err != nil {
			t.Fatalf("accepted %.200q but refuses its re-encoding: %v", body, err)
		}
		if again.UserID != req.UserID || strings.Join(again.Seats, "\x00") != strings.Join(req.Seats, "\x00") {
			t.Errorf("re-encoding changed the request: %+v, then %+v", req, again)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

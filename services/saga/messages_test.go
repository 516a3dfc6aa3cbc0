package saga_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
)

const goodBody = `{"booking":{"id":"b1","user_id":"alice","seats":["A1","A2"],"amount_cents":2000},"event":"PaymentServiceFailed","isSuccess":false,"reason":"declined","cause":"declined","injected":true}`

func TestDecodeEnvelopeReadsAGoodMessage(t *testing.T) {
	e, err := saga.DecodeEnvelope([]byte(goodBody))
	if err != nil {
		t.Fatalf("DecodeEnvelope(good body): %v", err)
	}
	want := saga.Envelope{
		Booking:   saga.Booking{ID: "b1", UserID: "alice", Seats: []string{"A1", "A2"}, AmountCents: 2000},
		Event:     "PaymentServiceFailed",
		IsSuccess: saga.Bool(false),
		Reason:    "declined",
		Cause:     "declined",
		Injected:  true,
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("DecodeEnvelope = %+v, want %+v", e, want)
	}
	// What a participant encodes, the next one decodes to the same value.
	again, err := saga.DecodeEnvelope(e.Encode())
	if err != nil || !reflect.DeepEqual(again, e) {
		t.Errorf("DecodeEnvelope(Encode()) = %+v, %v; want %+v", again, err, e)
	}
	// Surrounding whitespace is not data.
	if _, err := saga.DecodeEnvelope([]byte(" \n" + goodBody + "\r\n\t ")); err != nil {
		t.Errorf("good body with surrounding whitespace: %v", err)
	}
}

func TestDecodeEnvelopeRefusesPoison(t *testing.T) {
	seat := `"seats":["A1"],"amount_cents":1000`
	for _, tc := range []struct {
		name string
		body string
	}{
		{"empty body", ``},
		{"only whitespace", " \n "},
		{"malformed JSON", `{"booking":{"id":"b1"`},
		{"not JSON at all", `hello`},
		{"JSON null", `null`},
		{"JSON array", `[{"booking":{"id":"b1","user_id":"u",` + seat + `}}]`},
		{"JSON string", `"booking"`},
		{"booking is a string", `{"booking":"b1"}`},
		{"id is a number", `{"booking":{"id":1,"user_id":"u",` + seat + `}}`},
		{"seats is a string", `{"booking":{"id":"b1","user_id":"u","seats":"A1","amount_cents":1000}}`},
		{"amount is a string", `{"booking":{"id":"b1","user_id":"u","seats":["A1"],"amount_cents":"1000"}}`},
		{"amount is fractional", `{"booking":{"id":"b1","user_id":"u","seats":["A1"],"amount_cents":1000.5}}`},
		{"isSuccess is a string", `{"booking":{"id":"b1","user_id":"u",` + seat + `},"isSuccess":"true"}`},
		{"no booking", `{"event":"PaymentServiceFailed"}`},
		{"empty object", `{}`},
		{"missing id", `{"booking":{"user_id":"u",` + seat + `}}`},
		{"missing user", `{"booking":{"id":"b1",` + seat + `}}`},
		{"missing seats", `{"booking":{"id":"b1","user_id":"u","amount_cents":1000}}`},
		{"empty seats", `{"booking":{"id":"b1","user_id":"u","seats":[],"amount_cents":0}}`},
		{"missing amount", `{"booking":{"id":"b1","user_id":"u","seats":["A1"]}}`},
		{"unknown field", `{"booking":{"id":"b1","user_id":"u",` + seat + `},"admin":true}`},
		{"unknown booking field", `{"booking":{"id":"b1","user_id":"u",` + seat + `,"vip":true}}`},
		{"trailing object", `{"booking":{"id":"b1","user_id":"u",` + seat + `}}{"booking":{}}`},
		{"trailing word", `{"booking":{"id":"b1","user_id":"u",` + seat + `}} x`},
		{"trailing brace", `{"booking":{"id":"b1","user_id":"u",` + seat + `}}}`},
		{"trailing bracket", `{"booking":{"id":"b1","user_id":"u",` + seat + `}}]`},
		{"512 KiB body", `{"booking":{"id":"b1","user_id":"u",` + seat + `},"reason":"` + strings.Repeat("x", 512<<10) + `"}`},
		{"just over the limit", `{"booking":{"id":"b1","user_id":"u",` + seat + `},"event":"` + strings.Repeat("x", saga.MaxBodyBytes) + `"}`},
		{"invalid UTF-8 in a string", `{"booking":{"id":"b1","user_id":"u\xff",` + seat + `}}`},
		{"invalid UTF-8 outside strings", "{\xfe\"booking\":{\"id\":\"b1\",\"user_id\":\"u\"," + seat + `}}`},
		{"control char in user", `{"booking":{"id":"b1","user_id":"u\u0000",` + seat + `}}`},
		{"too long id", `{"booking":{"id":"` + strings.Repeat("i", 65) + `","user_id":"u",` + seat + `}}`},
		{"too long user", `{"booking":{"id":"b1","user_id":"` + strings.Repeat("u", 65) + `",` + seat + `}}`},
		{"21 seats", `{"booking":{"id":"b1","user_id":"u","seats":["A1","A2","A3","A4","A5","A6","A7","A8","A9","A10","B1","B2","B3","B4","B5","B6","B7","B8","B9","B10","C1"],"amount_cents":21000}}`},
		{"bad seat id", `{"booking":{"id":"b1","user_id":"u","seats":["A0"],"amount_cents":1000}}`},
		{"amount mismatch", `{"booking":{"id":"b1","user_id":"u","seats":["A1","A2"],"amount_cents":1000}}`},
		{"negative amount", `{"booking":{"id":"b1","user_id":"u","seats":["A1"],"amount_cents":-1000}}`},
		{"too long reason", `{"booking":{"id":"b1","user_id":"u",` + seat + `},"reason":"` + strings.Repeat("r", 1025) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := saga.DecodeEnvelope([]byte(tc.body))
			if err == nil {
				t.Fatalf("DecodeEnvelope accepted it: %+v", e)
			}
			if !errors.Is(err, saga.ErrPoison) {
				t.Errorf("error %q does not wrap ErrPoison, so the consumer would requeue it forever", err)
			}
			if len(err.Error()) > 2048 {
				t.Errorf("the reason is %d bytes long; a dead letter's reason should be a sentence", len(err.Error()))
			}
		})
	}
}

func TestExpectChecksTypeAndCorrelation(t *testing.T) {
	m := saga.Message{ID: "m1", CorrelationID: "b1", Type: saga.TypePaymentServiceFailed, Queue: saga.CompensationQueue, Body: []byte(goodBody)}
	if e, err := saga.Expect(m, saga.TypePaymentServiceFailed, saga.TypeSeatUpdatingServiceFailed); err != nil || e.Booking.ID != "b1" {
		t.Errorf("Expect(good message) = %+v, %v", e, err)
	}
	noCorrelation := m
	noCorrelation.CorrelationID = ""
	if _, err := saga.Expect(noCorrelation, saga.TypePaymentServiceFailed); err != nil {
		t.Errorf("Expect without a correlation id: %v", err)
	}
	for name, bad := range map[string]saga.Message{
		"wrong type":           {ID: "m1", CorrelationID: "b1", Type: saga.TypeBookingCreated, Queue: saga.CompensationQueue, Body: []byte(goodBody)},
		"no type":              {ID: "m1", CorrelationID: "b1", Queue: saga.CompensationQueue, Body: []byte(goodBody)},
		"correlation mismatch": {ID: "m1", CorrelationID: "b2", Type: saga.TypePaymentServiceFailed, Queue: saga.CompensationQueue, Body: []byte(goodBody)},
		"poison body":          {ID: "m1", CorrelationID: "b1", Type: saga.TypePaymentServiceFailed, Queue: saga.CompensationQueue, Body: []byte(`{`)},
	} {
		if _, err := saga.Expect(bad, saga.TypePaymentServiceFailed, saga.TypeSeatUpdatingServiceFailed); !errors.Is(err, saga.ErrPoison) {
			t.Errorf("Expect(%s) = %v, want an error wrapping ErrPoison", name, err)
		}
	}
}

func TestExpectGivesTheSizeABodyArrivedWith(t *testing.T) {
	// The consumer kept only a prefix of a 4 MB body; the reason must give
	// the real size, not a parse error about the prefix.
	m := saga.Message{Type: saga.TypeBookingCreated, Body: []byte(goodBody[:40]), Size: 4 << 20}
	_, err := saga.Expect(m, saga.TypeBookingCreated)
	if !errors.Is(err, saga.ErrPoison) || !strings.Contains(err.Error(), "body is 4194304 bytes") {
		t.Errorf("Expect = %v, want poison saying the body is 4194304 bytes", err)
	}
}

func TestExpectSaysABodyIsNotJSON(t *testing.T) {
	for name, m := range map[string]saga.Message{
		"with no type":  {ID: "m1", Queue: saga.PaymentQueue, Body: []byte("hello, payment")},
		"with its type": {ID: "m1", Type: saga.TypeBookingCreated, Queue: saga.PaymentQueue, Body: []byte(`{"booking":`)},
		"with no body":  {ID: "m1", Queue: saga.PaymentQueue},
		"a wrong type":  {ID: "m1", Type: "Nonsense", Queue: saga.PaymentQueue, Body: []byte("<xml/>")},
	} {
		_, err := saga.Expect(m, saga.TypeBookingCreated)
		if !errors.Is(err, saga.ErrPoison) || !strings.HasPrefix(err.Error(), "poison message: body is not JSON: ") {
			t.Errorf("Expect(%s) = %v, want poison saying the body is not JSON", name, err)
		}
	}
}

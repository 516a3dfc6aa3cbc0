package saga_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
)

func TestMalformedMessagesAreRefusedWithTheirReason(t *testing.T) {
	want := map[string]string{
		saga.PoisonBadJSON:     "body is not JSON: ",
		saga.PoisonUnknownType: `does not handle messages of type "NoSuchEvent"`,
		saga.PoisonWrongFields: `unknown field "user"`,
	}
	for _, kind := range saga.PoisonKinds {
		m, err := saga.Malformed(kind, saga.PaymentQueue)
		if err != nil {
			t.Fatalf("Malformed(%s): %v", kind, err)
		}
		m.Queue = saga.PaymentQueue
		_, err = saga.Expect(m, saga.TypeBookingCreated)
		if !errors.Is(err, saga.ErrPoison) || !strings.Contains(err.Error(), want[kind]) {
			t.Errorf("%s: Expect = %v, want poison saying %q", kind, err, want[kind])
		}
	}
	if _, err := saga.Malformed("bad_json", saga.ObserverQueue); !errors.Is(err, saga.ErrInvalid) {
		t.Errorf("Malformed to the observer's queue = %v, want ErrInvalid", err)
	}
	if _, err := saga.Malformed("worse", saga.PaymentQueue); !errors.Is(err, saga.ErrInvalid) {
		t.Errorf("Malformed of an unknown kind = %v, want ErrInvalid", err)
	}
}

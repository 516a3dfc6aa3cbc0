package saga_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
)

func TestParseSearch(t *testing.T) {
	for _, tc := range []struct {
		q            string
		prefix, user string
		bad          bool
	}{
		{q: "0k3m", prefix: "0k3m", user: "0k3m"},
		{q: " 0K3M ", prefix: "0k3m", user: "0K3M"},
		{q: "alice", user: "alice"}, // "i" and "l" are not id characters
		{q: "bed", prefix: "bed", user: "bed"},
		{q: "bob", user: "bob"}, // nor "o"
		{q: "Zoë", user: "Zoë"},
		{q: "0123456789abcdefg", user: "0123456789abcdefg"}, // longer than an id
		{q: "", bad: true},
		{q: "   ", bad: true},
		{q: strings.Repeat("u", saga.MaxSearchLen+1), bad: true},
		{q: "a\x00b", bad: true},
		{q: "\xff", bad: true},
	} {
		s, err := saga.ParseSearch(tc.q)
		if tc.bad {
			if !errors.Is(err, saga.ErrInvalid) {
				t.Errorf("ParseSearch(%q) = %+v, %v; want ErrInvalid", tc.q, s, err)
			}
			continue
		}
		if err != nil || s.IDPrefix != tc.prefix || s.User != tc.user {
			t.Errorf("ParseSearch(%q) = %+v, %v; want prefix %q user %q", tc.q, s, err, tc.prefix, tc.user)
		}
	}
}

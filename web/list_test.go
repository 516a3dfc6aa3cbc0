package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
)

// mustBook makes one booking per seat, taking turns between users, and
// returns them oldest first. Ids sort by the millisecond they were made
// in, then at random: a pause between bookings keeps both orders one.
func mustBook(t *testing.T, h *harness, users []string, seats ...string) []booking.Booking {
	t.Helper()
	var out []booking.Booking
	for i, s := range seats {
		time.Sleep(2 * time.Millisecond)
		b, err := h.Booking.Create(context.Background(), users[i%len(users)], []string{s})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func listIDs(t *testing.T, h *harness, query string) []string {
	t.Helper()
	var list []booking.Booking
	getJSON(t, h, "/api/bookings?"+query, &list)
	ids := make([]string, len(list))
	for i, b := range list {
		ids[i] = b.ID
	}
	return ids
}

func TestAPISearchFindsAnIDPrefixOrAUser(t *testing.T) {
	h := mustServe(t, "")
	made := mustBook(t, h, []string{"alice", "bob", "Zoë O'Hara"}, "A1", "A2", "A3", "A4", "B1", "B2")
	target := made[3]
	for _, tc := range []struct {
		name, q string
		want    []string
	}{
		{"a whole id", target.ID, []string{target.ID}},
		{"an id in capitals", strings.ToUpper(target.ID), []string{target.ID}},
		{"the id's first 15 characters", target.ID[:15], nil}, // at least the target
		{"a user, exactly", "bob", []string{made[4].ID, made[1].ID}},
		{"a user with a space and a quote", "Zoë O'Hara", []string{made[5].ID, made[2].ID}},
		{"a user is not a prefix", "bo", []string{}},
		{"nobody", "nobody", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := listIDs(t, h, "q="+url.QueryEscape(tc.q))
			if tc.want == nil {
				if !slices.Contains(got, target.ID) {
					t.Errorf("q=%s found %v, not %s", tc.q, got, target.ID)
				}
				for _, id := range got {
					if !strings.HasPrefix(id, tc.q) {
						t.Errorf("q=%s found %s", tc.q, id)
					}
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("q=%s found %v, want %v", tc.q, got, tc.want)
			}
		})
	}
	// The search goes with the other filters and pages like the list.
	if got := listIDs(t, h, "q=alice&limit=1"); !slices.Equal(got, []string{made[3].ID}) {
		t.Errorf("alice's newest is %v, want %s", got, made[3].ID)
	}
	if got := listIDs(t, h, "q=alice&before="+made[3].ID); !slices.Equal(got, []string{made[0].ID}) {
		t.Errorf("alice's before %s are %v, want %s", made[3].ID, got, made[0].ID)
	}
	if got := listIDs(t, h, "q=alice&status=confirmed"); len(got) != 0 {
		t.Errorf("alice's confirmed are %v; all hers are pending", got)
	}
	// after= is the page just newer than a booking, newest first.
	if got := listIDs(t, h, "limit=2&after="+made[1].ID); !slices.Equal(got, []string{made[3].ID, made[2].ID}) {
		t.Errorf("the 2 after %s are %v, want %s %s", made[1].ID, got, made[3].ID, made[2].ID)
	}
}

func TestAPISearchRefusesWhatNoBookingCouldMatch(t *testing.T) {
	h := mustServe(t, "")
	mustBook(t, h, []string{"alice"}, "A1")
	for _, tc := range []struct {
		name, query, says string
	}{
		{"empty", "q=", "the search is empty"},
		{"only spaces", "q=%20%20", "the search is empty"},
		{"too long", "q=" + strings.Repeat("a", 65), "longer than 64 bytes"},
		{"a control character", "q=a%00b", "printable text"},
		{"not UTF-8", "q=%ff", "printable text"},
		{"both ways at once", "before=a&after=b", "before or after, not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := h.get("/api/bookings?" + tc.query)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("GET ?%s = %d %s, want 400", tc.query, res.StatusCode, body)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tc.says) {
				t.Errorf("GET ?%s says %s, want a sentence with %q", tc.query, body, tc.says)
			}
		})
	}
	// Without q the list is the list.
	if got := listIDs(t, h, ""); len(got) != 1 {
		t.Errorf("the list without q has %d bookings, want 1", len(got))
	}
}

package booking_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// mustStore writes n bookings straight into Booking's table, one
// transaction, as a lived-in store would hold them: ids in creation order,
// users taking turns from users. It returns the ids, oldest first.
func mustStore(tb testing.TB, db *store.DB, n int, users ...string) []string {
	tb.Helper()
	ids := make([]string, n)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	_, err := db.Write(context.Background(), func(tx *store.Tx) ([]saga.Message, error) {
		for i := range n {
			// Ids as NewID writes them: sortable by time, 16 characters.
			ids[i] = fmt.Sprintf("0%07dk%07d", i, n-i)
			at := start.Add(time.Duration(i) * time.Millisecond).UnixMilli()
			if _, err := tx.ExecContext(context.Background(), `INSERT INTO bookings (id, user_id, seats, amount_cents, status, created_at, updated_at)
				VALUES (?, ?, '["A1"]', 1000, 'confirmed', ?, ?)`, ids[i], users[i%len(users)], at, at); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

func idsOf(list []booking.Booking) []string {
	out := make([]string, len(list))
	for i, b := range list {
		out[i] = b.ID
	}
	return out
}

func mustSearch(tb testing.TB, q string) *saga.Search {
	tb.Helper()
	s, err := saga.ParseSearch(q)
	if err != nil {
		tb.Fatal(err)
	}
	return &s
}

func TestPagingReachesEveryBookingBothWays(t *testing.T) {
	svc, db := MustOpen(t)
	ids := mustStore(t, db, 120, "alice", "bob")
	ctx := context.Background()
	var seen []string
	f := booking.Filter{Limit: 50}
	for {
		page, err := svc.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, idsOf(page)...)
		f.Before = page[len(page)-1].ID
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Fatalf("paging back saw %d bookings, want all %d newest first", len(seen), len(want))
	}
	// From the oldest page, "newer" walks back up, each page newest first.
	page, err := svc.List(ctx, booking.Filter{Limit: 50, After: ids[19]})
	if err != nil {
		t.Fatal(err)
	}
	if got := idsOf(page); len(got) != 50 || got[0] != ids[69] || got[49] != ids[20] {
		t.Errorf("the page after %s runs %v … %v, want %s … %s", ids[19], got[0], got[len(got)-1], ids[69], ids[20])
	}
}

func TestSearchFindsAnIDPrefixOrAUser(t *testing.T) {
	svc, db := MustOpen(t)
	ids := mustStore(t, db, 300, "alice", "bob", "0000012")
	ctx := context.Background()
	for _, tc := range []struct {
		name, q string
		want    []string
	}{
		{"a whole id", ids[42], []string{ids[42]}},
		{"an id in capitals", "00000042K", []string{ids[42]}},
		{"a prefix of ten", "0000004", reversed(ids[40:50])},
		{"a user, exactly", "bob", nil}, // checked below: every third
		{"a user and an id prefix at once", "0000012", nil},
		{"nobody", "zed", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := svc.List(ctx, booking.Filter{Limit: 500, Search: mustSearch(t, tc.q)})
			if err != nil {
				t.Fatal(err)
			}
			switch tc.q {
			case "bob":
				if len(got) != 100 || slices.ContainsFunc(got, func(b booking.Booking) bool { return b.UserID != "bob" }) {
					t.Errorf("%d bookings, want bob's 100", len(got))
				}
			case "0000012":
				// The user "0000012" has every third booking; the ids
				// 0000012… are booking 120 to 129.
				n := 0
				for _, b := range got {
					if b.UserID != "0000012" && (b.ID < ids[120] || b.ID > ids[129]) {
						t.Errorf("found %s of %s", b.ID, b.UserID)
					}
					n++
				}
				if n != 100+7 { // 3 of 120…129 are that user's already
					t.Errorf("%d found, want 107", n)
				}
				if !slices.IsSortedFunc(got, func(a, b booking.Booking) int { return -cmpString(a.ID, b.ID) }) {
					t.Error("not newest first")
				}
			default:
				if g := idsOf(got); !slices.Equal(g, tc.want) {
					t.Errorf("found %v, want %v", g, tc.want)
				}
			}
		})
	}
	// A search pages like the list: before the oldest of a page.
	s := mustSearch(t, "bob")
	first, _ := svc.List(ctx, booking.Filter{Limit: 60, Search: s})
	rest, _ := svc.List(ctx, booking.Filter{Limit: 60, Search: s, Before: first[59].ID})
	if len(rest) != 40 || rest[0].ID >= first[59].ID {
		t.Errorf("the second page of bob's has %d bookings, want the older 40", len(rest))
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestSearchStaysFastAt50000Bookings(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50,000 bookings")
	}
	svc, db := MustOpen(t)
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	ids := mustStore(t, db, 50000, users...)
	ctx := context.Background()
	for _, f := range []booking.Filter{
		{Limit: 50, Search: mustSearch(t, ids[123][:7])},
		{Limit: 50, Search: mustSearch(t, "alice")},
		{Limit: 50, Search: mustSearch(t, "nobody")},
		{Limit: 50, Search: mustSearch(t, "erin"), Before: ids[25000]},
		{Limit: 50, Before: ids[100]},
		{Limit: 50, After: ids[100]},
	} {
		// The best of five runs: the other tests share the cores. An index
		// range reads ~50 rows in well under a millisecond; a scan of the
		// table takes tens.
		best := time.Hour
		for range 5 {
			start := time.Now()
			if _, err := svc.List(ctx, f); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
		}
		if best > 8*time.Millisecond {
			t.Errorf("listing %+v took %s at 50,000 bookings; want an index range, well under 8 ms", f, best)
		}
	}
}

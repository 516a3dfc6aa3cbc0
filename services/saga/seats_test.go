package saga_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/saga"
)

func TestRowLabelGoesLikeSpreadsheetColumns(t *testing.T) {
	for _, tc := range []struct {
		row  int
		want string
	}{
		{0, "A"}, {1, "B"}, {25, "Z"},
		{26, "AA"}, {27, "AB"}, {51, "AZ"}, {52, "BA"},
		{701, "ZZ"}, {702, "AAA"}, {18277, "ZZZ"},
	} {
		if got := saga.RowLabel(tc.row); got != tc.want {
			t.Errorf("RowLabel(%d) = %q, want %q", tc.row, got, tc.want)
		}
	}
}

func TestSeatIDNamesRowThenOneBasedColumn(t *testing.T) {
	for _, tc := range []struct {
		row, col int
		want     string
	}{
		{0, 0, "A1"}, {9, 9, "J10"}, {26, 11, "AA12"}, {27, 0, "AB1"}, {702, 9998, "AAA9999"},
	} {
		if got := saga.SeatID(tc.row, tc.col); got != tc.want {
			t.Errorf("SeatID(%d, %d) = %q, want %q", tc.row, tc.col, got, tc.want)
		}
	}
}

// TestSeatIDRoundTrips parses back every id SeatID makes for all rows a
// three-letter label can name and a spread of columns.
func TestSeatIDRoundTrips(t *testing.T) {
	cols := []int{0, 1, 8, 9, 10, 98, 99, 100, 998, 999, 1000, 9998}
	seen := map[string][2]int{}
	for row := 0; row <= 18277; row++ { // A … ZZZ
		for _, col := range cols {
			id := saga.SeatID(row, col)
			r, c, err := saga.ParseSeatID(id)
			if err != nil {
				t.Fatalf("ParseSeatID(%q) from SeatID(%d, %d): %v", id, row, col, err)
			}
			if r != row || c != col {
				t.Fatalf("ParseSeatID(SeatID(%d, %d) = %q) = %d, %d", row, col, id, r, c)
			}
			if prev, dup := seen[id]; dup {
				t.Fatalf("SeatID(%d, %d) and SeatID(%d, %d) are both %q", prev[0], prev[1], row, col, id)
			}
			seen[id] = [2]int{row, col}
		}
	}
}

func TestParseSeatIDRejectsWhatIsNotASeat(t *testing.T) {
	for _, id := range []string{
		"", "A", "1", "A0", "A01", "a1", "A-1", "AAAA1",
		"A+1",    // strconv.Atoi takes a sign; a seat id has none
		"A 1",    // no spaces inside
		"A1 ",    // nor around
		" A1",    //
		"1A",     // number first
		"A1B",    // letters after the number
		"A10000", // more columns than any venue has
		"Ä1",     // not an ASCII row letter
		"A１",     // a full-width digit
		"A1\x00",
	} {
		if r, c, err := saga.ParseSeatID(id); err == nil {
			t.Errorf("ParseSeatID(%q) = %d, %d, nil; want an error", id, r, c)
		}
	}
}

func TestVenueContains(t *testing.T) {
	v := saga.Venue{Rows: 10, Cols: 10}
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"A1", true}, {"J10", true}, {"E5", true}, {"A10", true}, {"J1", true},
		{"K1", false},   // row 11
		{"A11", false},  // column 11
		{"AA1", false},  // row 27
		{"A0", false},   // no column 0
		{"a1", false},   // lowercase
		{"", false},     //
		{"A+1", false},  // not a seat id at all
		{"A-1", false},  //
		{"J10 ", false}, //
	} {
		if got := v.Contains(tc.id); got != tc.want {
			t.Errorf("10x10 venue Contains(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
	wide := saga.Venue{Rows: 30, Cols: 2}
	if !wide.Contains("AD2") || wide.Contains("AE1") || wide.Contains("A3") {
		t.Errorf("30x2 venue: Contains AD2 %v AE1 %v A3 %v, want true false false",
			wide.Contains("AD2"), wide.Contains("AE1"), wide.Contains("A3"))
	}
	for _, id := range v.SeatIDs() {
		if !v.Contains(id) {
			t.Errorf("venue does not contain its own seat %s", id)
		}
	}
	if n := len(v.SeatIDs()); n != 100 {
		t.Errorf("a 10x10 venue lists %d seats, want 100", n)
	}
}

func TestValidateRequest(t *testing.T) {
	v := saga.Venue{Rows: 10, Cols: 10}
	seats := func(n int) []string { return v.SeatIDs()[:n] }
	for _, tc := range []struct {
		name    string
		user    string
		seats   []string
		wantErr string // a word the sentence must contain; "" means valid
	}{
		{"good request", "alice", []string{"A1", "A2"}, ""},
		{"one seat", "bob", []string{"J10"}, ""},
		{"twenty seats", "carol", seats(20), ""},
		{"user of 64 bytes", strings.Repeat("u", saga.MaxUserIDLen), []string{"A1"}, ""},
		{"unicode user", "Zoë 山田", []string{"A1"}, ""},
		{"missing user", "", []string{"A1"}, "user_id"},
		{"too long user", strings.Repeat("u", saga.MaxUserIDLen+1), []string{"A1"}, "user_id"},
		{"NUL in user", "al\x00ice", []string{"A1"}, "user_id"},
		{"newline in user", "alice\nadmin", []string{"A1"}, "user_id"},
		{"escape in user", "\x1b[31malice", []string{"A1"}, "user_id"},
		{"DEL in user", "alice\x7f", []string{"A1"}, "user_id"},
		{"invalid UTF-8 in user", "al\xffice", []string{"A1"}, "user_id"},
		{"nil list", "alice", nil, "seat"},
		{"empty list", "alice", []string{}, "seat"},
		{"too many seats", "alice", seats(21), "20"},
		{"unknown row", "alice", []string{"K1"}, "K1"},
		{"unknown column", "alice", []string{"A1", "A11"}, "A11"},
		{"not a seat id", "alice", []string{"hello"}, "hello"},
		{"signed column", "alice", []string{"A+1"}, "A+1"},
		{"duplicate seat", "alice", []string{"A1", "B2", "A1"}, "A1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := saga.ValidateRequest(v, tc.user, tc.seats)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateRequest(%q, %v) = %v, want nil", tc.user, tc.seats, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateRequest(%q, %v) = nil, want an error", tc.user, tc.seats)
			}
			if !errors.Is(err, saga.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid, so the API would not answer 400", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestAmountIsAThousandCentsASeat(t *testing.T) {
	for n, want := range map[int]int64{0: 0, 1: 1000, 2: 2000, 20: 20000} {
		if got := saga.Amount(n); got != want {
			t.Errorf("Amount(%d) = %d, want %d", n, got, want)
		}
	}
}

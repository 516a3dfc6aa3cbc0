package saga

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PricePerSeat is what one seat costs, in cents.
const PricePerSeat = 1000

// MaxSeatsPerBooking bounds one booking so a single request cannot hold the
// whole venue by accident.
const MaxSeatsPerBooking = 20

// MaxVenueSide bounds rows and columns; beyond it the seat map is unreadable.
const MaxVenueSide = 100

// RowLabel returns the label of the 0-based row r: A … Z, then AA, AB, … as
// spreadsheet columns go.
func RowLabel(r int) string {
	var b []byte
	for r >= 0 {
		b = append([]byte{byte('A' + r%26)}, b...)
		r = r/26 - 1
	}
	return string(b)
}

// SeatID returns the id of the seat at 0-based row r and 0-based column c.
func SeatID(r, c int) string { return RowLabel(r) + strconv.Itoa(c+1) }

// ParseSeatID splits a seat id such as "AB12" into its 0-based row and column.
func ParseSeatID(id string) (row, col int, err error) {
	i := 0
	for i < len(id) && id[i] >= 'A' && id[i] <= 'Z' {
		i++
	}
	if i == 0 || i > 3 || i == len(id) {
		return 0, 0, fmt.Errorf("seat %q is not a row letter followed by a number", id)
	}
	row = -1
	for _, ch := range id[:i] {
		row = (row+1)*26 + int(ch-'A')
	}
	digits := id[i:]
	if digits[0] == '0' || len(digits) > 4 || strings.Trim(digits, "0123456789") != "" {
		return 0, 0, fmt.Errorf("seat %q has no valid column number", id)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("seat %q has no valid column number", id)
	}
	return row, n - 1, nil
}

// Venue is the size of the seat map.
type Venue struct {
	Rows, Cols int
}

// Validate reports whether the venue has a sensible size.
func (v Venue) Validate() error {
	if v.Rows < 1 || v.Cols < 1 || v.Rows > MaxVenueSide || v.Cols > MaxVenueSide {
		return fmt.Errorf("venue must be 1 to %d rows and columns, not %dx%d", MaxVenueSide, v.Rows, v.Cols)
	}
	return nil
}

// SeatIDs lists every seat of the venue, row by row.
func (v Venue) SeatIDs() []string {
	ids := make([]string, 0, v.Rows*v.Cols)
	for r := 0; r < v.Rows; r++ {
		for c := 0; c < v.Cols; c++ {
			ids = append(ids, SeatID(r, c))
		}
	}
	return ids
}

// Contains reports whether id names a seat of this venue.
func (v Venue) Contains(id string) bool {
	r, c, err := ParseSeatID(id)
	return err == nil && r < v.Rows && c < v.Cols
}

// ErrInvalid marks errors caused by the caller's input, as opposed to the
// system failing. Adapters map it to 400.
var ErrInvalid = errors.New("invalid input")

// ErrConflict marks a request that is valid but clashes with the current
// state, such as a seat that is no longer free. Adapters map it to 409.
var ErrConflict = errors.New("conflict")

// ErrNotFound marks a lookup of something that does not exist.
var ErrNotFound = errors.New("not found")

// invalid wraps a human sentence as an ErrInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// MaxUserIDLen bounds user ids; they are shown on every page.
const MaxUserIDLen = 64

// ValidateRequest checks a booking request against the venue and returns the
// seats in the order given. It never looks at who holds what: that is the
// booking store's job, under its write lock.
func ValidateRequest(v Venue, userID string, seats []string) error {
	if userID == "" {
		return invalid("user_id is required")
	}
	if len(userID) > MaxUserIDLen {
		return invalid("user_id is longer than %d bytes", MaxUserIDLen)
	}
	if !validText(userID) {
		return invalid("user_id must be printable text")
	}
	if len(seats) == 0 {
		return invalid("seats must list at least one seat")
	}
	if len(seats) > MaxSeatsPerBooking {
		return invalid("a booking takes at most %d seats, not %d", MaxSeatsPerBooking, len(seats))
	}
	seen := make(map[string]bool, len(seats))
	for _, s := range seats {
		if !v.Contains(s) {
			return invalid("seat %q is not in this venue (%s1 to %s)", truncate(s, 16), RowLabel(0), SeatID(v.Rows-1, v.Cols-1))
		}
		if seen[s] {
			return invalid("seat %s is listed twice", s)
		}
		seen[s] = true
	}
	return nil
}

// Amount returns what a booking of n seats costs, in cents.
func Amount(n int) int64 { return int64(n) * PricePerSeat }

func validText(s string) bool {
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Money formats cents as "20.00".
func Money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

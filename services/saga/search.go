package saga

import (
	"strings"
)

// MaxSearchLen bounds a search of the bookings list: a user id is at most
// MaxUserIDLen bytes, and an id prefix is shorter still.
const MaxSearchLen = MaxUserIDLen

// idAlphabet is the characters a booking id is made of, as NewID writes it.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// Search is a search of the bookings: those whose id starts with IDPrefix,
// or whose user is User. IDPrefix is "" when the text cannot begin an id,
// so only the user is looked for.
type Search struct {
	IDPrefix string
	User     string
}

// ParseSearch reads what a person typed to find a booking: the beginning
// of its id (in any case), or its user's exact name. It refuses text no booking could
// match: longer than MaxSearchLen bytes, or not printable.
func ParseSearch(q string) (Search, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return Search{}, invalid("the search is empty; type the beginning of a booking id or a user's name")
	}
	if len(q) > MaxSearchLen {
		return Search{}, invalid("the search is longer than %d bytes; no booking id or user name is that long", MaxSearchLen)
	}
	if !validText(q) {
		return Search{}, invalid("the search must be printable text")
	}
	s := Search{User: q}
	id := strings.ToLower(q)
	if len(id) <= idLen && strings.Trim(id, idAlphabet) == "" {
		s.IDPrefix = id
	}
	return s, nil
}

// idLen is how long NewID's ids are: 10 bytes in base32.
const idLen = 16

// Matches reports whether a booking with this id and user is found by s.
func (s Search) Matches(id, user string) bool {
	return (s.IDPrefix != "" && strings.HasPrefix(id, s.IDPrefix)) || user == s.User
}

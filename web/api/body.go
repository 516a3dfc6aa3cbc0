package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/httperr"
)

// MaxBodyBytes bounds request bodies, as the contract says.
const MaxBodyBytes = 64 << 10

// ReadBody reads at most MaxBodyBytes, answering 413 above that.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, httperr.Errorf(httperr.TooLarge, "request body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return nil, httperr.Errorf(httperr.Invalid, "could not read the request body")
	}
	if err := checkText(b); err != nil {
		return nil, &httperr.Error{Code: httperr.Invalid, Message: err.Error(), Err: err}
	}
	return b, nil
}

// checkText refuses a JSON body that is not valid UTF-8, or that escapes
// half a UTF-16 surrogate pair ("\ud800"): encoding/json would turn
// either into U+FFFD without a word, and store a name nobody typed.
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("the request body is not valid UTF-8; send JSON text in UTF-8")
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			i++
			if b[i] != 'u' {
				continue
			}
			r, ok := hex4(b, i+1)
			if !ok {
				continue // not an escape; the decoder says so
			}
			i += 4
			switch {
			case utf16.IsSurrogate(r) && r < 0xdc00:
				// A high half must be followed by an escaped low half.
				if i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					if lo, ok := hex4(b, i+3); ok && lo >= 0xdc00 && lo <= 0xdfff {
						i += 6
						continue
					}
				}
				return errors.New("the request body escapes half a UTF-16 surrogate pair; send the character itself, or both halves")
			case utf16.IsSurrogate(r):
				return errors.New("the request body escapes half a UTF-16 surrogate pair; send the character itself, or both halves")
			}
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(n), err == nil
}

// DecodeStrict decodes one JSON object, refusing unknown fields and trailing
// data, and says in words what was wrong.
func DecodeStrict(b []byte, v any) error {
	err := saga.DecodeStrict(b, v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr):
		return fmt.Errorf("%w: field %q must be %s", saga.ErrInvalid, typeErr.Field, typeErr.Type.String())
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the body is empty; send a JSON object", saga.ErrInvalid)
	case errors.Is(err, saga.ErrTrailingData):
		return fmt.Errorf("%w: the body has data after the JSON object", saga.ErrInvalid)
	default:
		return fmt.Errorf("%w: the body is not valid JSON: %v", saga.ErrInvalid, err)
	}
}

// BookingRequest is the body of POST /api/bookings.
type BookingRequest struct {
	UserID string   `json:"user_id"`
	Seats  []string `json:"seats"`
}

// ParseBookingRequest decodes a POST /api/bookings body.
func ParseBookingRequest(b []byte) (BookingRequest, error) {
	var req BookingRequest
	err := DecodeStrict(b, &req)
	return req, err
}

// parseLimit reads ?limit=, def when absent.
func parseLimit(raw string, def, max int) (int, error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		return 0, httperr.Errorf(httperr.Invalid, "limit must be a whole number from 1 to %d", max)
	}
	return n, nil
}

// Package httperr is how an error becomes an HTTP answer. An Error carries a
// Code, which says what kind of failure it is, and the sentence a user reads;
// Status maps each code to a status in one place, as benbjohnson/wtf's
// error.go does. The domain's sentinels (saga.ErrInvalid, ErrConflict,
// ErrNotFound) are mapped in From, so the participants need not know HTTP.
package httperr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Code says what kind of failure an Error is. Each one has one status.
type Code string

// The codes. Anything else an answer fails with is Internal.
const (
	Invalid      Code = "invalid"      // the request is malformed or out of range: 400
	Unauthorized Code = "unauthorized" // the token is missing or wrong: 401
	Forbidden    Code = "forbidden"    // a cross-site request: 403
	NotFound     Code = "not_found"    // no such thing here: 404
	Conflict     Code = "conflict"     // valid, but clashes with the current state: 409
	TooLarge     Code = "too_large"    // the body is over the limit: 413
	TooMany      Code = "too_many"     // too many wrong tokens lately: 429
	Unavailable  Code = "unavailable"  // a part does not run here, or is shutting down: 503
	Internal     Code = "internal"     // our fault; the log says why: 500
)

// internalSentence is all a user learns of an Internal error.
const internalSentence = "the server could not do that just now; see its log"

// Error is a failure with its HTTP meaning and the sentence a user reads.
type Error struct {
	Code    Code
	Message string
	// Err is the cause, for the log and for errors.Is; never shown.
	Err error
}

// Error returns the sentence.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with code and a sentence made from format.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Absent is the error of a route that needs a part this process does not
// run: 503, with the sentence that says how to run it here.
func Absent(part string) *Error {
	return Errorf(Unavailable, "the %s part does not run in this process; start it here with -only including %s", part, part)
}

// Status is the one place a code becomes a status.
func Status(c Code) int {
	switch c {
	case Invalid:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case TooMany:
		return http.StatusTooManyRequests
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// sentinels maps the domain's sentinel errors to codes.
var sentinels = []struct {
	err  error
	code Code
}{
	{saga.ErrInvalid, Invalid},
	{saga.ErrConflict, Conflict},
	{saga.ErrNotFound, NotFound},
}

// From returns err as an Error: itself when it is one, a coded Error for
// the domain's sentinels, and Internal otherwise, with the sentence hidden.
//
// A domain error is made as fmt.Errorf("%w: sentence", sentinel), so the
// sentence is the text of the error that wraps the sentinel directly,
// after the sentinel's own words. That link is found by unwrapping, never
// by searching the text of the whole chain, where an outer wrap's words or
// a user's input could look like a sentinel.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, s := range sentinels {
		if !errors.Is(err, s.err) {
			continue
		}
		msg := s.err.Error()
		for link := err; link != nil; link = errors.Unwrap(link) {
			if errors.Unwrap(link) == s.err {
				msg = trimSentinel(link.Error(), s.err.Error())
				break
			}
		}
		return &Error{Code: s.code, Message: msg, Err: err}
	}
	return &Error{Code: Internal, Message: internalSentence, Err: err}
}

// trimSentinel takes "sentinel: sentence" apart, as fmt.Errorf("%w: …")
// put it together.
func trimSentinel(text, sentinel string) string {
	if len(text) > len(sentinel)+2 && text[:len(sentinel)+2] == sentinel+": " {
		return text[len(sentinel)+2:]
	}
	return text
}

// Gone reports whether err means the client went away, so nobody is left
// to answer.
func Gone(err error) bool { return errors.Is(err, context.Canceled) }

// WriteJSON writes v as the JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Write answers err as the contract says: {"error": "<sentence>"} with the
// code's status. An Internal error is logged with its detail; a client that
// went away gets nothing.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if Gone(err) {
		return
	}
	e := From(err)
	if e.Code == Internal {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteJSON(w, Status(e.Code), map[string]string{"error": e.Message})
}

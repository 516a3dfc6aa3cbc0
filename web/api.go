package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
)

// BookingView is a booking as GET /api/bookings/{id} shows it: the booking's
// own state, the events the observer saw, and where it waits.
type BookingView struct {
	booking.Booking
	Events  []observer.Event `json:"events"`
	Waiting *Waiting         `json:"waiting,omitempty"`
}

// Waiting says where a booking's next step waits, and since when. The
// contract promises it while a booking is pending; it is also given until
// the user is told, so a notification being retried shows where it is.
type Waiting struct {
	Queue string    `json:"queue"`
	Since time.Time `json:"since"`
	// Step is the participant that takes the next step.
	Step string `json:"step"`
	// Attempt and MaxAttempts are set while a notification is retried.
	Attempt     int `json:"attempt,omitempty"`
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Note says why it may wait longer than usual, e.g. "seats paused".
	Note string `json:"note,omitempty"`
}

// errBody is how readBody reports a body it will not take.
type errBody struct {
	status int
	msg    string
}

func (e errBody) Error() string { return e.msg }

// readBody reads at most MaxBodyBytes, answering 413 above that.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errBody{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
	}
	if err != nil {
		return nil, errBody{http.StatusBadRequest, "could not read the request body"}
	}
	if err := checkText(b); err != nil {
		return nil, errBody{http.StatusBadRequest, err.Error()}
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

// decodeStrict decodes one JSON object, refusing unknown fields and trailing
// data, and says in words what was wrong.
func decodeStrict(b []byte, v any) error {
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
	err := decodeStrict(b, &req)
	return req, err
}

func (s *Server) need(w http.ResponseWriter, present bool, part string) bool {
	if !present {
		writeError(w, http.StatusServiceUnavailable, "the "+part+" part does not run in this process; start it here with -only including "+part)
	}
	return present
}

func (s *Server) createBooking(w http.ResponseWriter, r *http.Request) {
	if !s.need(w, s.cfg.Booking != nil, saga.PartBooking) {
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		eb := err.(errBody)
		writeError(w, eb.status, eb.msg)
		return
	}
	req, err := ParseBookingRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.cfg.Booking.Create(r.Context(), req.UserID, req.Seats)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/bookings/"+b.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": b.ID, "status": b.Status})
}

// MaxWait bounds ?wait= on GET /api/bookings/{id}.
const MaxWait = 60 * time.Second

func (s *Server) getBooking(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var wait time.Duration
	if raw := r.URL.Query().Get("wait"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < 0 || d > MaxWait {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("wait must be a duration from 0s to %s, such as 5s", MaxWait))
			return
		}
		wait = d
		// The answer is written after the wait, so its deadline starts then.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + writeTimeout))
	}
	var v BookingView
	var err error
	if wait > 0 && s.cfg.Booking != nil {
		v, err = s.waitForOutcome(r, id, wait)
	} else {
		v, err = s.bookingView(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// waitForOutcome is an extension of the contract: it waits until the
// booking leaves pending, or the time is up, and returns it as it then is.
func (s *Server) waitForOutcome(r *http.Request, id string, wait time.Duration) (BookingView, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed, cancel := s.wait.add(id)
		// Read after registering, so a change in between is not missed.
		// Only the status decides whether to wait on, so only the booking
		// is read here; the whole view is drawn once, at the end. That keeps
		// a waiting client's work off the CPU while its saga runs.
		b, err := s.cfg.Booking.Get(r.Context(), id)
		if err != nil || b.Status != booking.StatusPending {
			cancel()
			return s.bookingView(r.Context(), id)
		}
		select {
		case <-changed:
		case <-timer.C:
			cancel()
			return s.bookingView(r.Context(), id)
		case <-r.Context().Done():
			cancel()
			return BookingView{}, r.Context().Err()
		}
	}
}

// bookingView assembles one booking with its events.
func (s *Server) bookingView(ctx context.Context, id string) (BookingView, error) {
	if s.cfg.Booking == nil {
		return BookingView{}, fmt.Errorf("%w: the booking part does not run in this process", saga.ErrNotFound)
	}
	b, err := s.cfg.Booking.Get(ctx, id)
	if err != nil {
		return BookingView{}, err
	}
	v := BookingView{Booking: b, Events: []observer.Event{}}
	if s.cfg.Observer != nil {
		if v.Events, err = s.cfg.Observer.Events(ctx, id); err != nil {
			return v, err
		}
	}
	v.Waiting = waitingOf(b, v.Events, s.cfg.Switches.All())
	return v, nil
}

// waitingOf derives where a booking waits from the last work message the
// observer saw for it: the message sent last is the one whose handler has
// not finished yet. Notes and the "told" event go to no work queue, so they
// are skipped. A booking that is decided and told waits nowhere.
func waitingOf(b booking.Booking, events []observer.Event, switches map[string]saga.Switch) *Waiting {
	if b.Status != booking.StatusPending && b.Notified {
		return nil
	}
	w := &Waiting{Queue: saga.PaymentQueue, Since: b.CreatedAt}
	for i := len(events) - 1; i >= 0; i-- {
		if _, ok := stepOf(events[i].Queue); ok {
			w.Queue, w.Since, w.Attempt = events[i].Queue, events[i].At, events[i].Attempt
			break
		}
	}
	if b.Status != booking.StatusPending && w.Queue != saga.NotificationQueue && !isRetryQueue(w.Queue) {
		// Decided, and the event that tells the user is not seen yet: it
		// goes to notification_queue.
		w.Queue, w.Attempt = saga.NotificationQueue, 0
	}
	w.Step, _ = stepOf(w.Queue)
	var notes []string
	if isRetryQueue(w.Queue) {
		w.MaxAttempts = saga.MaxNotificationAttempts
		notes = append(notes, fmt.Sprintf("retry %d of %d for notification", w.Attempt, w.MaxAttempts))
	} else {
		w.Attempt = 0
	}
	if part, ok := switchOf(w.Queue); ok {
		sw := switches[part]
		switch {
		case sw.Paused:
			notes = append(notes, part+" paused")
		case sw.DelayMS > 0:
			notes = append(notes, fmt.Sprintf("%s waits %d ms per message", part, sw.DelayMS))
		}
	}
	w.Note = strings.Join(notes, "; ")
	return w
}

// stepOf names the participant that consumes a work queue.
func stepOf(queue string) (string, bool) {
	switch queue {
	case saga.PaymentQueue, saga.RefundQueue:
		return saga.PartPayment, true
	case saga.SeatUpdateQueue, saga.SeatVoidQueue:
		return saga.PartSeats, true
	case saga.CompensationQueue:
		return saga.PartCompensation, true
	case saga.SeatReleaseQueue:
		return saga.PartBooking, true
	case saga.NotificationQueue:
		return saga.PartNotification, true
	}
	if isRetryQueue(queue) {
		return saga.PartNotification, true
	}
	return "", false
}

// switchOf names the switch whose pause and delay hold up a queue: the
// inverse of switchQueues. A retry waits in its holding queue first, which
// no switch holds up.
func switchOf(queue string) (string, bool) {
	for part, q := range switchQueues {
		if q == queue {
			return part, true
		}
	}
	return "", false
}

func isRetryQueue(q string) bool {
	for _, r := range saga.NotificationRetryQueues {
		if r.Name == q {
			return true
		}
	}
	return false
}

func (s *Server) listBookings(w http.ResponseWriter, r *http.Request) {
	if !s.need(w, s.cfg.Booking != nil, saga.PartBooking) {
		return
	}
	q := r.URL.Query()
	f := booking.Filter{Status: q.Get("status"), UserID: q.Get("user_id"), Before: q.Get("before")}
	switch f.Status {
	case "", booking.StatusPending, booking.StatusConfirmed, booking.StatusCompensated:
	default:
		writeError(w, http.StatusBadRequest, "status must be pending, confirmed or compensated")
		return
	}
	limit, ok := parseLimit(w, q.Get("limit"), 50, booking.MaxList)
	if !ok {
		return
	}
	f.Limit = limit
	list, err := s.cfg.Booking.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func parseLimit(w http.ResponseWriter, raw string, def, max int) (int, bool) {
	if raw == "" {
		return def, true
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d", max))
		return 0, false
	}
	return n, true
}

func (s *Server) listSeats(w http.ResponseWriter, r *http.Request) {
	if !s.need(w, s.cfg.Booking != nil, saga.PartBooking) {
		return
	}
	seats, err := s.cfg.Booking.Seats(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, seats)
}

func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) {
	if !s.need(w, s.cfg.Payment != nil, saga.PartPayment) {
		return
	}
	limit, ok := parseLimit(w, r.URL.Query().Get("limit"), 500, 5000)
	if !ok {
		return
	}
	list, err := s.cfg.Payment.Ledger(r.Context(), r.URL.Query().Get("booking_id"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	if !s.need(w, s.cfg.Booking != nil, saga.PartBooking) {
		return
	}
	st, err := s.cfg.Booking.Stats(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	if !s.need(w, s.cfg.Notification != nil, saga.PartNotification) {
		return
	}
	limit, ok := parseLimit(w, r.URL.Query().Get("limit"), 50, 500)
	if !ok {
		return
	}
	list, err := s.cfg.Notification.List(r.Context(), r.URL.Query().Get("user_id"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getFailures(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Switches.All())
}

func (s *Server) putFailures(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		eb := err.(errBody)
		writeError(w, eb.status, eb.msg)
		return
	}
	patch, err := saga.ParsePatch(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.applySwitches(r, patch)
	writeJSON(w, http.StatusOK, s.cfg.Switches.All())
}

// applySwitches changes the switches here and tells every other process.
func (s *Server) applySwitches(r *http.Request, patch map[string]saga.SwitchPatch) {
	s.cfg.Switches.Apply(patch)
	if s.cfg.PublishSwitches != nil {
		if err := s.cfg.PublishSwitches(r.Context(), s.cfg.Switches.All()); err != nil {
			// This process has the change; other processes get it with the
			// next change or when the broker is back.
			s.log.Warn("could not send the switch change to other processes", "err", err)
		}
	}
	s.live.SwitchesChanged()
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	if !s.need(w, s.cfg.Observer != nil, saga.PartObserver) {
		return
	}
	limit, ok := parseLimit(w, r.URL.Query().Get("limit"), 100, 1000)
	if !ok {
		return
	}
	list, err := s.cfg.Observer.DeadLetters(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	if !s.need(w, s.cfg.Observer != nil, saga.PartObserver) {
		return
	}
	if err := s.cfg.Observer.Replay(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	s.live.DeadLettersChanged()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "replayed"})
}

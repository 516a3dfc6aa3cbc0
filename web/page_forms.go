package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// The dashboard's forms post form-encoded bodies and get HTML back: a
// sentence that htmx swaps in beside the form, with the status the API
// would give (409 for a seat just taken). A browser without JavaScript
// posts the same forms and gets a whole page, or is sent on.

// isHTMX reports whether htmx made the request, so a fragment is wanted.
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// readForm parses a form body of at most MaxBodyBytes.
func readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errBody{http.StatusRequestEntityTooLarge, fmt.Sprintf("the form is larger than %d bytes", MaxBodyBytes)}
		}
		return errBody{http.StatusBadRequest, "the form could not be read"}
	}
	// Percent-escapes can spell any bytes; a name that is not UTF-8 would
	// be stored mangled, so it is refused whole.
	for k, vs := range r.PostForm {
		if !utf8.ValidString(k) || slices.ContainsFunc(vs, func(v string) bool { return !utf8.ValidString(v) }) {
			return errBody{http.StatusBadRequest, "the form is not valid UTF-8 text; type the name again"}
		}
	}
	return nil
}

// answer sends a form's result: a fragment for htmx, a page otherwise.
// extra fragments (out-of-band swaps) ride along with the fragment.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, res views.FormResult, extra ...templ.Component) {
	if !isHTMX(r) {
		if res.OK {
			to := "/"
			if res.BookingID != "" {
				to = views.BookingURL(res.BookingID)
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		s.render(w, r, status, views.MessagePage(s.page(r, "sagaboard", ""), "That did not work", res.Message, false))
		return
	}
	parts := append([]templ.Component{views.FormMessage(res)}, extra...)
	s.render(w, r, status, templ.Join(parts...))
}

// formFail answers an error the way fail does for the API, in a sentence.
func (s *Server) formFail(w http.ResponseWriter, r *http.Request, err error, extra ...templ.Component) {
	var eb errBody
	switch {
	case errors.As(err, &eb):
		s.answer(w, r, eb.status, views.FormResult{Message: eb.msg}, extra...)
	case errors.Is(err, saga.ErrInvalid):
		s.answer(w, r, http.StatusBadRequest, views.FormResult{Message: userMessage(err, saga.ErrInvalid)}, extra...)
	case errors.Is(err, saga.ErrConflict):
		s.answer(w, r, http.StatusConflict, views.FormResult{Message: userMessage(err, saga.ErrConflict) + " — pick another seat"}, extra...)
	case errors.Is(err, saga.ErrNotFound):
		s.answer(w, r, http.StatusNotFound, views.FormResult{Message: userMessage(err, saga.ErrNotFound)}, extra...)
	case errors.Is(err, context.Canceled):
	default:
		s.log.Error("form failed", "path", r.URL.Path, "err", err)
		s.answer(w, r, http.StatusInternalServerError, views.FormResult{Message: "the server could not do that just now; see its log"}, extra...)
	}
}

// bookFromForm starts a booking from the seat map.
func (s *Server) bookFromForm(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Booking == nil {
		s.answer(w, r, http.StatusServiceUnavailable, views.FormResult{Message: "Booking does not run in this process; start it here with -only including booking"})
		return
	}
	if err := readForm(w, r); err != nil {
		s.formFail(w, r, err)
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user_id"))
	seats := r.PostForm["seats"]
	if user == "" {
		s.answer(w, r, http.StatusBadRequest, views.FormResult{Message: "enter your name first"})
		return
	}
	if len(seats) == 0 {
		s.answer(w, r, http.StatusBadRequest, views.FormResult{Message: "pick at least one free seat"})
		return
	}
	b, err := s.cfg.Booking.Create(r.Context(), user, seats)
	if err != nil {
		s.formFail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Booked %s for %s (%s). It is on its way through the saga.", strings.Join(b.Seats, " "), b.UserID, views.Money(b.AmountCents))
	s.answer(w, r, http.StatusAccepted, views.FormResult{OK: true, Message: msg, BookingID: b.ID})
}

// switchesFromForm changes the failure switches from their forms. The
// values are checked by saga.ParsePatch, the same check PUT /api/failures
// makes, so the page can set nothing the API would refuse.
func (s *Server) switchesFromForm(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.formFail(w, r, err)
		return
	}
	patch, err := patchFromForm(r.PostForm)
	if err != nil {
		// Put the switches back as they are, over what was typed.
		s.formFail(w, r, err, s.switchRows()...)
		return
	}
	s.applySwitches(r, patch)
	all := s.cfg.Switches.All()
	var said []string
	for _, p := range saga.SwitchParts {
		if _, ok := patch[p]; ok {
			said = append(said, describeSwitch(p, all[p]))
		}
	}
	s.answer(w, r, http.StatusOK, views.FormResult{OK: true, Message: strings.Join(said, "; ")})
}

func (s *Server) switchRows() []templ.Component {
	var out []templ.Component
	for _, sw := range s.switchViews() {
		out = append(out, views.SwitchRow(sw, true))
	}
	return out
}

// describeSwitch says what a switch does now, for the page's answer:
// "payment fails the next 3 messages, then 50 %, only for alice".
func describeSwitch(part string, sw saga.Switch) string {
	var b strings.Builder
	b.WriteString(part + " ")
	switch {
	case sw.FailNext > 0 && sw.FailRate > 0:
		b.WriteString("fails the next " + nMessages(sw.FailNext) + ", then " + views.Percent(sw.FailRate))
	case sw.FailNext > 0:
		b.WriteString("fails the next " + nMessages(sw.FailNext))
	case sw.FailRate > 0:
		b.WriteString("fails " + views.Percent(sw.FailRate))
	default:
		b.WriteString("does not fail")
	}
	if sw.UserID != "" {
		if sw.FailNext > 0 || sw.FailRate > 0 {
			b.WriteString(", only for " + views.Clip(sw.UserID, 32))
		} else {
			b.WriteString(" (failures would be only for " + views.Clip(sw.UserID, 32) + ")")
		}
	}
	if sw.DelayMS > 0 {
		b.WriteString(", waits " + strconv.Itoa(sw.DelayMS) + " ms per message")
	}
	if sw.Paused {
		b.WriteString(", is paused")
	}
	return b.String()
}

func nMessages(n int) string {
	if n == 1 {
		return "message"
	}
	return strconv.Itoa(n) + " messages"
}

// patchFromForm turns form fields named {participant}.{field} into a
// switch patch. A field that is absent is left as it is. A checkbox sends
// nothing when unticked, so each form has a hidden "false" before it: the
// last value of a field wins. An empty fail_next is 0 and an empty user_id
// is everyone. The row sends fail_next with every change, so it also sends
// fail_next_shown, the count it was drawn with: a fail_next still equal to
// it was not touched and is left out, so changing the delay does not set
// the count again (nor send it to other processes as a new setting).
func patchFromForm(form url.Values) (map[string]saga.SwitchPatch, error) {
	raw := map[string]map[string]any{}
	shown := map[string]int{}
	for key, vals := range form {
		part, field, ok := strings.Cut(key, ".")
		if !ok || len(vals) == 0 {
			return nil, fmt.Errorf("%w: unknown field %q; fields look like payment.fail_rate", saga.ErrInvalid, views.Clip(key, 32))
		}
		val := strings.TrimSpace(vals[len(vals)-1])
		if raw[part] == nil {
			raw[part] = map[string]any{}
		}
		switch field {
		case "fail_rate":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%w: %s.fail_rate must be a number from 0 to 1", saga.ErrInvalid, views.Clip(part, 32))
			}
			raw[part][field] = f
		case "delay_ms":
			n, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.delay_ms must be a whole number of milliseconds from 0 to %d", saga.ErrInvalid, views.Clip(part, 32), saga.MaxDelayMS)
			}
			raw[part][field] = n
		case "paused":
			switch strings.ToLower(val) {
			case "true", "on", "1":
				raw[part][field] = true
			case "false", "off", "0", "":
				raw[part][field] = false
			default:
				return nil, fmt.Errorf("%w: %s.paused must be true or false", saga.ErrInvalid, views.Clip(part, 32))
			}
		case "fail_next", "fail_next_shown":
			n := 0
			if val != "" {
				var err error
				if n, err = strconv.Atoi(val); err != nil {
					return nil, fmt.Errorf("%w: %s.fail_next must be a whole number of messages from 0 to %d", saga.ErrInvalid, views.Clip(part, 32), saga.MaxFailNext)
				}
			}
			if field == "fail_next_shown" {
				shown[part] = n
			} else {
				raw[part][field] = n
			}
		case "user_id":
			raw[part][field] = val
		default:
			return nil, fmt.Errorf("%w: unknown switch field %q; use fail_rate, delay_ms, paused, fail_next or user_id", saga.ErrInvalid, views.Clip(key, 32))
		}
	}
	for part, n := range shown {
		if next, ok := raw[part]["fail_next"]; ok && next == n {
			delete(raw[part], "fail_next")
		}
	}
	body, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: the switches could not be read: %v", saga.ErrInvalid, err)
	}
	return saga.ParsePatch(body)
}

// replayFromPage is the dead-letter panel's twin of
// POST /api/dead-letters/{id}/replay.
func (s *Server) replayFromPage(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Observer == nil {
		s.answer(w, r, http.StatusServiceUnavailable, views.FormResult{Message: "the observer does not run in this process"})
		return
	}
	if err := s.cfg.Observer.Replay(r.Context(), r.PathValue("id")); err != nil {
		s.formFail(w, r, err)
		return
	}
	s.live.DeadLettersChanged()
	s.answer(w, r, http.StatusAccepted, views.FormResult{OK: true, Message: "sent back to its queue"})
}

// rememberToken takes the token once from the page's small form and keeps
// it in a cookie that scripts cannot read and other sites cannot send.
func (s *Server) rememberToken(w http.ResponseWriter, r *http.Request) {
	if err := s.csrf.Check(r); err != nil {
		s.render(w, r, http.StatusForbidden, views.MessagePage(s.page(r, "sagaboard", ""), "Refused",
			"cross-site request refused: the Origin does not match this server", false))
		return
	}
	if !s.gate.required() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := readForm(w, r); err != nil {
		s.formFail(w, r, err)
		return
	}
	token := r.PostForm.Get("token")
	v, retry := s.gate.check(r, token)
	if v == tokenLimited {
		setRetryAfter(w, retry)
		s.render(w, r, http.StatusTooManyRequests, views.MessagePage(s.page(r, "sagaboard", ""), "Too many wrong tokens",
			"Too many wrong tokens came from your address just now; wait a few seconds and try again.", false))
		return
	}
	if v != tokenOK || !cookieSafe(token) {
		// No pause here: it held a goroutine per guess and slowed nobody
		// who guessed in parallel; the gate's limit per address does.
		http.Redirect(w, r, "/?token=wrong", http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: token, Path: "/", MaxAge: 30 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// cookieSafe reports whether a cookie can carry s unchanged.
func cookieSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return s != ""
}

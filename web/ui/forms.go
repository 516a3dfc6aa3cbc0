package ui

import (
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
	"github.com/sagaboard/sagaboard/web/guard"
	"github.com/sagaboard/sagaboard/web/httperr"
)

// The dashboard's forms post form-encoded bodies and get HTML back: a
// sentence that htmx swaps in beside the form, with the status the API
// would give (409 for a seat just taken). A browser without JavaScript
// posts the same forms and gets a whole page, or is sent on.

// isHTMX reports whether htmx made the request, so a fragment is wanted.
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// maxFormBytes bounds a form's body, as the contract bounds the API's.
const maxFormBytes = 64 << 10

// readForm parses a form body of at most maxFormBytes.
func readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return httperr.Errorf(httperr.TooLarge, "the form is larger than %d bytes", maxFormBytes)
		}
		return httperr.Errorf(httperr.Invalid, "the form could not be read")
	}
	// Percent-escapes can spell any bytes; a name that is not UTF-8 would
	// be stored mangled, so it is refused whole.
	for k, vs := range r.PostForm {
		if !utf8.ValidString(k) || slices.ContainsFunc(vs, func(v string) bool { return !utf8.ValidString(v) }) {
			return httperr.Errorf(httperr.Invalid, "the form is not valid UTF-8 text; type the name again")
		}
	}
	return nil
}

// answer sends a form's result: a fragment for htmx, a page otherwise.
// extra fragments (out-of-band swaps) ride along with the fragment.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, status int, res views.FormResult, extra ...templ.Component) {
	if !isHTMX(r) {
		if res.OK {
			to := "/"
			if res.BookingID != "" {
				to = views.BookingURL(res.BookingID)
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		h.render(w, r, status, views.MessagePage(h.page(r, "sagaboard", ""), "That did not work", res.Message, false))
		return
	}
	parts := append([]templ.Component{views.FormMessage(res)}, extra...)
	h.render(w, r, status, templ.Join(parts...))
}

// formFail answers an error in a sentence, with the status the API would
// give: httperr decides both. A seat just taken gets a hint on the page.
func (h *Handler) formFail(w http.ResponseWriter, r *http.Request, err error, extra ...templ.Component) {
	if httperr.Gone(err) {
		return
	}
	e := httperr.From(err)
	msg := e.Message
	switch e.Code {
	case httperr.Internal:
		h.log.Error("form failed", "path", r.URL.Path, "err", err)
	case httperr.Conflict:
		if errors.Is(err, saga.ErrConflict) {
			msg += " — pick another seat"
		}
	}
	h.answer(w, r, httperr.Status(e.Code), views.FormResult{Message: msg}, extra...)
}

// bookFromForm starts a booking from the seat map.
func (h *Handler) bookFromForm(w http.ResponseWriter, r *http.Request) {
	if err := h.src.Need(saga.PartBooking); err != nil {
		h.formFail(w, r, err)
		return
	}
	if err := readForm(w, r); err != nil {
		h.formFail(w, r, err)
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user_id"))
	seats := r.PostForm["seats"]
	if user == "" {
		h.answer(w, r, http.StatusBadRequest, views.FormResult{Message: "enter your name first"})
		return
	}
	if len(seats) == 0 {
		h.answer(w, r, http.StatusBadRequest, views.FormResult{Message: "pick at least one free seat"})
		return
	}
	b, err := h.src.Booking.Create(r.Context(), user, seats)
	if err != nil {
		h.formFail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Booked %s for %s (%s). It is on its way through the saga.", strings.Join(b.Seats, " "), b.UserID, views.Money(b.AmountCents))
	// The booking is shown open beside the form, and the page follows it
	// there: it may be decided before a person could scroll to the list.
	var mine []templ.Component
	if v, err := h.model.Booking(r.Context(), b.ID); err == nil {
		mine = append(mine, views.Mine(v))
	}
	h.answer(w, r, http.StatusAccepted, views.FormResult{OK: true, Message: msg, BookingID: b.ID}, mine...)
}

// switchesFromForm changes the failure switches from their forms. The
// values are checked by saga.ParsePatch, the same check PUT /api/failures
// makes, so the page can set nothing the API would refuse.
func (h *Handler) switchesFromForm(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		h.formFail(w, r, err)
		return
	}
	patch, err := patchFromForm(r.PostForm)
	if err != nil {
		// Put the switches back as they are, over what was typed.
		h.formFail(w, r, err, h.switchRows()...)
		return
	}
	h.src.ApplySwitches(r.Context(), h.log, patch)
	all := h.src.Switches.All()
	var said []string
	for _, p := range saga.SwitchParts {
		if _, ok := patch[p]; ok {
			said = append(said, describeSwitch(p, all[p]))
		}
	}
	h.answer(w, r, http.StatusOK, views.FormResult{OK: true, Message: strings.Join(said, "; ")})
}

func (h *Handler) switchRows() []templ.Component {
	var out []templ.Component
	for _, sw := range h.model.Switches() {
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
func (h *Handler) replayFromPage(w http.ResponseWriter, r *http.Request) {
	if err := h.src.Observer.Replay(r.Context(), r.PathValue("id")); err != nil {
		h.formFail(w, r, err)
		return
	}
	h.live.DeadLettersChanged()
	h.answer(w, r, http.StatusAccepted, views.FormResult{OK: true, Message: "sent back to its queue"})
}

// rememberToken takes the token once from the page's small form and keeps
// it in a cookie that scripts cannot read and other sites cannot send.
func (h *Handler) rememberToken(w http.ResponseWriter, r *http.Request) {
	if err := h.cfg.Guard.CrossSite(r); err != nil {
		h.render(w, r, http.StatusForbidden, views.MessagePage(h.page(r, "sagaboard", ""), "Refused", err.Error(), false))
		return
	}
	gate := h.cfg.Guard.Gate()
	if !gate.Required() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := readForm(w, r); err != nil {
		h.formFail(w, r, err)
		return
	}
	token := r.PostForm.Get("token")
	v, retry := gate.Check(r, token)
	if v == guard.TokenLimited {
		guard.SetRetryAfter(w, retry)
		h.render(w, r, http.StatusTooManyRequests, views.MessagePage(h.page(r, "sagaboard", ""), "Too many wrong tokens",
			"Too many wrong tokens came from your address just now; wait a few seconds and try again.", false))
		return
	}
	if v != guard.TokenOK || !cookieSafe(token) {
		// No pause here: it held a goroutine per guess and slowed nobody
		// who guessed in parallel; the gate's limit per address does.
		http.Redirect(w, r, "/?token=wrong", http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: guard.TokenCookie, Value: token, Path: "/", MaxAge: 30 * 24 * 3600,
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

// slowFromForm sets slow motion from its control, and redraws the control
// and the hint by the Book button with the answer.
func (h *Handler) slowFromForm(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		h.formFail(w, r, err)
		return
	}
	ms, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("delay_ms")))
	if err != nil {
		err = fmt.Errorf("%w: slow motion must be a whole number of milliseconds from 0 to %d", saga.ErrInvalid, saga.MaxSlowMS)
	}
	if err == nil {
		err = h.src.SetSlow(r.Context(), h.log, ms)
	}
	ms = int(h.src.Switches.Slow().Milliseconds())
	redraw := []templ.Component{views.SlowMotion(ms, true), views.SlowHint(ms, true)}
	if err != nil {
		h.formFail(w, r, err, redraw...)
		return
	}
	msg := "slow motion is off: the saga runs at full speed"
	if ms > 0 {
		msg = "slow motion is on: every hop waits " + strconv.Itoa(ms) + " ms; book and watch it travel"
	}
	h.answer(w, r, http.StatusOK, views.FormResult{OK: true, Message: msg}, redraw...)
}

// letOneFromPage is the paused row's "let one through" button.
func (h *Handler) letOneFromPage(w http.ResponseWriter, r *http.Request) {
	part := r.PathValue("participant")
	if err := h.src.LetOneThrough(r.Context(), h.log, part); err != nil {
		h.formFail(w, r, err)
		return
	}
	h.answer(w, r, http.StatusAccepted, views.FormResult{OK: true, Message: "letting the next message of " + views.Clip(part, 32) + " through; it pauses again after it"})
}

// poisonFromPage is the dead-letter panel's "send a malformed message".
func (h *Handler) poisonFromPage(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		h.formFail(w, r, err)
		return
	}
	queue, kind := r.PostForm.Get("queue"), r.PostForm.Get("kind")
	if _, err := h.src.Observer.SendPoison(r.Context(), queue, kind); err != nil {
		h.formFail(w, r, err)
		return
	}
	h.answer(w, r, http.StatusAccepted, views.FormResult{OK: true, Message: "sent to " + queue + "; its consumer will dead-letter it, and it appears above with the reason"})
}

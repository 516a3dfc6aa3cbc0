package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// comparePage is GET /compare?a={id}&b={id}: two bookings' timelines side
// by side. A side that names no booking shows why in its column; the page
// answers 404 when an id was given that is not here, 200 otherwise.
func (h *Handler) comparePage(w http.ResponseWriter, r *http.Request) {
	if !h.src.Has(saga.PartBooking) {
		h.render(w, r, http.StatusServiceUnavailable, views.MessagePage(h.page(r, "Compare · sagaboard", ""), "Nothing to compare",
			"Booking does not run in this process, so there are no bookings here to compare.", false))
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	a, b := cleanCompareID(q.Get("a")), cleanCompareID(q.Get("b"))

	// "latest-…" stands for the newest booking with that outcome. Send the
	// browser on to the real ids, so the address names what it shows.
	var problems [2]string
	ids := [2]*string{&a, &b}
	resolved := false
	for i, id := range ids {
		status, ok := latestStatus(*id)
		if !ok {
			continue
		}
		found, err := h.model.Latest(ctx, status, *ids[1-i])
		if err != nil {
			h.pageError(w, r, err)
			return
		}
		if found == "" {
			*id, problems[i] = "", noLatest(status)
			continue
		}
		*id, resolved = found, true
	}
	// Redirect to the real ids only when every side resolved: a side with
	// no such booking keeps its sentence on this page instead.
	if resolved && problems[0] == "" && problems[1] == "" {
		http.Redirect(w, r, views.CompareURL(a, b), http.StatusSeeOther)
		return
	}

	p := views.ComparePage{A: views.CompareSide{Name: "a", Input: a}, B: views.CompareSide{Name: "b", Input: b}}
	status := http.StatusOK
	var sockets []string
	for i, side := range []*views.CompareSide{&p.A, &p.B} {
		switch {
		case problems[i] != "":
			side.Problem = problems[i]
			continue
		case side.Input == "":
			side.Problem = "Type a booking id above, or use a quick pick, to fill " + side.Label() + "."
			continue
		case i == 1 && side.Input == p.A.Input:
			side.Problem, side.Unknown = "That is the same booking as A; pick another one to compare with.", true
			continue
		}
		v, err := h.model.Booking(ctx, side.Input)
		if errors.Is(err, saga.ErrNotFound) {
			side.Problem, side.Unknown = "There is no booking “"+views.Clip(side.Input, 64)+"” here.", true
			status = http.StatusNotFound
			continue
		}
		if err != nil {
			h.pageError(w, r, err)
			return
		}
		side.Booking = &v
		sockets = append(sockets, "/ws?booking="+url.QueryEscape(v.ID))
		if len(sockets) > 1 {
			side.WS = sockets[len(sockets)-1]
		}
	}
	title := "Compare · sagaboard"
	if p.A.Booking != nil && p.B.Booking != nil {
		title = "Compare " + views.ShortID(p.A.Booking.ID) + " with " + views.ShortID(p.B.Booking.ID) + " · sagaboard"
	}
	// The page's own WebSocket carries the first booking shown; a second
	// one, in the other column, carries the other.
	ws := ""
	if len(sockets) > 0 {
		ws = sockets[0]
	}
	p.Page = h.page(r, title, ws)
	h.render(w, r, status, views.ComparePageView(p))
}

// cleanCompareID takes what a person typed or pasted: an id, or a booking
// page's address.
func cleanCompareID(raw string) string {
	id := strings.TrimSpace(raw)
	if _, after, ok := strings.Cut(id, "/bookings/"); ok {
		id = after
	}
	id = strings.TrimSuffix(strings.TrimSuffix(id, "/"), ".json")
	if len(id) > 64 {
		id = id[:64]
	}
	return id
}

func latestStatus(id string) (string, bool) {
	switch id {
	case views.LatestConfirmed:
		return saga.StatusConfirmed, true
	case views.LatestCompensated:
		return saga.StatusCompensated, true
	}
	return "", false
}

func noLatest(status string) string {
	if status == saga.StatusCompensated {
		return "There is no other compensated booking yet. On the dashboard, set payment's fail rate to 100 % and book one."
	}
	return "There is no other confirmed booking yet. On the dashboard, set every fail rate to 0 % and book one."
}

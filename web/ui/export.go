package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/httperr"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// BookingExport is GET /bookings/{id}.json: everything this process holds
// about one booking, as one document to keep, diff or attach to a report.
type BookingExport struct {
	ExportedAt time.Time `json:"exported_at"`
	// Booking is the booking as GET /api/bookings/{id} shows it, with every
	// event the observer saw, in order, payloads included.
	Booking viewmodel.BookingView `json:"booking"`
	// Ledger is the booking's charge and refund, oldest first; null when
	// Payment does not run in this process.
	Ledger []payment.Entry `json:"ledger"`
	// Notification is what the user was told; null until they were told,
	// or when Notification does not run in this process.
	Notification *notification.Notice `json:"notification"`
	// Missing names, in a sentence each, the parts of the history this
	// process cannot add because the participant holding them runs elsewhere.
	Missing []string `json:"missing,omitempty"`
}

// exportLedgerLimit bounds the ledger lines read: a booking has at most a
// charge and a refund, so this only guards against a surprise.
const exportLedgerLimit = 100

// exportID reports whether a booking page's request asks for the export,
// /bookings/{id}.json, and for which id. The mux cannot tell the two apart:
// a wildcard is a whole path segment.
func exportID(r *http.Request) (string, bool) {
	return strings.CutSuffix(r.PathValue("id"), ".json")
}

// plainID reports whether id looks like a booking id (saga.NewID makes 16
// lowercase base32 characters), so it can go into a header unquoted.
func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// exportBooking answers GET /bookings/{id}.json with a download.
func (h *Handler) exportBooking(w http.ResponseWriter, r *http.Request, id string) {
	fail := func(err error) { httperr.Write(w, r, h.log, err) }
	if err := h.src.Need(saga.PartBooking); err != nil {
		fail(err)
		return
	}
	if !plainID(id) {
		fail(httperr.Errorf(httperr.NotFound, "there is no booking %q here", views.Clip(id, 64)))
		return
	}
	ctx := r.Context()
	v, err := h.model.BookingView(ctx, id)
	if err != nil {
		fail(err)
		return
	}
	x := BookingExport{ExportedAt: time.Now().UTC(), Booking: v}
	if !h.src.Has(saga.PartObserver) {
		x.Missing = append(x.Missing, "events: the observer does not run in this process")
	}
	if !h.src.Has(saga.PartPayment) {
		x.Missing = append(x.Missing, "ledger: payment does not run in this process")
	} else {
		if x.Ledger, err = h.src.Payment.Ledger(ctx, id, exportLedgerLimit); err != nil {
			fail(err)
			return
		}
		// The ledger reads newest first; a history reads oldest first. A
		// refund never precedes its charge, even within one millisecond.
		sort.SliceStable(x.Ledger, func(i, j int) bool {
			a, b := x.Ledger[i], x.Ledger[j]
			if !a.At.Equal(b.At) {
				return a.At.Before(b.At)
			}
			return a.Kind == "charge" && b.Kind != "charge"
		})
	}
	if !h.src.Has(saga.PartNotification) {
		x.Missing = append(x.Missing, "notification: notification does not run in this process")
	} else {
		n, err := h.src.Notification.Get(ctx, id)
		switch {
		case err == nil:
			x.Notification = &n
		case !errors.Is(err, saga.ErrNotFound):
			fail(err)
			return
		}
	}
	body, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		fail(fmt.Errorf("ui: encode export of %s: %w", id, err))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="booking-`+id+`.json"`)
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

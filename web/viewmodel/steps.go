package viewmodel

import (
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// BookingSteps walks a booking's events in order and says, after each, what
// each participant held for it: Booking its status and the seats (held by
// BookingCreated, sold by SeatsSold, freed by BookingCancelled), Payment
// its charge and refund, Notification whether the user was told. It reads
// nothing but the events, so it tells the booking's past as the record
// has it.
func BookingSteps(events []observer.Event) []views.BookingStep {
	out := make([]views.BookingStep, 0, len(events))
	var st views.BookingStep
	for _, e := range events {
		env := e.Envelope()
		switch e.Type {
		case saga.TypeBookingCreated:
			if st.Status == "" {
				st.Status, st.Seats = saga.StatusPending, saga.SeatHeld
			}
		case saga.TypePaymentCompleted:
			st.ChargedCents = env.Booking.AmountCents
		case saga.TypePaymentServiceFailed:
			st.Declined = true
		case saga.TypeSeatsSold:
			if st.Status == saga.StatusPending {
				st.Status, st.Seats = saga.StatusConfirmed, saga.SeatSold
			}
		case saga.TypePaymentRefunded:
			st.RefundedCents = env.RefundedCents
			if st.RefundedCents == 0 {
				st.RefundedCents = st.ChargedCents
			}
		case saga.TypeBookingCancelled:
			if st.Status == saga.StatusPending {
				st.Status, st.Seats = saga.StatusCompensated, saga.SeatFree
			}
		case saga.TypeNotificationRetry:
			st.Retries++
		case saga.TypeBookingNotified:
			st.Told = true
		}
		st.Event = viewEvent(e)
		out = append(out, st)
	}
	return out
}

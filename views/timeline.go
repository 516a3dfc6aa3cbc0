package views

import (
	"github.com/sagaboard/sagaboard/services/saga"
	"strconv"
	"time"
)

// Lanes are the participants, in the order a booking meets them. An event
// from any other source (a replayed dead letter, say) gets a lane of its own
// below these.
var Lanes = []string{saga.PartBooking, saga.PartPayment, saga.PartSeats, saga.PartCompensation, saga.PartNotification}

// Hop kinds: how a dot is drawn.
const (
	KindForward = "forward" // a step that moved the booking on
	KindFailure = "failure" // a step that failed and started the undo
	KindUndo    = "undo"    // a step of the compensation
	KindPivot   = "pivot"   // the seats were sold: nothing is undone after this
	KindRetry   = "retry"   // telling the user failed and will be retried
	KindNotify  = "notify"  // the user was told
	KindNote    = "note"    // a remark that changes nothing
	KindOther   = "other"   // a message this dashboard does not know
)

// kinds maps each message type to its kind and a short label.
var kinds = map[string][2]string{
	saga.TypeBookingCreated:            {KindForward, "held seats"},
	saga.TypePaymentCompleted:          {KindForward, "charged"},
	saga.TypePaymentServiceFailed:      {KindFailure, "declined"},
	saga.TypeSeatsSold:                 {KindPivot, "sold ◆ pivot"},
	saga.TypeSeatUpdatingServiceFailed: {KindFailure, "not sold"},
	saga.TypeRefundRequested:           {KindUndo, "ask refund"},
	saga.TypePaymentRefunded:           {KindUndo, "refunded"},
	saga.TypeSeatReleaseRequested:      {KindUndo, "ask release"},
	saga.TypeBookingCancelled:          {KindUndo, "released"},
	saga.TypeNotificationRetry:         {KindRetry, "retry"},
	saga.TypeBookingNotified:           {KindNotify, "told user"},
	saga.TypeDeadlineExceeded:          {KindFailure, "deadline"},
	saga.TypeSeatsVoidRequested:        {KindUndo, "ask void"},
	saga.TypeVoidRefused:               {KindNote, "sold already"},
	saga.TypeLateMessageNeutralised:    {KindNote, "late, ignored"},
}

// Compensation reports whether a message type belongs to the compensation
// path: the failure that starts it and every undo after it.
func Compensation(typ string) bool {
	k := kinds[typ][0]
	return k == KindFailure || k == KindUndo
}

// Meaning says in plain words what a message means, for someone who has
// never heard of a saga.
func Meaning(typ string) string {
	switch typ {
	case saga.TypeBookingCreated:
		return "Booking held the seats and asked Payment to charge for them."
	case saga.TypePaymentCompleted:
		return "Payment charged the money and asked Seats to sell the seats."
	case saga.TypePaymentServiceFailed:
		return "Payment failed to charge. Nothing was charged, so only the held seats need undoing."
	case saga.TypeSeatsSold:
		return "Seats sold the seats. This is the pivot: from here on nothing is undone, the booking is confirmed."
	case saga.TypeSeatUpdatingServiceFailed:
		return "Seats could not sell the seats. The charge and the hold must be undone."
	case saga.TypeRefundRequested:
		return "Compensation asked Payment to give the money back (undo of the charge)."
	case saga.TypePaymentRefunded:
		return "Payment refunded the charge and asked Booking to release the seats."
	case saga.TypeSeatReleaseRequested:
		return "Compensation asked Booking to release the held seats (undo of the hold)."
	case saga.TypeBookingCancelled:
		return "Booking released the seats and cancelled the booking: every step is undone."
	case saga.TypeNotificationRetry:
		return "Telling the user failed; Notification will try again after a pause. The outcome does not change."
	case saga.TypeBookingNotified:
		return "Notification told the user how the booking ended."
	case saga.TypeDeadlineExceeded:
		return "The booking was still pending at its deadline, so Booking started undoing it."
	case saga.TypeSeatsVoidRequested:
		return "Compensation asked Seats never to sell these seats (undo before the pivot)."
	case saga.TypeVoidRefused:
		return "Seats had sold the seats before the undo arrived: the pivot stands and the booking is confirmed."
	case saga.TypeLateMessageNeutralised:
		return "A message arrived after the booking was undone; it was recognised and left no effect behind."
	}
	return "A message this dashboard does not know."
}

// Timeline is a booking's events laid out for drawing: a lane per
// participant, time running left to right, one dot per message.
type Timeline struct {
	Lanes  []string
	Hops   []Hop
	Width  int
	Height int
	// LaneY is the y of each lane's line.
	LaneY []int
	// LabelW is the width of the lane names' column.
	LabelW int
	// AxisY is the y of the row that says how long each hop took.
	AxisY int
	// PivotX is the x of the pivot, 0 when there is none.
	PivotX int
	// Total is the time from the first message to the last.
	Total time.Duration
	Big   bool
}

// Hop is one dot of the timeline, with the line that leads to it.
type Hop struct {
	Event Event
	Kind  string
	Label string
	// Undo is true on the compensation path: the failure, every undo and
	// the message telling the user, drawn red and dashed.
	Undo bool
	// Count is how many messages the dot stands for: consecutive retries
	// are drawn as one dot.
	Count int
	Lane  int
	X, Y  int
	// Took is the time since the previous message.
	Took  time.Duration
	First bool
	// FromX, FromY is the previous dot, where the line starts.
	FromX, FromY int
}

// Size of the drawing, compact (the list) or big (a booking's page).
type size struct{ labelW, stepW, laneH, top, axisH int }

var (
	compactSize = size{labelW: 92, stepW: 92, laneH: 17, top: 10, axisH: 16}
	bigSize     = size{labelW: 112, stepW: 138, laneH: 32, top: 18, axisH: 24}
)

// Layout lays out events. big is the booking page's drawing; otherwise it
// is the list's compact one.
func Layout(events []Event, big bool) Timeline {
	sz := compactSize
	if big {
		sz = bigSize
	}
	t := Timeline{Lanes: append([]string(nil), Lanes...), LabelW: sz.labelW, Big: big}
	laneOf := map[string]int{}
	for i, l := range t.Lanes {
		laneOf[l] = i
	}
	for _, e := range events {
		src := e.Source
		if src == "" {
			src = "unknown"
		}
		if _, ok := laneOf[src]; !ok && len(t.Lanes) < 8 {
			laneOf[src] = len(t.Lanes)
			t.Lanes = append(t.Lanes, src)
		}
	}
	t.LaneY = make([]int, len(t.Lanes))
	for i := range t.Lanes {
		t.LaneY[i] = sz.top + i*sz.laneH
	}
	undo := false
	var prev *Event
	for i := range events {
		e := events[i]
		k, ok := kinds[e.Type]
		if !ok {
			k = [2]string{KindOther, Clip(e.Type, 12)}
		}
		switch {
		case k[0] == KindFailure:
			undo = true
		case e.Type == saga.TypeSeatsSold || e.Type == saga.TypeVoidRefused:
			undo = false // past the pivot: the booking stands
		}
		var took time.Duration
		if prev != nil {
			took = e.At.Sub(prev.At)
		}
		prev = &events[i]
		// Consecutive retries are one dot with a count: forty failed
		// attempts to tell the user are one fact, not forty.
		if n := len(t.Hops); n > 0 && e.Type == saga.TypeNotificationRetry && t.Hops[n-1].Event.Type == saga.TypeNotificationRetry {
			t.Hops[n-1].Count++
			continue
		}
		src := e.Source
		if src == "" {
			src = "unknown"
		}
		lane, ok := laneOf[src]
		if !ok {
			lane = len(t.Lanes) - 1
		}
		// The undo path is the failure, every undo, and telling the user
		// about it.
		onUndo := Compensation(e.Type) || (undo && (k[0] == KindNotify || k[0] == KindRetry))
		h := Hop{Event: e, Kind: k[0], Label: k[1], Undo: onUndo, Count: 1, Lane: lane, Took: took, First: len(t.Hops) == 0}
		h.X = sz.labelW + 14 + len(t.Hops)*sz.stepW
		h.Y = t.LaneY[lane]
		if !h.First {
			last := t.Hops[len(t.Hops)-1]
			h.FromX, h.FromY = last.X, last.Y
		}
		if h.Kind == KindPivot && t.PivotX == 0 {
			t.PivotX = h.X
		}
		t.Hops = append(t.Hops, h)
	}
	if len(events) > 1 {
		t.Total = events[len(events)-1].At.Sub(events[0].At)
	}
	t.AxisY = sz.top + (len(t.Lanes)-1)*sz.laneH + sz.axisH
	t.Height = t.AxisY + 6
	t.Width = sz.labelW + 14 + max(len(t.Hops), 1)*sz.stepW
	return t
}

// Path is the line into h: down or up its column from the previous dot's
// lane, then along its own lane, with a rounded corner. Drawn that way, a
// dot's label (to its right, on its lane) never meets a line.
func (h Hop) Path() string {
	if h.First {
		return ""
	}
	x1, y1, x2, y2 := h.FromX, h.FromY, h.X, h.Y
	if y1 == y2 {
		return "M" + itoa(x1) + " " + itoa(y1) + " H" + itoa(x2)
	}
	r := 6
	dy := r
	if y2 < y1 {
		dy = -r
	}
	return "M" + itoa(x1) + " " + itoa(y1) +
		" V" + itoa(y2-dy) +
		" Q" + itoa(x1) + " " + itoa(y2) + " " + itoa(x1+r) + " " + itoa(y2) +
		" H" + itoa(x2)
}

// TookText is the hop's time for the axis row.
func (h Hop) TookText() string {
	if h.First {
		return "start"
	}
	s := "+" + Duration(h.Took)
	if h.Count > 1 {
		s += " ×" + itoa(h.Count)
	}
	return s
}

// LabelText is the dot's label, with the count of collapsed retries.
func (h Hop) LabelText() string {
	if h.Count > 1 {
		return h.Label + " ×" + itoa(h.Count)
	}
	return h.Label
}

// Title is the dot's tooltip: the full story of the message.
func (h Hop) Title() string {
	s := h.Event.Type + " from " + h.Event.Source + " to " + h.Event.Queue + " at " + ClockMS(h.Event.At) + " UTC"
	if h.Event.Reason != "" {
		s += ": " + h.Event.Reason
	}
	if h.Count > 1 {
		s += " (" + itoa(h.Count) + " retries in a row)"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

// Why is the one line that explains a booking's outcome: the failure's
// reason for a compensated booking, what the user was told for a finished
// one, where it waits for a pending one.
func (b Booking) Why() string {
	switch b.Status {
	case saga.StatusCompensated:
		for _, e := range b.Events {
			if kinds[e.Type][0] == KindFailure && e.Reason != "" {
				return e.Reason
			}
		}
		return b.Reason
	case saga.StatusPending:
		if b.Waiting != nil {
			s := "waiting in " + b.Waiting.Queue + " since " + Clock(b.Waiting.Since) + " UTC"
			if b.Waiting.Note != "" {
				s += " — " + b.Waiting.Note
			}
			return s
		}
		return "starting"
	}
	for i := len(b.Events) - 1; i >= 0; i-- {
		if b.Events[i].Type == saga.TypeBookingNotified && b.Events[i].Reason != "" {
			return b.Events[i].Reason
		}
	}
	if !b.Notified {
		return "the seats are sold; telling the user is under way"
	}
	return ""
}

// Failure returns the event that made a compensated booking fail.
func (b Booking) Failure() (Event, bool) {
	if b.Status != saga.StatusCompensated {
		return Event{}, false
	}
	for _, e := range b.Events {
		if IsFailure(e.Type) {
			return e, true
		}
	}
	return Event{}, false
}

// IsFailure reports whether a message type says a step failed.
func IsFailure(typ string) bool {
	k, ok := kinds[typ]
	return ok && k[0] == KindFailure
}

// StepFailed reports whether e says a step failed: a failure that starts
// the undo, or a notification that will be retried.
func StepFailed(e Event) bool { return IsFailure(e.Type) || e.Type == saga.TypeNotificationRetry }

// Retries counts the failed attempts to tell the user.
func (b Booking) Retries() int {
	n := 0
	for _, e := range b.Events {
		if e.Type == saga.TypeNotificationRetry {
			n++
		}
	}
	return n
}

// Summary tells what happened to the booking in a sentence or two.
func (b Booking) Summary() string {
	told := " The user was told."
	if !b.Notified {
		told = " Telling the user is still under way."
		if r := b.Retries(); r > 0 {
			told = " Telling the user has failed " + itoa(r) + " times so far and is being retried."
		}
	}
	switch b.Status {
	case saga.StatusConfirmed:
		return "Confirmed: the money was charged and the seats are sold." + told
	case saga.StatusCompensated:
		why := b.Why()
		if why != "" {
			why = " (" + why + ")"
		}
		return "Compensated: a step failed" + why + ", so every step already done was undone — no money is kept and the seats are free again." + told
	case saga.StatusPending:
		return "In progress: " + b.Why() + "."
	}
	return ""
}

// TotalTime is how long the booking's messages took, first to last.
func (b Booking) TotalTime() string {
	if len(b.Events) < 2 {
		return ""
	}
	return Duration(b.Events[len(b.Events)-1].At.Sub(b.Events[0].At))
}

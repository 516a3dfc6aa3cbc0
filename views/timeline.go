package views

import (
	"math"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
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

// Drawing modes: how the timeline spaces its dots.
const (
	// ModeSteps spaces every message evenly: the order at a glance.
	ModeSteps = "steps"
	// ModeTime spaces messages by the time between them, to scale; a gap
	// too long to draw to scale is drawn as a marked break with its length.
	ModeTime = "time"
)

// Timeline is a booking's events laid out for drawing: a lane per
// participant, time running left to right, one dot per message. A chain
// too long for one row goes on in a row below, with the lanes again, so the
// drawing never needs a sideways scroll.
type Timeline struct {
	Mode  string
	Lanes []string
	Rows  []Row
	Hops  []Hop
	// Breaks are the gaps drawn shorter than they were (time mode).
	Breaks []Break
	Width  int
	Height int
	// LabelW is the width of the lane names' column.
	LabelW int
	// Total is the time from the first message to the last.
	Total time.Duration
	Big   bool
	// Narrow is the drawing for a small screen: rows wrap early enough to
	// be read at their size there, rather than shrunk to fit.
	Narrow bool
	// Fit is a narrow drawing that is the only one: see LayoutFitAs.
	Fit bool
	// Messages is how many messages the drawing stands for: every one.
	Messages int
}

// Row is one row of the drawing: the lanes once more, and an axis.
type Row struct {
	// LaneY is the y of each lane's line.
	LaneY []int
	// AxisY is the y of the row that says how long each hop took.
	AxisY int
	// Top is the y where the row starts.
	Top int
}

// Break is a gap drawn shorter than it lasted: two slanted strokes across
// the lanes, and its real length on the axis.
type Break struct {
	Row  int
	X    int
	Took time.Duration
}

// Hop is one dot of the timeline, with the line that leads to it.
type Hop struct {
	Event Event
	Kind  string
	Label string
	// Undo is true on the compensation path: the failure, every undo and
	// the message telling the user, drawn red and dashed.
	Undo bool
	// Count is how many messages the dot stands for: a long run of retries
	// is drawn as one dot; a short one dot by dot, each at its own time.
	Count int
	// Span is the time from the first message of a run of retries to its
	// last.
	Span time.Duration
	Lane int
	Row  int
	X, Y int
	// Took is the time since the previous message.
	Took  time.Duration
	First bool
	// RowStart is true for the first dot of a row after the first: its
	// line comes in from the row's left edge, the chain going on.
	RowStart bool
	// FromX, FromY is the previous dot, where the line starts.
	FromX, FromY int
	// ShowLabel is false where the label would run into the next dot on
	// its lane (time mode packs short hops close); the dot's title says it.
	ShowLabel bool
	// ShowTook is false where the hop is too narrow for its time.
	ShowTook bool
}

// Size of the drawing, compact (the list) or big (a booking's page).
type size struct {
	labelW, stepW, laneH, top, axisH, rowGap int
	// rowW is the widest a row is drawn before the chain goes on below.
	rowW int
	// charW is a label's width per character, for fitting labels.
	charW float64
	// Time mode: a hop is at least minW wide, pxPerSec to scale up to
	// breakAt, and breakW for any gap longer than that.
	minW, breakW int
	pxPerSec     float64
	breakAt      time.Duration
}

var (
	compactSize = size{labelW: 88, stepW: 90, laneH: 17, top: 10, axisH: 16, rowGap: 8, rowW: 720, charW: 5.9,
		minW: 18, pxPerSec: 90, breakAt: 1500 * time.Millisecond, breakW: 200}
	// narrowSize is for a box about 360 px wide (a phone, a compare
	// column): a row fits one at its own size, so the labels stay
	// readable, big drawing or small; charW is the big drawing's letters.
	narrowSize = size{labelW: 84, stepW: 84, laneH: 22, top: 12, axisH: 18, rowGap: 10, rowW: 320, charW: 7.4,
		minW: 16, pxPerSec: 60, breakAt: 1500 * time.Millisecond, breakW: 170}
	bigSize = size{labelW: 108, stepW: 132, laneH: 30, top: 18, axisH: 24, rowGap: 12, rowW: 860, charW: 7,
		minW: 24, pxPerSec: 150, breakAt: 1500 * time.Millisecond, breakW: 280}
)

// MaxRetryDots is the longest run of retries drawn dot by dot; a longer
// one is one dot with its count: forty failed attempts are one fact.
const MaxRetryDots = 6

// Layout lays out events in steps. big is the booking page's drawing;
// otherwise it is the list's compact one.
func Layout(events []Event, big bool) Timeline { return LayoutAs(events, big, ModeSteps) }

// LayoutAs lays out events in the given mode.
func LayoutAs(events []Event, big bool, mode string) Timeline {
	sz := compactSize
	if big {
		sz = bigSize
	}
	return layout(events, big, mode, sz)
}

// LayoutNarrowAs lays out events in the given mode for a small screen.
func LayoutNarrowAs(events []Event, big bool, mode string) Timeline {
	t := layout(events, big, mode, narrowSize)
	t.Narrow = true
	return t
}

func layout(events []Event, big bool, mode string, sz size) Timeline {
	if mode != ModeTime {
		mode = ModeSteps
	}
	t := Timeline{Mode: mode, Lanes: append([]string(nil), Lanes...), LabelW: sz.labelW, Big: big, Messages: len(events)}
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
	rowH := (len(t.Lanes)-1)*sz.laneH + sz.axisH + sz.rowGap + sz.top
	addRow := func() {
		top := len(t.Rows) * rowH
		r := Row{Top: top, LaneY: make([]int, len(t.Lanes))}
		for i := range t.Lanes {
			r.LaneY[i] = top + sz.top + i*sz.laneH
		}
		r.AxisY = top + sz.top + (len(t.Lanes)-1)*sz.laneH + sz.axisH
		t.Rows = append(t.Rows, r)
	}
	addRow()
	runs := retryRuns(events)
	x0 := sz.labelW + 14
	x := x0
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
		if n := len(t.Hops); n > 0 && runs[i] && e.Type == saga.TypeNotificationRetry && t.Hops[n-1].Event.Type == saga.TypeNotificationRetry {
			t.Hops[n-1].Count++
			t.Hops[n-1].Span = e.At.Sub(t.Hops[n-1].Event.At)
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
		h := Hop{Event: e, Kind: k[0], Label: k[1], Undo: onUndo, Count: 1, Lane: lane, Took: took, First: len(t.Hops) == 0, ShowTook: true}
		gap := 0
		if !h.First {
			gap = sz.stepW
			if mode == ModeTime {
				gap = timeGap(took, sz)
			}
		}
		if !h.First && x+gap > sz.rowW {
			// The chain goes on in a row below. A long wait keeps its width
			// there, up to a whole row: drawn as a sliver at a row's start
			// it would look as short as a hop of a few ms.
			addRow()
			x = x0 + sz.minW
			if mode == ModeTime && took >= sz.breakAt {
				x = x0 + min(gap, sz.rowW-x0)
			}
			h.RowStart = true
		} else {
			x += gap
		}
		h.Row = len(t.Rows) - 1
		h.X, h.Y = x, t.Rows[h.Row].LaneY[lane]
		if !h.First {
			last := t.Hops[len(t.Hops)-1]
			h.FromX, h.FromY = last.X, last.Y
			if h.RowStart {
				h.FromX, h.FromY = sz.labelW, h.Y
			}
			if mode == ModeTime && took >= sz.breakAt {
				bx := h.X - gap/2
				if h.RowStart {
					bx = (x0 + h.X) / 2
				}
				t.Breaks = append(t.Breaks, Break{Row: h.Row, X: bx, Took: took})
				h.ShowTook = false // the break says it
			}
			if mode == ModeTime && !h.RowStart && gap < 34 {
				h.ShowTook = false
			}
		}
		t.Hops = append(t.Hops, h)
	}
	// A label shows where it does not run into the next dot on its lane
	// in its row; the labels of steps mode always fit.
	for i := range t.Hops {
		h := &t.Hops[i]
		h.ShowLabel = true
		end := h.X + 12 + int(float64(len([]rune(h.LabelText())))*sz.charW)
		for _, n := range t.Hops[i+1:] {
			if n.Row == h.Row && n.Lane == h.Lane && n.X < end {
				h.ShowLabel = false
			}
		}
	}
	width := x0
	for _, h := range t.Hops {
		end := h.X + 16
		if h.ShowLabel {
			end = h.X + 14 + int(float64(len([]rune(h.LabelText())))*sz.charW)
		}
		width = max(width, end)
	}
	if mode == ModeSteps {
		width = max(width, x0+min(len(t.Hops), 1)*sz.stepW)
	}
	t.Width = max(width, x0+sz.stepW)
	if len(events) > 1 {
		t.Total = events[len(events)-1].At.Sub(events[0].At)
	}
	last := t.Rows[len(t.Rows)-1]
	t.Height = last.AxisY + 6
	return t
}

// timeGap is how wide a gap of d is drawn in time mode: to scale, never
// narrower than a dot needs, and a break of fixed width past breakAt.
func timeGap(d time.Duration, sz size) int {
	if d >= sz.breakAt {
		// Longer breaks are somewhat wider still, so 2 s and 15 s do
		// not look alike; the label says the length exactly.
		return int(float64(sz.breakW) * (1 + 0.25*math.Log2(d.Seconds()/sz.breakAt.Seconds())))
	}
	return max(sz.minW, int(d.Seconds()*sz.pxPerSec))
}

// retryRuns marks the events that belong to a run of consecutive retries
// longer than MaxRetryDots: those are folded into one dot.
func retryRuns(events []Event) []bool {
	out := make([]bool, len(events))
	for i := 0; i < len(events); {
		j := i
		for j < len(events) && events[j].Type == saga.TypeNotificationRetry {
			j++
		}
		if j-i > MaxRetryDots {
			for k := i; k < j; k++ {
				out[k] = true
			}
		}
		i = max(j, i+1)
	}
	return out
}

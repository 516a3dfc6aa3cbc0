package views

import (
	"strconv"
)

// PivotHop returns the pivot's dot, if there is one.
func (t Timeline) PivotHop() (Hop, bool) {
	for _, h := range t.Hops {
		if h.Kind == KindPivot {
			return h, true
		}
	}
	return Hop{}, false
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

// TookText is the hop's time for the axis row: the time since the message
// before, and for a folded run of retries, how long the run lasted.
func (h Hop) TookText() string {
	if h.First {
		return "start"
	}
	s := "+" + Duration(h.Took)
	if h.Count > 1 {
		s += ", " + itoa(h.Count) + " in " + Duration(h.Span)
	}
	return s
}

// LabelText is the dot's label, with the count of folded retries.
func (h Hop) LabelText() string {
	if h.Count > 1 {
		return h.Label + " ×" + itoa(h.Count)
	}
	return h.Label
}

// Title is the dot's tooltip: the full story of the message.
func (h Hop) Title() string {
	s := h.Label + ": " + h.Event.Type + " from " + h.Event.Source + " to " + h.Event.Queue + " at " + ClockMS(h.Event.At) + " UTC"
	if !h.First {
		s += ", " + Duration(h.Took) + " after the one before"
	}
	if h.Event.Reason != "" {
		s += ": " + h.Event.Reason
	}
	if h.Count > 1 {
		s += " (" + itoa(h.Count) + " retries in a row over " + Duration(h.Span) + ")"
	}
	return s
}

// Text is a break's label: the gap's real length.
func (b Break) Text() string { return "⟿ " + Duration(b.Took) }

func itoa(n int) string { return strconv.Itoa(n) }

// Package views renders sagaboard's pages and their live fragments with
// templ. Views take plain values, the structs in this file, never stores:
// the web package gathers the data and the views only lay it out. The
// saga's words (statuses, message types, parts) come from services/saga, the
// domain package, which imports nothing of ours. Every
// string a user or a message supplied (user ids, payloads, reasons) reaches
// the page through templ's escaping; nothing here uses templ.Raw.
package views

import (
	"github.com/sagaboard/sagaboard/services/saga"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Page is what every page's frame needs.
type Page struct {
	Title  string
	Assets Assets
	// WS is the path the page's WebSocket connects to.
	WS string
	// NeedToken is true when the server has a token and this browser has
	// not given it yet: the header then asks for it once.
	NeedToken bool
	// TokenWrong is true right after a wrong token was entered.
	TokenWrong bool
}

// Assets are the URLs of the static files, with a version in the query so
// they can be cached for good.
type Assets struct {
	CSS, JS, HTMX, HTMXWS string
}

// Dashboard is the whole of GET /.
type Dashboard struct {
	Page
	Stats       Stats
	Broker      Broker
	Seats       SeatMap
	Switches    []Switch
	Queues      Queues
	Filter      Filter
	List        BookingsList
	Notices     Notices
	DeadLetters DeadLetters
	Invariants  Invariants
}

// Stats are the header's counts.
type Stats struct {
	// Known is false when the booking part does not run in this process.
	Known                                            bool
	Total, Pending, Confirmed, Compensated, Notified int
	// BookingsPerSec and MessagesPerSec are recent rates, as the observer
	// saw them.
	BookingsPerSec, MessagesPerSec float64
	// Steps are each step's recent latency.
	Steps []StepLatency
}

// StepLatency is one step's latency over its recent samples: from the
// message that started it to the message it sent.
type StepLatency struct {
	Step     string
	P50, P99 time.Duration
	// N is how many samples there are; 0 means not seen yet.
	N int
}

// Broker is the state of the connection to RabbitMQ.
type Broker struct {
	Known     bool
	Connected bool
	Err       string
	Outages   int
	Since     time.Time
	// SharedIdentity is set while every part logs in to the broker as
	// one user, so anybody who can log in can forge saga messages.
	SharedIdentity bool
	// Node is the broker node this process is on, host:port, when -amqp
	// names several nodes of a cluster; "" otherwise.
	Node string
	// Processes are the deployment's processes heard lately on the control
	// exchange, this one among them, each with the node its parts are on;
	// shown where there are several.
	Processes []ProcessNode
}

// ProcessNode is one process of a split deployment and where it is.
type ProcessNode struct {
	// Parts are its parts, comma-separated.
	Parts string
	// Nodes are the broker nodes its parts are on, comma-separated;
	// "none" while it has no connection.
	Nodes string
}

// SeatMap is the venue, row by row.
type SeatMap struct {
	Known bool
	Rows  []SeatRow
	// PriceCents is what one seat costs.
	PriceCents int64
	// SlowMS is slow motion's wait per hop, 0 when off, for the hint by
	// the Book button.
	SlowMS int
}

// SeatRow is one row of seats.
type SeatRow struct {
	Label string
	Seats []Seat
}

// Seat is one seat.
type Seat struct {
	ID, Status, BookingID string
}

// Taken reports whether the seat cannot be picked.
func (s Seat) Taken() bool { return s.Status != saga.SeatFree }

// Switch is one participant's failure switch, with the queue it drains.
type Switch struct {
	Part     string
	FailRate float64
	DelayMS  int
	Paused   bool
	Queue    string
	// FailNext is how many of the next messages still fail; 0 is off.
	FailNext int
	// UserID, when set, limits FailRate and FailNext to that user's bookings.
	UserID string
	// SlowMS is slow motion's wait per hop, the same in every row; the
	// first row carries the slow-motion control (see SwitchRow).
	SlowMS int
}

// Queues are the depths of the saga's queues.
type Queues struct {
	// Known is false until the first look at the broker.
	Known bool
	Err   string
	List  []Queue
	// Paused lists the queues whose consumer is paused by its switch.
	Paused map[string]bool
}

// Queue is one queue's depth, and the bookings waiting in it.
type Queue struct {
	Name      string
	Ready     int
	Unacked   int
	Consumers int
	// Holding is true for queues that hold messages on purpose, with no
	// consumer: the retry queues.
	Holding bool
	// Waiting lists the oldest bookings whose next step waits here;
	// WaitingMore counts the rest.
	Waiting     []QueueWait
	WaitingMore int
}

// QueueWait is a booking waiting in a queue.
type QueueWait struct {
	ID, UserID, Note string
	Since            time.Time
	For              time.Duration
}

// Filter narrows the bookings list.
type Filter struct {
	Status, UserID string
	// Q is a search: an id prefix or a user's exact name.
	Q string
}

// Query returns the filter as URL query text, "" when it filters nothing.
func (f Filter) Query() string {
	v := url.Values{}
	if f.Status != "" {
		v.Set("status", f.Status)
	}
	if f.UserID != "" {
		v.Set("user_id", f.UserID)
	}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	return v.Encode()
}

// Booking is one booking with what the observer saw of it.
type Booking struct {
	ID          string
	UserID      string
	Seats       []string
	AmountCents int64
	Status      string
	Notified    bool
	Reason      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Events      []Event
	// Waiting is set until the saga is over (decided and the user told):
	// where its next step waits, and since when.
	Waiting *Waiting
	// Waits are the long waits of its past, each with its reason as the
	// record had it then.
	Waits []PastWait
	// TraceID is its W3C trace id; TraceURL links to it in the user's
	// tracing UI, when -trace-url says where that is.
	TraceID, TraceURL string
	// Steps walk its messages one by one, with what each participant held
	// after each; set on its own page only.
	Steps []BookingStep
}

// Waiting says where a booking's next step waits.
type Waiting struct {
	Queue string
	Since time.Time
	// For is how long it has waited when the page was drawn.
	For time.Duration
	// Note says why it may wait longer: "seats paused", "retry 3 of 40".
	Note string
}

// Age formats how long something has waited: "12 s", "3 min 4 s".
func Age(d time.Duration) string {
	switch {
	case d < time.Second:
		return "<1 s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min " + strconv.Itoa(int(d%time.Minute/time.Second)) + " s"
	}
	return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min"
}

// Event is one message the observer saw.
type Event struct {
	Seq        int64
	Type       string
	Source     string // the participant that sent it: the timeline's lane
	Queue      string // where it was sent
	Attempt    int
	At         time.Time // published
	ObservedAt time.Time
	Reason     string // the payload's reason, in words
	Cause      string // the original failure, along the undo chain
	Injected   bool   // the failure came from a switch
	Payload    string // the payload, indented JSON
}

// Notices are the messages users were sent.
type Notices struct {
	Known bool
	List  []Notice
}

// Notice is one message a user was sent.
type Notice struct {
	BookingID, UserID, Text string
	Success                 bool
	At                      time.Time
}

// DeadLetters are the messages no participant could handle.
type DeadLetters struct {
	Known bool
	List  []DeadLetter
	// Dropped counts older dead letters deleted to keep only the newest.
	Dropped int64
}

// DeadLetter is one of them.
type DeadLetter struct {
	ID, Queue, Reason, Type, BookingID, Body string
	At                                       time.Time
	ReplayedAt                               *time.Time
	// Forged is a message its sender may not send: shown, never replayed.
	Forged bool
}

// BookingPage is GET /bookings/{id}.
type BookingPage struct {
	Page
	Booking Booking
}

// NotFound is the page for an unknown booking or path.
type NotFound struct {
	Page
	Message string
}

// FormResult is what a form's answer says.
type FormResult struct {
	OK      bool
	Message string
	// BookingID links the answer to the booking it made.
	BookingID string
}

// BookingURL is the path of a booking's page.
func BookingURL(id string) string { return "/bookings/" + url.PathEscape(id) }

// ShortID is the end of an id: ids start with a timestamp, so their last
// characters are the ones that tell two apart.
func ShortID(id string) string {
	if len(id) <= 6 {
		return id
	}
	return "…" + id[len(id)-6:]
}

// Money formats cents as "20.00".
func Money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return sign + strconv.FormatInt(cents/100, 10) + "." + pad2(cents%100)
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// Count formats a count with thin separators: 1 204.
func Count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteString(",")
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// Rate formats a per-second rate.
func Rate(r float64) string {
	switch {
	case r <= 0:
		return "0"
	case r < 10:
		return strconv.FormatFloat(r, 'f', 1, 64)
	default:
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
}

// Clock formats a time of day in UTC, to the second.
func Clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05")
}

// ClockMS formats a time of day in UTC, to the millisecond.
func ClockMS(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05.000")
}

// Stamp is a full UTC timestamp for machines and tooltips.
func Stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Duration formats how long a hop took, short and readable.
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0 ms"
	case d < time.Millisecond:
		return "<1 ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	default:
		return d.Round(time.Second).String()
	}
}

// Latency formats a step's latency compactly: "0.8 ms", "12 ms", "1.2 s".
func Latency(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}

// Percent formats a fail rate from 0 to 1 as "20 %".
func Percent(r float64) string {
	return strconv.FormatFloat(r*100, 'f', 0, 64) + " %"
}

// Outcome is a status in a symbol and a word, so colour is never the only
// sign.
func Outcome(status string) string {
	switch status {
	case saga.StatusConfirmed:
		return "✔ confirmed"
	case saga.StatusCompensated:
		return "✖ compensated"
	case saga.StatusPending:
		return "● pending"
	}
	return status
}

// Clip shortens s to n runes, with an ellipsis.
func Clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

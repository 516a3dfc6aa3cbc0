package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

// Wire is what the broker itself counted for one vhost: its connections'
// socket reads and writes and bytes, and its queues' disk work. The broker's
// CPU per booking says how hard it worked; these say on what, so a booking
// and a ceiling saga can be compared item by item. They come from
// rabbitmqctl, which the run needs anyway, because this RabbitMQ has no
// management plugin to count messages.
type Wire struct {
	Conns, Channels     int
	RecvCnt, SendCnt    int64 // socket reads and writes, as the broker counts them
	RecvOct, SendOct    int64 // bytes in and out
	DiskWrite, DiskRead int64 // messages the vhost's queues wrote to and read from disk
}

// Sub is w's counters minus earlier's; the connection and channel counts are
// w's own.
func (w Wire) Sub(earlier Wire) Wire {
	w.RecvCnt -= earlier.RecvCnt
	w.SendCnt -= earlier.SendCnt
	w.RecvOct -= earlier.RecvOct
	w.SendOct -= earlier.SendOct
	w.DiskWrite -= earlier.DiskWrite
	w.DiskRead -= earlier.DiskRead
	return w
}

// Per divides the counters by n: per booking or per saga.
func (w Wire) Per(n int) WirePer {
	if n <= 0 {
		return WirePer{}
	}
	f := float64(n)
	return WirePer{Reads: float64(w.RecvCnt) / f, Writes: float64(w.SendCnt) / f,
		In: float64(w.RecvOct) / f, Out: float64(w.SendOct) / f, DiskWrite: float64(w.DiskWrite) / f}
}

// WirePer is Wire per booking or per saga.
type WirePer struct {
	Reads, Writes, In, Out, DiskWrite float64
}

func (p WirePer) String() string {
	return fmt.Sprintf("%.1f socket reads, %.1f writes, %.2f KB in, %.2f KB out, %.2f disk writes",
		p.Reads, p.Writes, p.In/1000, p.Out/1000, p.DiskWrite)
}

// readWire sums the counters of vhost's connections and queues as they are
// now. A connection closed since an earlier read takes its counts with it,
// so read both ends of a span while the same connections are open.
func readWire(ctx context.Context, b broker, vhost string) (Wire, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var w Wire
	var conns []struct {
		RecvCnt  int64 `json:"recv_cnt"`
		SendCnt  int64 `json:"send_cnt"`
		RecvOct  int64 `json:"recv_oct"`
		SendOct  int64 `json:"send_oct"`
		Channels int   `json:"channels"`
	}
	if err := ctlJSON(ctx, b, &conns, "list_connections", "-p", vhost, "recv_cnt", "send_cnt", "recv_oct", "send_oct", "channels"); err != nil {
		return w, err
	}
	for _, c := range conns {
		w.Conns++
		w.Channels += c.Channels
		w.RecvCnt += c.RecvCnt
		w.SendCnt += c.SendCnt
		w.RecvOct += c.RecvOct
		w.SendOct += c.SendOct
	}
	var queues []struct {
		// Quorum queues and streams report no disk counters: the fields
		// are then absent or not numbers, and count as 0.
		DiskWrites any `json:"disk_writes"`
		DiskReads  any `json:"disk_reads"`
	}
	if err := ctlJSON(ctx, b, &queues, "list_queues", "-p", vhost, "disk_writes", "disk_reads"); err != nil {
		return w, err
	}
	for _, q := range queues {
		w.DiskWrite += number(q.DiskWrites)
		w.DiskRead += number(q.DiskReads)
	}
	return w, nil
}

func number(v any) int64 {
	if f, ok := v.(float64); ok {
		return int64(f)
	}
	return 0
}

// ctlJSON runs a rabbitmqctl listing with the JSON formatter into out.
func ctlJSON(ctx context.Context, b broker, out any, args ...string) error {
	args = append([]string{"-q", "--formatter", "json"}, args...)
	raw, err := b.ctl(ctx, args...)
	if err != nil {
		return fmt.Errorf("wire: rabbitmqctl %s: %w", args[3], err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("wire: read rabbitmqctl %s: %w", args[3], err)
	}
	return nil
}

// Traffic is how many messages one booking sent and how many copies the
// broker delivered, counted from the tap: every message the observer saw
// for the booking was published once and delivered to every queue its
// routing key reaches, the tap among them.
type Traffic struct {
	Bookings   int
	Publishes  int
	Deliveries int
}

// PerBooking returns publishes and deliveries per booking.
func (t Traffic) PerBooking() (float64, float64) {
	if t.Bookings == 0 {
		return 0, 0
	}
	return float64(t.Publishes) / float64(t.Bookings), float64(t.Deliveries) / float64(t.Bookings)
}

// countTraffic reads the timelines of up to n of ids.
func countTraffic(ctx context.Context, a *api, ids []string, n int) (Traffic, error) {
	var t Traffic
	step := max(1, len(ids)/max(1, n))
	for i := 0; i < len(ids) && t.Bookings < n; i += step {
		var b struct {
			Events []struct {
				Queue string `json:"queue"`
			} `json:"events"`
		}
		if err := a.do(ctx, "GET", "/api/bookings/"+ids[i], nil, 200, &b); err != nil {
			return t, fmt.Errorf("traffic: %w", err)
		}
		t.Bookings++
		for _, e := range b.Events {
			t.Publishes++
			t.Deliveries += reached(e.Queue)
		}
	}
	return t, nil
}

// reached is how many queues a message published with routing key reaches:
// the saga's queues bound to it, and the tap.
func reached(key string) int {
	n := 0
	for q := range saga.Bindings {
		if saga.Reaches(key, q) {
			n++
		}
	}
	for _, r := range saga.NotificationRetryQueues {
		if key == r.Name {
			n++ // the holding queue; it hands the message on after its wait
		}
	}
	return n
}

// ceilingTraffic is a ceiling saga's: four publishes, each delivered to its
// hop's queue and to the observer.
var ceilingTraffic = Traffic{Bookings: 1, Publishes: len(ceilingHops), Deliveries: 2 * len(ceilingHops)}

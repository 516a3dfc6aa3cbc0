package invariants

import (
	"context"
)

// feed is one store's cursors. The forward cursor reads what is new, a page
// at most per check. A second cursor re-reads the Overlap behind it, a page
// at most per check, for rows that commit with an older time than rows
// already read; when the overlap holds more than a page, it goes round it
// over several checks instead of holding the forward cursor back. Rows read
// once are remembered while they are in the overlap, and skipped.
type feed struct {
	name    string
	src     Feed
	overlap int64
	started bool
	pos     Cursor          // the last row the forward cursor read
	lag     Cursor          // where the re-read of the overlap goes on
	seen    map[Cursor]bool // rows read, within the overlap behind pos
}

func newFeed(name string, src Feed, overlap int64) *feed {
	return &feed{name: name, src: src, overlap: overlap, seen: map[Cursor]bool{}}
}

func before(a, b Cursor) bool { return a.At < b.At || (a.At == b.At && a.Key < b.Key) }

// next returns the ids of the bookings whose rows changed since the last
// call. A new feed starts Overlap before the store's newest row: what came
// before is the sweep's to check.
func (f *feed) next(ctx context.Context, limit int) ([]string, error) {
	if !f.started {
		head, err := f.src.Head(ctx)
		if err != nil {
			return nil, err
		}
		f.started, f.pos = true, Cursor{At: head - f.overlap}
		f.lag = f.pos
	}
	var ids []string
	take := func(rows []Change) {
		for _, r := range rows {
			p := Cursor{At: r.At, Key: r.Key}
			if !f.seen[p] {
				f.seen[p] = true
				ids = append(ids, r.BookingID)
			}
		}
	}
	rows, err := f.src.Changes(ctx, f.pos, limit)
	if err != nil {
		return nil, err
	}
	take(rows)
	if len(rows) > 0 {
		f.pos = Cursor{At: rows[len(rows)-1].At, Key: rows[len(rows)-1].Key}
	}
	floor := Cursor{At: f.pos.At - f.overlap}
	if f.overlap > 0 {
		if before(f.lag, floor) {
			f.lag = floor
		}
		late, err := f.src.Changes(ctx, f.lag, limit)
		if err != nil {
			// The forward rows are marked seen: hand them over anyway, so
			// the caller keeps them for the next check.
			return ids, err
		}
		take(late)
		f.lag = floor // round again from the start of the overlap
		if len(late) == limit {
			if last := late[len(late)-1]; before(Cursor{At: last.At, Key: last.Key}, f.pos) {
				f.lag = Cursor{At: last.At, Key: last.Key} // more of the overlap waits
			}
		}
	}
	for p := range f.seen {
		if p.At < floor.At {
			delete(f.seen, p)
		}
	}
	return ids, nil
}

// Package load books many random seats in the background, one seat per
// booking, so a person can watch the saga under load without writing a
// script. It goes through Booking's Create, the path POST /api/bookings
// takes, so each booking is an ordinary one. The API (POST /api/load) and
// the dashboard's "Book N random" button share one Loader.
package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/httperr"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// The limits of a load.
const (
	// MaxLoad is the most bookings one load makes.
	MaxLoad = 500
	// loadPace is the time between two bookings of a load: 50 a second,
	// slow enough to watch each one travel, fast enough to queue up.
	loadPace = 20 * time.Millisecond
)

// loadUsers are the names a load books under.
var loadUsers = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
	"ivan", "judy", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter"}

// Loader runs at most one load at a time, and stops it when the server
// closes.
type Loader struct {
	book  viewmodel.Booker
	model *viewmodel.Builder
	log   *slog.Logger

	mu      sync.Mutex
	running bool
	closed  bool
	target  int // bookings the running load means to make
	booked  int // bookings it has made so far
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// Stop cancels a running load, waits for it, and refuses new ones.
func (l *Loader) Stop() {
	l.mu.Lock()
	l.closed = true
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
	l.done.Wait()
}

func (l *Loader) progress(booked int) {
	l.mu.Lock()
	l.booked = booked
	l.mu.Unlock()
}

func (l *Loader) finish() {
	l.mu.Lock()
	l.running = false
	l.cancel()
	l.cancel = nil
	l.mu.Unlock()
}

// Started is the answer to POST /api/load: how many bookings were
// asked for, how many the load will make (no more than the free seats),
// and how many seats were free when it started.
type Started struct {
	Requested int `json:"requested"`
	Started   int `json:"started"`
	FreeSeats int `json:"free_seats"`
}

// ErrN is the answer to a number of bookings out of range.
var ErrN = httperr.Errorf(httperr.Invalid, "n must be a whole number from 1 to %d", MaxLoad)

// New returns a Loader that books through book and finds the free seats
// through model.
func New(book viewmodel.Booker, model *viewmodel.Builder, log *slog.Logger) *Loader {
	return &Loader{book: book, model: model, log: log}
}

// Start starts a load of n bookings in the background and returns at
// once. The load lives as long as the server, not the request.
func (l *Loader) Start(ctx context.Context, n int) (Started, error) {
	if err := l.model.Sources().Need(saga.PartBooking); err != nil {
		return Started{}, err
	}
	if n < 1 || n > MaxLoad {
		return Started{}, ErrN
	}
	// Held while the free seats are counted, so two presses at once cannot
	// both start.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Started{}, httperr.Errorf(httperr.Unavailable, "the server is shutting down")
	}
	if l.running {
		return Started{}, httperr.Errorf(httperr.Conflict, "a load is already running: %d of %d booked", l.booked, l.target)
	}
	free, err := l.model.FreeSeats(ctx)
	if err != nil {
		return Started{}, err
	}
	if len(free) == 0 {
		return Started{}, httperr.Errorf(httperr.Conflict, "no seat is free: every seat is held or sold. For more seats, start sagaboard with a bigger -rows and -cols on a fresh -data folder")
	}
	st := Started{Requested: n, Started: min(n, len(free)), FreeSeats: len(free)}
	runCtx, cancel := context.WithCancel(context.Background())
	l.running, l.target, l.booked, l.cancel = true, st.Started, 0, cancel
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		defer l.finish()
		l.run(runCtx, free, st.Started)
	}()
	return st, nil
}

// run books target random seats, one per booking, one every loadPace.
// A seat taken meanwhile by somebody else is skipped; when the seats it
// knew are used up it looks again, and it stops when none is free.
func (l *Loader) run(ctx context.Context, pool []string, target int) {
	tick := time.NewTicker(loadPace)
	defer tick.Stop()
	booked, misses := 0, 0
	for booked < target {
		if len(pool) == 0 {
			var err error
			if pool, err = l.model.FreeSeats(ctx); err != nil || len(pool) == 0 {
				if err != nil && ctx.Err() == nil {
					l.log.Warn("load: could not read the free seats; stopping", "booked", booked, "of", target, "err", err)
				}
				break
			}
		}
		i := rand.IntN(len(pool))
		seat := pool[i]
		pool[i] = pool[len(pool)-1]
		pool = pool[:len(pool)-1]
		_, err := l.book.Create(ctx, loadUsers[rand.IntN(len(loadUsers))], []string{seat})
		switch {
		case err == nil:
			booked++
			l.progress(booked)
		case errors.Is(err, saga.ErrConflict):
			// Somebody took it since: try the next seat at once, but
			// not forever when others book as fast as we do.
			if misses++; misses > 2*target+10 {
				l.log.Warn("load: too many seats taken under it; stopping", "booked", booked, "of", target)
				return
			}
			continue
		case ctx.Err() != nil:
			return
		default:
			l.log.Warn("load: booking failed; stopping", "booked", booked, "of", target, "err", err)
			return
		}
		if booked < target {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
	l.log.Info("load finished", "booked", booked, "of", target)
}

// Sentence says what a load will do.
func Sentence(st Started) string {
	seats := func(n int) string {
		if n == 1 {
			return "1 random seat"
		}
		return strconv.Itoa(n) + " random seats"
	}
	if st.Started < st.Requested {
		free := strconv.Itoa(st.FreeSeats) + " seats are"
		if st.FreeSeats == 1 {
			free = "1 seat is"
		}
		return fmt.Sprintf("Only %s free, fewer than the %d asked for, so booking %s… For more, start sagaboard with a bigger -rows and -cols on a fresh -data folder.",
			free, st.Requested, seats(st.Started))
	}
	return fmt.Sprintf("Booking %s… (%d free)", seats(st.Started), st.FreeSeats)
}

package web

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/views"
)

// A load books many random seats in the background, one seat per booking,
// so a person can watch the saga under load without writing a script. It
// goes through Booking.Create, the path POST /api/bookings takes, so each
// booking is an ordinary one.

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

// loader runs at most one load at a time, and stops it when the server
// closes. Its zero value is ready to use.
type loader struct {
	mu      sync.Mutex
	running bool
	closed  bool
	target  int // bookings the running load means to make
	booked  int // bookings it has made so far
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// stop cancels a running load, waits for it, and refuses new ones.
func (l *loader) stop() {
	l.mu.Lock()
	l.closed = true
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
	l.done.Wait()
}

func (l *loader) progress(booked int) {
	l.mu.Lock()
	l.booked = booked
	l.mu.Unlock()
}

func (l *loader) finish() {
	l.mu.Lock()
	l.running = false
	l.cancel()
	l.cancel = nil
	l.mu.Unlock()
}

// LoadRequest is the body of POST /api/load.
type LoadRequest struct {
	N int `json:"n"`
}

// LoadStarted is the answer to POST /api/load: how many bookings were
// asked for, how many the load will make (no more than the free seats),
// and how many seats were free when it started.
type LoadStarted struct {
	Requested int `json:"requested"`
	Started   int `json:"started"`
	FreeSeats int `json:"free_seats"`
}

var errLoadN = errBody{http.StatusBadRequest, fmt.Sprintf("n must be a whole number from 1 to %d", MaxLoad)}

// startLoad starts a load of n bookings in the background and returns at
// once. The load lives as long as the server, not the request.
func (s *Server) startLoad(ctx context.Context, n int) (LoadStarted, error) {
	if s.cfg.Booking == nil {
		return LoadStarted{}, errBody{http.StatusServiceUnavailable, "Booking does not run in this process; start it here with -only including booking"}
	}
	if n < 1 || n > MaxLoad {
		return LoadStarted{}, errLoadN
	}
	l := &s.load
	// Held while the free seats are counted, so two presses at once cannot
	// both start.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return LoadStarted{}, errBody{http.StatusServiceUnavailable, "the server is shutting down"}
	}
	if l.running {
		return LoadStarted{}, errBody{http.StatusConflict, fmt.Sprintf("a load is already running: %d of %d booked", l.booked, l.target)}
	}
	free, err := s.freeSeats(ctx)
	if err != nil {
		return LoadStarted{}, err
	}
	if len(free) == 0 {
		return LoadStarted{}, errBody{http.StatusConflict, "no seat is free: every seat is held or sold. For more seats, start sagaboard with a bigger -rows and -cols on a fresh -data folder"}
	}
	st := LoadStarted{Requested: n, Started: min(n, len(free)), FreeSeats: len(free)}
	runCtx, cancel := context.WithCancel(context.Background())
	l.running, l.target, l.booked, l.cancel = true, st.Started, 0, cancel
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		defer l.finish()
		s.runLoad(runCtx, free, st.Started)
	}()
	return st, nil
}

// runLoad books target random seats, one per booking, one every loadPace.
// A seat taken meanwhile by somebody else is skipped; when the seats it
// knew are used up it looks again, and it stops when none is free.
func (s *Server) runLoad(ctx context.Context, pool []string, target int) {
	tick := time.NewTicker(loadPace)
	defer tick.Stop()
	booked, misses := 0, 0
	for booked < target {
		if len(pool) == 0 {
			var err error
			if pool, err = s.freeSeats(ctx); err != nil || len(pool) == 0 {
				if err != nil && ctx.Err() == nil {
					s.log.Warn("load: could not read the free seats; stopping", "booked", booked, "of", target, "err", err)
				}
				break
			}
		}
		i := rand.IntN(len(pool))
		seat := pool[i]
		pool[i] = pool[len(pool)-1]
		pool = pool[:len(pool)-1]
		_, err := s.cfg.Booking.Create(ctx, loadUsers[rand.IntN(len(loadUsers))], []string{seat})
		switch {
		case err == nil:
			booked++
			s.load.progress(booked)
		case errors.Is(err, saga.ErrConflict):
			// Somebody took it since: try the next seat at once, but
			// not forever when others book as fast as we do.
			if misses++; misses > 2*target+10 {
				s.log.Warn("load: too many seats taken under it; stopping", "booked", booked, "of", target)
				return
			}
			continue
		case ctx.Err() != nil:
			return
		default:
			s.log.Warn("load: booking failed; stopping", "booked", booked, "of", target, "err", err)
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
	s.log.Info("load finished", "booked", booked, "of", target)
}

// freeSeats lists the ids of the seats that are free now.
func (s *Server) freeSeats(ctx context.Context) ([]string, error) {
	seats, err := s.cfg.Booking.Seats(ctx)
	if err != nil {
		return nil, err
	}
	var free []string
	for _, st := range seats {
		if st.Status == booking.SeatFree {
			free = append(free, st.ID)
		}
	}
	return free, nil
}

// loadFromAPI is POST /api/load {"n":50}.
func (s *Server) loadFromAPI(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err == nil {
		var req LoadRequest
		if err = decodeStrict(body, &req); err == nil {
			var st LoadStarted
			if st, err = s.startLoad(r.Context(), req.N); err == nil {
				writeJSON(w, http.StatusAccepted, st)
				return
			}
		}
	}
	var eb errBody
	if errors.As(err, &eb) {
		writeError(w, eb.status, eb.msg)
		return
	}
	s.fail(w, r, err)
}

// loadFromForm is the dashboard's "Book N random" button.
func (s *Server) loadFromForm(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.formFail(w, r, err)
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("n")))
	if err != nil {
		s.formFail(w, r, errLoadN)
		return
	}
	st, err := s.startLoad(r.Context(), n)
	if err != nil {
		s.formFail(w, r, err)
		return
	}
	s.answer(w, r, http.StatusAccepted, views.FormResult{OK: true, Message: loadSentence(st)})
}

// loadSentence says what a load will do.
func loadSentence(st LoadStarted) string {
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

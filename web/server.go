// Package web is sagaboard's HTTP side: the JSON API of the contract, the
// dashboard pages and the WebSocket that keeps them live. Every route is
// registered in routes(), in one place. Errors become statuses here and only
// here; users see a sentence, never a stack.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
)

// MaxBodyBytes bounds request bodies, as the contract says.
const MaxBodyBytes = 64 << 10

// Broker is what the web side needs to know about the broker.
type Broker interface {
	Healthy() error
	Status() (connected bool, lastErr error, outages int, since time.Time)
	Inspect(ctx context.Context, queues []string) ([]saga.QueueStat, error)
}

// Config is everything the server serves from. A participant that does not
// run in this process is nil, and the routes that need it answer 503 with a
// sentence saying so.
type Config struct {
	Booking      *booking.Service
	Payment      *payment.Service
	Notification *notification.Service
	Observer     *observer.Service
	Switches     *saga.Switches
	Broker       Broker
	// Invariants is the invariant checker; nil where it does not run.
	Invariants *invariants.Checker
	// PublishSwitches sends a switch change to every other process.
	PublishSwitches func(ctx context.Context, all map[string]saga.Switch) error
	// Checks are run by /healthz: one per database in this process.
	Checks []func(context.Context) error
	// Token, when set, is required on every state-changing request. It
	// should be at least MinTokenLength long; the command refuses shorter.
	Token string
	// Log defaults to slog.Default().
	Log *slog.Logger

	// Addr is the listen address (-addr). Its host is a name the server
	// answers to, unless it is unspecified (0.0.0.0, ::). Default "": only
	// loopback names.
	Addr string
	// AllowedHosts are more Host names the server answers to
	// (-allowed-hosts), e.g. the name a reverse proxy forwards. Default
	// none. Any other Host is refused on every route; see Hosts.
	AllowedHosts []string
	// WSPerClient bounds the live dashboards one client address may hold
	// open (-ws-per-client). Default 200: a benchmark's 100 viewers from
	// one machine fit, and one client cannot take all ws.Options.MaxClients.
	WSPerClient int
	// DataDir, when set, is the folder /healthz checks it can write to
	// (-data), so a full or read-only disk shows as 503 there rather than
	// as a 500 on the next booking. Default "": not checked.
	DataDir string
	// BrokerIdentity is how the parts log in to RabbitMQ: BrokerPerPart
	// or BrokerShared. /healthz says it, and the page warns while it is
	// shared. Default "" means BrokerShared, the unsafe one, so a caller
	// that does not know never hides the warning.
	BrokerIdentity string
}

// The values of Config.BrokerIdentity, and of /healthz's broker_identity.
const (
	// BrokerPerPart: each part has its own broker user, set up with
	// `sagaboard setup-broker`, so the broker vouches for who sent what.
	BrokerPerPart = "per-part"
	// BrokerShared: every part logs in as one user (guest by default), so
	// any client of the vhost can send messages that look like a part's.
	BrokerShared = "shared"
)

// writeTimeout bounds how long one answer may take to write, so a client
// that stops reading cannot hold a connection and its goroutine for
// ever. The live routes get their own: see ServeHTTP.
const writeTimeout = 30 * time.Second

// Server serves the API and the pages.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	live  *Live
	csrf  *http.CrossOriginProtection
	hosts Hosts
	root  http.Handler // mux behind the Host check
	gate  *tokenGate
	probe dataProbe
	wait  waiters
	load  loader // the one "Book N random" load that may run; see load.go
}

// New returns a server. Call Live() to feed it changes.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.WSPerClient <= 0 {
		cfg.WSPerClient = 200
	}
	if cfg.BrokerIdentity == "" {
		cfg.BrokerIdentity = BrokerShared
	}
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(),
		hosts: NewHosts(cfg.Addr, cfg.AllowedHosts), gate: newTokenGate(cfg.Token, cfg.Log), probe: dataProbe{dir: cfg.DataDir}}
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && unspecified(host) && s.hosts.LoopbackOnly() {
		// Listening everywhere suggests the dashboard is meant to be
		// reached by some other name, which would be refused; say how.
		s.log.Info("the dashboard answers only to loopback names (localhost, 127.0.0.1, ::1); to open it by another name, list that name in -allowed-hosts (SAGABOARD_ALLOWED_HOSTS)", "addr", cfg.Addr)
	}
	s.live = newLive(s)
	s.routes()
	s.root = s.hosts.Guard(s.mux)
	return s
}

// Live returns the hub feed: participants call it when something changed.
func (s *Server) Live() *Live { return s.live }

// BookingCommitted is called after a booking's state was committed: it wakes
// requests waiting on the booking and updates the dashboard. It never blocks.
func (s *Server) BookingCommitted(id string) {
	s.wait.wake(id)
	s.live.BookingChanged(id)
}

// Close stops a running load and disconnects every dashboard client.
func (s *Server) Close() { s.load.stop(); s.live.close() }

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /api/bookings", s.guard(s.createBooking))
	m.HandleFunc("GET /api/bookings", s.listBookings)
	m.HandleFunc("GET /api/bookings/{id}", s.getBooking)
	m.HandleFunc("GET /api/seats", s.listSeats)
	m.HandleFunc("GET /api/payments", s.listPayments)
	m.HandleFunc("GET /api/stats", s.stats)
	m.HandleFunc("GET /api/notifications", s.listNotifications)
	m.HandleFunc("GET /api/failures", s.getFailures)
	m.HandleFunc("PUT /api/failures", s.guard(s.putFailures))
	m.HandleFunc("GET /api/dead-letters", s.listDeadLetters)
	m.HandleFunc("POST /api/dead-letters/{id}/replay", s.guard(s.replayDeadLetter))
	m.HandleFunc("GET /api/queues", s.queues)
	m.HandleFunc("GET /api/invariants", s.invariants)
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /metrics", s.metrics)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.pageRoutes(m)
}

// ServeHTTP serves every route, with the headers every answer carries.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	// A deadline per request, not http.Server.WriteTimeout, because the
	// live routes need their own: the WebSocket writes for as long as the
	// page is open (the hub bounds each write itself), and ?wait= on a
	// booking first waits up to MaxWait (getBooking extends it). Errors are
	// ignored: a writer that cannot take deadlines (a test recorder) has
	// no connection to hold.
	rc := http.NewResponseController(w)
	if r.URL.Path == "/ws" {
		_ = rc.SetWriteDeadline(time.Time{}) // a deadline left by an earlier request on this connection
	} else {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	}
	s.root.ServeHTTP(w, r)
}

// guard protects a state-changing route: against cross-site requests always,
// and with the token when one is configured.
func (s *Server) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// net/http's own check: Sec-Fetch-Site, else Origin against Host.
		// Requests with neither come from scripts such as curl, which no
		// browser page can forge.
		if err := s.csrf.Check(r); err != nil {
			writeError(w, http.StatusForbidden, "cross-site request refused: the Origin does not match this server")
			return
		}
		switch v, retry := s.gate.check(r); v {
		case tokenLimited:
			refuseLimited(w, retry)
			return
		case tokenMissing, tokenWrong:
			writeError(w, http.StatusUnauthorized, "this server needs its token: send Authorization: Bearer <token>")
			return
		}
		next(w, r)
	}
}

// IsLoopback reports whether a listen address only accepts local clients.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// fail maps an error to a status: the domain's sentinel errors to 4xx,
// everything else to a 500 with a sentence, logged with its detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, saga.ErrInvalid):
		writeError(w, http.StatusBadRequest, userMessage(err, saga.ErrInvalid))
	case errors.Is(err, saga.ErrConflict):
		writeError(w, http.StatusConflict, userMessage(err, saga.ErrConflict))
	case errors.Is(err, saga.ErrNotFound):
		writeError(w, http.StatusNotFound, userMessage(err, saga.ErrNotFound))
	case errors.Is(err, context.Canceled):
		// the client went away; nobody is left to answer
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "the server could not do that just now; see its log")
	}
}

// userMessage strips the sentinel's own words ("invalid input: ") from err.
func userMessage(err, sentinel error) string {
	msg := err.Error()
	if i := strings.Index(msg, sentinel.Error()+": "); i >= 0 {
		msg = msg[i+len(sentinel.Error())+2:]
	}
	return msg
}

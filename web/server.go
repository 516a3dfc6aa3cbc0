// Package web is sagaboard's HTTP side, wired in one place: New takes the
// parts this process runs and returns the Server that cmd/sagaboard serves.
// What changes together lives together, in sub-packages:
//
//   - web/api: the JSON API of the contract, and /metrics;
//   - web/ui: the pages, their forms, and the live feed (Live) that keeps
//     them current over the WebSocket (web/ws);
//   - web/viewmodel: the narrow interfaces web reads the parts through, and
//     the one place that turns what they hold into the API's and the
//     views' values, for api and ui both;
//   - web/httperr: the coded error that carries an HTTP meaning and a
//     user's sentence, mapped to a status in one place;
//   - web/guard: who may reach the server (Host, cross-site, token);
//   - web/load: the "book N random seats" load, which api and ui share.
//
// This package keeps what spans them all: Config, the headers every answer
// carries, /healthz and the profiler.
package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/scenario"
	"github.com/sagaboard/sagaboard/web/api"
	"github.com/sagaboard/sagaboard/web/guard"
	"github.com/sagaboard/sagaboard/web/load"
	"github.com/sagaboard/sagaboard/web/ui"
	"github.com/sagaboard/sagaboard/web/viewmodel"
)

// MaxBodyBytes bounds request bodies, as the contract says.
const MaxBodyBytes = api.MaxBodyBytes

// Broker is what the web side needs to know about the broker.
type Broker interface {
	// Healthy is nil while the broker connection is usable.
	Healthy() error
	api.Broker
}

// Config is everything the server serves from. Each part is read through
// the narrow interface web needs of it (see web/viewmodel); a part that
// does not run in this process is nil, and is then absent: the routes that
// need it answer 503 with a sentence saying so, and the pages say it does
// not run here.
type Config struct {
	// Booking: bookings, seats, and starting a booking.
	Booking viewmodel.BookingPart
	// Payment: the ledger.
	Payment viewmodel.Ledger
	// Notification: what users were told.
	Notification viewmodel.Notices
	// Observer: events, dead letters, and replaying one.
	Observer viewmodel.ObserverPart
	// Switches are the failure switches. Default: a fresh set.
	Switches *saga.Switches
	Broker   Broker
	// Invariants is the invariant checker; nil where it does not run.
	Invariants viewmodel.Invariants
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
	// TraceURL is a link template for a booking's trace, with {trace_id}
	// (-trace-url), e.g. http://127.0.0.1:16686/trace/{trace_id}; the
	// booking's trace_url fills it. Default "": no link.
	TraceURL string
	// Metrics is what /metrics serves; main makes it before the parts so
	// their pipelines can time steps (api.Metrics.Steps). Default: a fresh
	// one, without step timings.
	Metrics *api.Metrics
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
	root  http.Handler // mux behind the Host check
	api   *api.Handler
	pages *ui.Handler
	live  *ui.Live
	load  *load.Loader
	probe dataProbe
	// scenarios play lessons through this server's own API, in process.
	scenarios *scenario.Library
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
	hosts := guard.NewHosts(cfg.Addr, cfg.AllowedHosts)
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && guard.Unspecified(host) && hosts.LoopbackOnly() {
		// Listening everywhere suggests the dashboard is meant to be
		// reached by some other name, which would be refused; say how.
		cfg.Log.Info("the dashboard answers only to loopback names (localhost, 127.0.0.1, ::1); to open it by another name, list that name in -allowed-hosts (SAGABOARD_ALLOWED_HOSTS)", "addr", cfg.Addr)
	}
	model := viewmodel.New(viewmodel.NewSources(viewmodel.Sources{
		Booking: cfg.Booking, Payment: cfg.Payment, Notification: cfg.Notification, Observer: cfg.Observer,
		Invariants: cfg.Invariants, Switches: cfg.Switches, PublishSwitches: cfg.PublishSwitches, TraceURL: cfg.TraceURL,
	}))
	src := model.Sources()
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux(), probe: dataProbe{dir: cfg.DataDir}}
	s.load = load.New(src.Booking, model, cfg.Log)
	var br ui.Broker
	if cfg.Broker != nil {
		br = cfg.Broker
	}
	s.live = ui.NewLive(ui.LiveConfig{Model: model, Broker: br, SharedIdentity: cfg.BrokerIdentity == BrokerShared,
		WSPerClient: cfg.WSPerClient, Log: cfg.Log})
	g := guard.New(cfg.Token, cfg.Log)
	s.scenarios = scenario.NewLibrary(scenario.Builtin(),
		&scenario.Client{Base: "http://127.0.0.1", Token: cfg.Token, HTTP: &http.Client{Transport: scenario.HandlerTransport(s)}},
		func() (map[string]saga.Switch, int) {
			return src.Switches.All(), int(src.Switches.Slow().Milliseconds())
		})
	s.api = api.New(api.Config{Model: model, Broker: cfg.Broker, Load: s.load, Replayed: s.live.DeadLettersChanged,
		Log: cfg.Log, WriteTimeout: writeTimeout, Metrics: cfg.Metrics, Hub: s.live.HubStats, Scenarios: s.scenarios})
	s.pages = ui.New(ui.Config{Model: model, Live: s.live, Guard: g, Load: s.load, Log: cfg.Log, Scenarios: s.scenarios})
	s.routes(g)
	s.root = hosts.Guard(s.scenarios.Recorder().Wrap(s.mux))
	return s
}

// Live returns the hub feed: participants call it when something changed.
func (s *Server) Live() *ui.Live { return s.live }

// BookingCommitted is called after a booking's state was committed: it wakes
// requests waiting on the booking and updates the dashboard. It never blocks.
func (s *Server) BookingCommitted(id string) {
	s.api.BookingCommitted(id)
	s.live.BookingChanged(id)
}

// Close stops a running load and disconnects every dashboard client.
// A scenario still running is stopped first, and puts its switches back.
func (s *Server) Close() { s.scenarios.Close(); s.load.Stop(); s.live.Close() }

// routes registers every route: the API's, the pages', and the ones that
// belong to the whole server.
func (s *Server) routes(g *guard.Guard) {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /asyncapi.yaml", asyncAPI)
	s.api.Routes(s.mux, g.Protect)
	s.pages.Routes(s.mux, g.Protect)
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

// IsLoopback reports whether a listen address only accepts local clients.
func IsLoopback(addr string) bool { return guard.IsLoopback(addr) }

// MinTokenLength is the shortest token the server takes; see guard.
const MinTokenLength = guard.MinTokenLength

// TokenCookie is the cookie the page keeps the token in after asking once.
const TokenCookie = guard.TokenCookie

// Hosts is the set of Host names a server answers to; see guard.Hosts.
type Hosts = guard.Hosts

// NewHosts returns the Host names a server at addr answers to; see
// guard.NewHosts.
func NewHosts(addr string, extra []string) Hosts { return guard.NewHosts(addr, extra) }

// Live feeds the dashboards; see ui.Live.
type Live = ui.Live

// BookingView is a booking as GET /api/bookings/{id} shows it.
type BookingView = viewmodel.BookingView

// QueueView is one queue as GET /api/queues shows it.
type QueueView = viewmodel.QueueView

// BookingExport is GET /bookings/{id}.json.
type BookingExport = ui.BookingExport

// LoadStarted is the answer to POST /api/load.
type LoadStarted = load.Started

// ParseBookingRequest decodes a POST /api/bookings body.
func ParseBookingRequest(b []byte) (api.BookingRequest, error) { return api.ParseBookingRequest(b) }

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/compensation"
	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/opentelemetry"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/rabbit"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/web"
	"github.com/sagaboard/sagaboard/web/api"
)

// Config is the command's configuration, from flags and the environment.
type Config struct {
	Addr     string        // -addr, default 127.0.0.1:8080
	AMQP     string        // -amqp, default amqp://guest:guest@localhost:5672/
	AMQPSet  bool          // -amqp or AMQP_URL was given, not defaulted
	Data     string        // -data, default ./data
	Store    string        // -store, default sqlite (files under Data); or a PostgreSQL URL
	Venue    saga.Venue    // -rows, -cols, default 10x10
	Only     []string      // -only, default every part
	Token    string        // -token, default none
	Deadline time.Duration // -deadline, default 2m
	Quorum   bool          // -quorum, default false
	// Tap is how the observer's tap is made and read (-tap): rabbit's
	// TapClassic or TapStream. Default classic. TapSet says -tap or
	// SAGABOARD_TAP was given, not defaulted.
	Tap    string
	TapSet bool
	// TapRetention is how many bytes a stream tap keeps (-tap-retention),
	// default 1 GB.
	TapRetention int64
	Pprof        string // -pprof, default off
	// AllowedHosts are Host names answered besides loopback names and the
	// -addr host (-allowed-hosts), default none.
	AllowedHosts []string
	WSPerClient  int // -ws-per-client, default 200
	// OTLP is where spans are exported (-otlp, OTEL_EXPORTER_OTLP_ENDPOINT),
	// an OTLP/HTTP base URL. Default "": none are.
	OTLP string
	// TraceURL is a link template for a booking's trace, with {trace_id}
	// (-trace-url). Default "": no link.
	TraceURL string
	// Scenario is a scenario file to play against the server at Addr
	// (-scenario), instead of serving. Default "": serve.
	Scenario string
}

// Main is the program, shaped so tests can run the real thing in-process or
// as a binary: ParseFlags, Run, Close.
type Main struct {
	Config Config
	Log    *slog.Logger
	Stderr io.Writer

	brokers  map[string]*rabbit.Broker // each part's; one shared by all on an unprovisioned vhost
	control  *rabbit.Broker            // the one this process's control messages go through
	senders  saga.Senders              // nil on an unprovisioned vhost
	tap      string                    // the tap's kind: -tap, or setup-broker's on a provisioned vhost
	tracing  *opentelemetry.Tracing
	dbs      []*store.DB
	server   *web.Server
	http     *http.Server
	pprof    *http.Server
	listener net.Listener
	stop     context.CancelFunc // stops the participants
	parts    sync.WaitGroup
}

// NewMain returns a Main with the defaults.
func NewMain() *Main {
	return &Main{Stderr: os.Stderr}
}

func (m *Main) runs(part string) bool { return slices.Contains(m.Config.Only, part) }

// serves reports whether this process listens for HTTP: the dashboard does,
// and so does Booking, which takes its requests over HTTP.
func (m *Main) serves() bool { return m.runs(saga.PartWeb) || m.runs(saga.PartBooking) }

// URL is the address the dashboard is served at, once Run has returned.
func (m *Main) URL() string {
	if m.listener == nil {
		return ""
	}
	// Listening on every address, the URL to open is loopback's: the Host
	// check answers loopback names, and 0.0.0.0 is no address to visit.
	addr := m.listener.Addr().(*net.TCPAddr)
	if addr.IP.IsUnspecified() {
		addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: addr.Port}
	}
	return "http://" + addr.String() + "/"
}

// Run opens everything and starts the parts in the background. It returns
// once the process is serving; Close stops it.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Log == nil {
		m.Log = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	c := m.Config
	if err := os.MkdirAll(c.Data, 0o755); err != nil {
		return fmt.Errorf("create data folder %s: %w", c.Data, err)
	}
	if c.Pprof != "" {
		if err := m.servePprof(c.Pprof); err != nil {
			return err
		}
	}
	if m.tracing, err = opentelemetry.New(ctx, opentelemetry.Config{Endpoint: c.OTLP, Log: m.Log}); err != nil {
		return err
	}
	if err := store.Reach(ctx, m.storeConfig()); err != nil {
		return err
	}
	if err := m.openBrokers(ctx); err != nil {
		return err
	}
	switches := saga.NewSwitches()
	if err := loadSwitches(switches, c.Data); err != nil {
		return err
	}
	open := func(name string) (*store.DB, error) {
		db, err := store.Open(ctx, m.storeConfig(), name)
		if err != nil {
			return nil, err
		}
		m.dbs = append(m.dbs, db)
		return db, nil
	}

	// The metrics come first: each part's pipeline times its steps there.
	metrics := api.NewMetrics()
	var runners []func(context.Context) error
	var seatsSvc *seats.Service // for the invariant checker, when it runs here
	// The services as they are, for wiring; web takes them through its
	// narrow interfaces, and only those that run here (no typed nils).
	var (
		bookingSvc      *booking.Service
		paymentSvc      *payment.Service
		notificationSvc *notification.Service
		observerSvc     *observer.Service
	)
	cfg := web.Config{Switches: switches, Broker: brokerSet(m.brokers, m.control), Token: c.Token, Log: m.Log,
		Addr: c.Addr, AllowedHosts: c.AllowedHosts, WSPerClient: c.WSPerClient, DataDir: c.Data, BrokerIdentity: m.identity(), TraceURL: c.TraceURL, Metrics: metrics,
		PublishSwitches: func(ctx context.Context, all map[string]saga.Switch) error {
			// While the broker is away, say so at once rather than hold the
			// request: the change is kept, and sent when the broker is back.
			if err := m.control.Healthy(); err != nil {
				return err
			}
			// The change carries the trace of the request that made it.
			msg := switchesMessage(switches.State())
			msg.Trace = saga.TraceFromContext(ctx)
			return m.control.Broadcast(ctx, msg)
		}}
	for _, part := range c.Only {
		if part == saga.PartWeb {
			continue
		}
		db, err := open(part)
		if err != nil {
			return err
		}
		cfg.Checks = append(cfg.Checks, db.Ping)
		// Every message a part consumes goes through the pipeline's steps
		// (see saga.Middleware) before the part's own handler: among them,
		// it is believed only from a part that may send it, where the
		// broker can tell who sent it. Tracing comes first, so a step's
		// span covers the pipeline, and wraps publishing, so every message
		// sent carries its trace (see services/opentelemetry).
		bus := saga.WithMiddleware(m.tracing.Bus(m.brokers[part]), m.tracing.Consume(), metrics.Steps(), saga.Recover(m.Log), saga.Bound(), saga.CheckSenders(m.senders))
		switch part {
		case saga.PartBooking:
			svc, err := booking.New(ctx, db, bus, c.Venue, c.Deadline, m.Log)
			if err != nil {
				return err
			}
			svc.SlowWith(switches)
			bookingSvc, cfg.Booking, runners = svc, svc, append(runners, svc.Run)
		case saga.PartPayment:
			svc, err := payment.New(ctx, db, bus, switches, m.Log)
			if err != nil {
				return err
			}
			paymentSvc, cfg.Payment, runners = svc, svc, append(runners, svc.Run)
		case saga.PartSeats:
			svc, err := seats.New(ctx, db, bus, switches, m.Log)
			if err != nil {
				return err
			}
			seatsSvc, runners = svc, append(runners, svc.Run)
		case saga.PartCompensation:
			svc, err := compensation.New(ctx, db, bus, m.Log)
			if err != nil {
				return err
			}
			svc.SlowWith(switches)
			runners = append(runners, svc.Run)
		case saga.PartNotification:
			svc, err := notification.New(ctx, db, bus, switches, m.Log)
			if err != nil {
				return err
			}
			notificationSvc, cfg.Notification, runners = svc, svc, append(runners, svc.Run)
		case saga.PartObserver:
			svc, err := observer.New(ctx, db, bus, m.Log)
			if err != nil {
				return err
			}
			if m.tap == rabbit.TapStream {
				svc.ReadTapAsStream()
			}
			observerSvc, cfg.Observer, runners = svc, svc, append(runners, svc.Run)
		}
	}

	// The invariant checker runs wherever Booking does, over the stores
	// this process holds; it says which rules it cannot check here.
	var checker *invariants.Checker
	if bookingSvc != nil {
		chk, err := m.newChecker(ctx, bookingSvc, paymentSvc, seatsSvc, observerSvc, notificationSvc)
		if err != nil {
			return err
		}
		checker, cfg.Invariants, runners = chk, chk, append(runners, func(ctx context.Context) error { chk.Run(ctx); return nil })
	}

	m.server = web.New(cfg)
	live := m.server.Live()
	if bookingSvc != nil {
		bookingSvc.OnChange(m.server.BookingCommitted)
	}
	if checker != nil {
		checker.OnChange(live.InvariantsChanged)
	}
	if observerSvc != nil {
		observerSvc.OnEvents(live.EventsObserved)
		observerSvc.OnDeadLetter(func(observer.DeadLetter) { live.DeadLettersChanged() })
	}

	partsCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop = stop
	runners = append(runners, func(ctx context.Context) error { return m.runControl(ctx, switches, live) })
	runners = append(runners, func(ctx context.Context) error { m.sayPresence(ctx); return nil })
	changed := switches.Changed()
	runners = append(runners, func(ctx context.Context) error { return keepSwitches(ctx, switches, changed, c.Data, m.Log) })
	if observerSvc != nil {
		// The observer keeps the switches' history, as every process hears
		// it, so a past wait is explained by the switches as they were.
		runners = append(runners, func(ctx context.Context) error { observerSvc.WatchSwitches(ctx, switches); return nil })
		// It keeps the queues' depths as it sees them too, so the
		// dashboard set back in time shows them as they were.
		runners = append(runners, func(ctx context.Context) error { observerSvc.SampleQueues(ctx, cfg.Broker.Inspect, 0); return nil })
	}
	// The port is taken before any part consumes: a process that cannot
	// serve stops before it has handled a message.
	if m.serves() {
		ln, err := net.Listen("tcp", c.Addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s: something already listens there (another sagaboard?); choose another address, e.g. -addr 127.0.0.1:0 for any free port (make run ARGS=\"-addr 127.0.0.1:0\")", c.Addr)
		}
		if err != nil {
			return fmt.Errorf("listen on %s: %w", c.Addr, err)
		}
		m.listener = ln
	}
	for _, run := range runners {
		m.parts.Add(1)
		go func() {
			defer m.parts.Done()
			if err := run(partsCtx); err != nil {
				m.Log.Error("part stopped", "err", err)
			}
		}()
	}

	if m.listener != nil {
		ln := m.listener
		m.http = &http.Server{Handler: m.tracing.Handler(m.server), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		go func() {
			if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Log.Error("http server stopped", "err", err)
			}
		}()
		m.Log.Info("sagaboard ready; open "+m.URL(), "url", m.URL(), "parts", strings.Join(c.Only, ","), "data", c.Data, "store", m.storeConfig().Shown())
	} else {
		m.Log.Info("sagaboard ready", "parts", strings.Join(c.Only, ","), "data", c.Data, "store", m.storeConfig().Shown())
	}
	return nil
}

// newChecker builds the invariant checker over the stores given; any but
// Booking's may be nil. A part that runs in another process is read from
// its store when the stores are in PostgreSQL, so the checker is complete
// however the parts are spread.
func (m *Main) newChecker(ctx context.Context, b *booking.Service, p *payment.Service, st *seats.Service, o *observer.Service, n *notification.Service) (*invariants.Checker, error) {
	ba, err := b.Audit(ctx)
	if err != nil {
		return nil, err
	}
	c := invariants.Config{Bookings: ba, Log: m.Log}
	if err := m.readOthers(ctx, &c, p == nil, st == nil, o == nil, n == nil); err != nil {
		return nil, err
	}
	// Only non-nil stores become interfaces: a nil pointer in an interface
	// would not read as "not here".
	if p != nil {
		c.Ledger = p.Audit()
	}
	if st != nil {
		if c.Tickets, err = st.Audit(ctx); err != nil {
			return nil, err
		}
	}
	if o != nil {
		c.Events = o.Audit()
	}
	if n != nil {
		c.Notices = n.Audit()
	}
	return invariants.New(c)
}

// Close shuts down in the order that loses nothing: stop taking HTTP
// requests, stop consuming and finish the batches in hand, flush the
// outboxes, then close the broker and the databases.
func (m *Main) Close() error {
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = m.http.Shutdown(ctx)
		cancel()
	} else if m.listener != nil { // bound, but Run stopped before serving
		_ = m.listener.Close()
	}
	if m.server != nil {
		m.server.Close()
	}
	if m.pprof != nil {
		_ = m.pprof.Close()
	}
	if m.stop != nil {
		m.stop()
		m.parts.Wait()
	}
	for _, b := range uniqueBrokers(m.brokers) {
		b.Close()
	}
	var errs []error
	if m.tracing != nil {
		// After the relays' last flush, so their send spans go too.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.tracing.Shutdown(ctx); err != nil {
			m.Log.Warn("traces not all exported", "err", err)
		}
		cancel()
	}
	for _, db := range m.dbs {
		if err := db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.Log != nil {
		m.Log.Info("sagaboard stopped")
	}
	return errors.Join(errs...)
}

// servePprof serves the profiler on its own listener and mux, never on the
// dashboard's, so it cannot be reached from the dashboard's address. See
// web.Profiler for what it leaves out and which Host names it answers.
func (m *Main) servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	m.pprof = &http.Server{Handler: web.Profiler(addr), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.pprof.Serve(ln) }()
	m.Log.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}

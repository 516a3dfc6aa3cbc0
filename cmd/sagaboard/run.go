package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/compensation"
	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/rabbit"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/sqlite"
	"github.com/sagaboard/sagaboard/web"
)

// Config is the command's configuration, from flags and the environment.
type Config struct {
	Addr     string        // -addr, default 127.0.0.1:8080
	AMQP     string        // -amqp, default amqp://guest:guest@localhost:5672/
	Data     string        // -data, default ./data
	Venue    saga.Venue    // -rows, -cols, default 10x10
	Only     []string      // -only, default every part
	Token    string        // -token, default none
	Deadline time.Duration // -deadline, default 2m
	Quorum   bool          // -quorum, default false
	Pprof    string        // -pprof, default off
}

// Main is the program, shaped so tests can run the real thing in-process or
// as a binary: ParseFlags, Run, Close.
type Main struct {
	Config Config
	Log    *slog.Logger
	Stderr io.Writer

	broker   *rabbit.Broker
	dbs      []*sqlite.DB
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

// ParseFlags reads args, with each flag's default taken from its
// environment variable, so a flag given wins over the environment.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("sagaboard", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	c := &m.Config
	fs.StringVar(&c.Addr, "addr", env("SAGABOARD_ADDR", "127.0.0.1:8080"), "HTTP listen address; :0 picks a free port [SAGABOARD_ADDR]")
	fs.StringVar(&c.AMQP, "amqp", env("AMQP_URL", "amqp://guest:guest@localhost:5672/"), "the RabbitMQ broker [AMQP_URL]")
	fs.StringVar(&c.Data, "data", env("SAGABOARD_DATA", "./data"), "folder for the SQLite files; created if missing [SAGABOARD_DATA]")
	rows := fs.String("rows", env("SAGABOARD_ROWS", "10"), "venue rows, used only when the venue is first created [SAGABOARD_ROWS]")
	cols := fs.String("cols", env("SAGABOARD_COLS", "10"), "venue columns, used only when the venue is first created [SAGABOARD_COLS]")
	only := fs.String("only", env("SAGABOARD_ONLY", ""), "comma list of parts to run: "+strings.Join(saga.Parts, ",")+" (default all) [SAGABOARD_ONLY]")
	fs.StringVar(&c.Token, "token", env("SAGABOARD_TOKEN", ""), "token required on state-changing requests; required when -addr is not loopback [SAGABOARD_TOKEN]")
	deadline := fs.String("deadline", env("SAGABOARD_DEADLINE", "2m"), "compensate a booking still pending this long; 0 turns it off [SAGABOARD_DEADLINE]")
	quorumDefault, err := strconv.ParseBool(env("SAGABOARD_QUORUM", "false"))
	if err != nil {
		return fmt.Errorf("SAGABOARD_QUORUM must be true or false, not %q", getenv("SAGABOARD_QUORUM"))
	}
	fs.BoolVar(&c.Quorum, "quorum", quorumDefault, "declare work queues as quorum queues, for a RabbitMQ cluster [SAGABOARD_QUORUM]")
	fs.StringVar(&c.Pprof, "pprof", env("SAGABOARD_PPROF", ""), "serve Go's profiler on this loopback address, e.g. 127.0.0.1:6060 (default off) [SAGABOARD_PPROF]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; every option is a flag, see -help", fs.Arg(0))
	}
	if c.Venue.Rows, err = strconv.Atoi(*rows); err != nil {
		return fmt.Errorf("-rows must be a whole number, not %q", *rows)
	}
	if c.Venue.Cols, err = strconv.Atoi(*cols); err != nil {
		return fmt.Errorf("-cols must be a whole number, not %q", *cols)
	}
	if err := c.Venue.Validate(); err != nil {
		return err
	}
	if c.Deadline, err = time.ParseDuration(*deadline); err != nil || c.Deadline < 0 {
		return fmt.Errorf("-deadline must be a duration such as 2m or 0, not %q", *deadline)
	}
	if err := rabbit.ValidateURL(c.AMQP); err != nil {
		return fmt.Errorf("-amqp: %w", err)
	}
	if c.Pprof != "" && !web.IsLoopback(c.Pprof) {
		return fmt.Errorf("-pprof %s: the profiler exposes the process's memory, so it only listens on loopback, e.g. 127.0.0.1:6060", c.Pprof)
	}
	c.Only = saga.Parts
	if strings.TrimSpace(*only) != "" && *only != "all" {
		c.Only = nil
		for _, p := range strings.Split(*only, ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(saga.Parts, p) {
				return fmt.Errorf("-only: unknown part %q; choose from %s", p, strings.Join(saga.Parts, ","))
			}
			if !slices.Contains(c.Only, p) {
				c.Only = append(c.Only, p)
			}
		}
	}
	if !web.IsLoopback(c.Addr) && c.Token == "" && m.serves() {
		return fmt.Errorf("-addr %s accepts connections from other machines, so state-changing requests need a token: pass -token (or SAGABOARD_TOKEN), or listen on 127.0.0.1", c.Addr)
	}
	return nil
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
	return "http://" + m.listener.Addr().String() + "/"
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
	m.broker = rabbit.Open(rabbit.Config{URL: c.AMQP, Quorum: c.Quorum, Log: m.Log, Name: "sagaboard " + strings.Join(c.Only, ",")})
	switches := saga.NewSwitches()
	open := func(name string) (*sqlite.DB, error) {
		db, err := sqlite.Open(ctx, filepath.Join(c.Data, name+".db"))
		if err != nil {
			return nil, err
		}
		m.dbs = append(m.dbs, db)
		return db, nil
	}

	var runners []func(context.Context) error
	var seatsSvc *seats.Service // for the invariant checker, when it runs here
	cfg := web.Config{Switches: switches, Broker: m.broker, Token: c.Token, Log: m.Log,
		PublishSwitches: func(ctx context.Context, all map[string]saga.Switch) error {
			return m.broker.Broadcast(ctx, switchesMessage(all))
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
		switch part {
		case saga.PartBooking:
			svc, err := booking.New(ctx, db, m.broker, c.Venue, c.Deadline, m.Log)
			if err != nil {
				return err
			}
			cfg.Booking, runners = svc, append(runners, svc.Run)
		case saga.PartPayment:
			svc, err := payment.New(ctx, db, m.broker, switches, m.Log)
			if err != nil {
				return err
			}
			cfg.Payment, runners = svc, append(runners, svc.Run)
		case saga.PartSeats:
			svc, err := seats.New(ctx, db, m.broker, switches, m.Log)
			if err != nil {
				return err
			}
			seatsSvc, runners = svc, append(runners, svc.Run)
		case saga.PartCompensation:
			svc, err := compensation.New(ctx, db, m.broker, m.Log)
			if err != nil {
				return err
			}
			runners = append(runners, svc.Run)
		case saga.PartNotification:
			svc, err := notification.New(ctx, db, m.broker, switches, m.Log)
			if err != nil {
				return err
			}
			cfg.Notification, runners = svc, append(runners, svc.Run)
		case saga.PartObserver:
			svc, err := observer.New(ctx, db, m.broker, m.Log)
			if err != nil {
				return err
			}
			cfg.Observer, runners = svc, append(runners, svc.Run)
		}
	}

	// The invariant checker runs wherever Booking does, over the stores
	// this process holds; it says which rules it cannot check here.
	if cfg.Booking != nil {
		chk, err := newChecker(ctx, cfg.Booking, cfg.Payment, seatsSvc, cfg.Observer, m.Log)
		if err != nil {
			return err
		}
		cfg.Invariants, runners = chk, append(runners, chk.Run)
	}

	m.server = web.New(cfg)
	live := m.server.Live()
	if cfg.Booking != nil {
		cfg.Booking.OnChange(m.server.BookingCommitted)
	}
	if cfg.Invariants != nil {
		cfg.Invariants.OnChange(live.InvariantsChanged)
	}
	if cfg.Observer != nil {
		cfg.Observer.OnEvents(live.EventsObserved)
		cfg.Observer.OnDeadLetter(func(observer.DeadLetter) { live.DeadLettersChanged() })
	}

	partsCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop = stop
	// Switch changes made in any process reach every other one through the
	// broker; a process that starts late asks for the current ones.
	runners = append(runners, func(ctx context.Context) error {
		// A process without the dashboard asks for the current switches each
		// time its subscription is in place: at start and after an outage.
		var hello func()
		if !m.runs(saga.PartWeb) {
			hello = func() {
				msg := saga.Message{ID: saga.NewID(), Type: "Hello", RoutingKey: "control.hello", Source: strings.Join(c.Only, ","), Timestamp: time.Now(), Body: []byte("{}")}
				if err := m.broker.Broadcast(ctx, msg); err != nil {
					m.Log.Warn("could not ask for the current switches", "err", err)
				}
			}
		}
		return m.broker.Subscribe(ctx, "control.#", hello, func(msg saga.Message) {
			m.onControl(ctx, switches, live, msg)
		})
	})
	for _, run := range runners {
		m.parts.Add(1)
		go func() {
			defer m.parts.Done()
			if err := run(partsCtx); err != nil {
				m.Log.Error("part stopped", "err", err)
			}
		}()
	}

	if m.serves() {
		ln, err := net.Listen("tcp", c.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", c.Addr, err)
		}
		m.listener = ln
		m.http = &http.Server{Handler: m.server, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		go func() {
			if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Log.Error("http server stopped", "err", err)
			}
		}()
		m.Log.Info("sagaboard ready; open "+m.URL(), "url", m.URL(), "parts", strings.Join(c.Only, ","), "data", c.Data)
	} else {
		m.Log.Info("sagaboard ready", "parts", strings.Join(c.Only, ","), "data", c.Data)
	}
	return nil
}

// newChecker builds the invariant checker over the stores given; any but
// Booking's may be nil.
func newChecker(ctx context.Context, b *booking.Service, p *payment.Service, st *seats.Service, o *observer.Service, log *slog.Logger) (*invariants.Checker, error) {
	ba, err := b.Audit(ctx)
	if err != nil {
		return nil, err
	}
	c := invariants.Config{Bookings: ba, Log: log}
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
	return invariants.New(c)
}

func switchesMessage(all map[string]saga.Switch) saga.Message {
	body, _ := json.Marshal(all)
	return saga.Message{ID: saga.NewID(), Type: "SwitchesChanged", RoutingKey: "control.switches", Source: "web", Timestamp: time.Now(), Body: body}
}

// onControl applies a switch change from another process, or answers a
// late starter's hello with the current switches.
func (m *Main) onControl(ctx context.Context, switches *saga.Switches, live *web.Live, msg saga.Message) {
	switch msg.Type {
	case "SwitchesChanged":
		// A full set of switches is also a valid patch, so the same checks
		// that guard PUT /api/failures guard what arrives from the broker.
		checked, err := saga.ParsePatch(msg.Body)
		if err != nil {
			m.Log.Warn("ignoring an invalid switch change", "err", err)
			return
		}
		before := switches.All()
		switches.Apply(checked)
		if !sameSwitches(before, switches.All()) {
			live.SwitchesChanged()
		}
	case "Hello":
		if m.runs(saga.PartWeb) {
			_ = m.broker.Broadcast(ctx, switchesMessage(switches.All()))
		}
	}
}

func sameSwitches(a, b map[string]saga.Switch) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Close shuts down in the order that loses nothing: stop taking HTTP
// requests, stop consuming and finish the batches in hand, flush the
// outboxes, then close the broker and the databases.
func (m *Main) Close() error {
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = m.http.Shutdown(ctx)
		cancel()
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
	if m.broker != nil {
		_ = m.broker.Close()
	}
	var errs []error
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
// dashboard's, so it cannot be reached from the dashboard's address.
func (m *Main) servePprof(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	m.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.pprof.Serve(ln) }()
	m.Log.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}

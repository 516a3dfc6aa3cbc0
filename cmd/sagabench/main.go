// Command sagabench measures sagaboard against the raw ceiling of the local
// RabbitMQ for the same message shape, in one run, and prints a report.
//
//	go run ./cmd/sagabench            # or: make bench ARGS="-runs 3"
//	go run ./cmd/sagabench -h         # every flag
//
// It builds the real program from this module, starts it as a child process
// in a fresh vhost with a temporary data folder, drives it through the HTTP
// API while 100 WebSocket viewers watch the dashboard, and reads the
// server's CPU time and peak memory from /proc. Speed lives here, never in
// timed tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// venueSide is the venue the benchmark asks for: 100×100 seats. Each
// booking takes one seat, so one server can take 10,000 bookings; every run
// starts a fresh server.
const venueSide = 100

// dashGrace is how long viewers may take, after the last booking was
// confirmed, to show the newest bookings confirmed.
const dashGrace = 5 * time.Second

// trafficSample is how many bookings' timelines are read to count the
// messages a booking sends.
const trafficSample = 50

// Config is the benchmark's configuration. Each field documents its flag
// and default.
type Config struct {
	AMQP           string   // -amqp, default amqp://guest:guest@localhost:5672/; a vhost name is appended
	Node           string   // -node, default none: rabbitmqctl's default node
	Target         string   // -target, default none: start the real program
	PID            int      // -pid, default 0: with -target, the server's pid for CPU and memory
	Token          string   // -token, default none: the server's token, with -target
	N              int      // -n, default 5000 bookings in the throughput mode
	Clients        int      // -clients, default 32 concurrent POSTers
	LatencyN       int      // -latency-n, default 300 bookings one at a time
	Warmup         int      // -warmup, default 50 uncounted bookings before the latency mode
	Viewers        int      // -viewers, default 100 WebSocket clients
	StaleEvery     int      // -stale-every, default 10: sample every k-th booking for staleness
	CeilingN       int      // -ceiling-n, default -n: sagas in the ceiling's throughput mode
	Ceiling        bool     // -ceiling, default true: measure the raw ceiling
	Sagaboard      bool     // -sagaboard, default true: measure sagaboard
	Runs           int      // -runs, default 1
	Scale          bool     // -scale, default false
	ScaleTo        int64    // -scale-to, default 50000 stored bookings
	ScaleN         int      // -scale-n, default 2000 bookings per scale point
	Profile        string   // -profile, default none
	ProfileSeconds int      // -profile-seconds, default 5
	PprofURL       string   // -pprof-url, default the server's URL
	ServerArgs     []string // -server-args, default none
	// Setups, from -compare, are the shapes of sagaboard measured side by
	// side in each run, each on a fresh server; default none: one server
	// with -server-args only.
	Setups []Setup
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("sagabench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `sagabench measures sagaboard against the raw RabbitMQ ceiling for the same saga shape.

Usage: go run ./cmd/sagabench [flags]     (or: make bench ARGS="flags")

It needs the local broker and rabbitmqctl (to make and delete one vhost per
measurement). Figures are medians over -runs; quote medians, these machines
are noisy.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.AMQP, "amqp", "amqp://guest:guest@localhost:5672/", "the broker, without a vhost: each measurement gets a fresh one")
	fs.StringVar(&c.Node, "node", "", "-amqp's Erlang node name, for rabbitmqctl -n, when it is not the machine's default node: e.g. a node of `make cluster` (sagaboard-1@localhost), so that no other program's traffic counts in the broker's CPU")
	fs.StringVar(&c.Target, "target", "", "benchmark the sagaboard at this URL instead of starting one; it must be otherwise idle (completion is \"no booking pending\") and have free seats; CPU and memory need -pid")
	fs.IntVar(&c.PID, "pid", 0, "with -target: the server's process id, to read its CPU time and peak memory from /proc")
	fs.StringVar(&c.Token, "token", "", "with -target: the server's -token, sent as Authorization: Bearer")
	fs.IntVar(&c.N, "n", 5000, "bookings in the throughput mode, one seat each")
	fs.IntVar(&c.Clients, "clients", 32, "concurrent HTTP clients posting bookings in the throughput mode")
	fs.IntVar(&c.LatencyN, "latency-n", 300, "bookings in the latency mode, one at a time from POST to confirmed")
	fs.IntVar(&c.Warmup, "warmup", 50, "uncounted bookings (and sagas, for the ceiling) before each latency mode")
	fs.IntVar(&c.Viewers, "viewers", 100, "WebSocket clients watching the dashboard during the throughput mode; 0 for none")
	fs.IntVar(&c.StaleEvery, "stale-every", 10, "long-poll every k-th booking of the throughput mode for its confirmation time, the start of its staleness")
	fs.IntVar(&c.CeilingN, "ceiling-n", 0, "sagas in the ceiling's throughput mode (default: -n)")
	fs.BoolVar(&c.Ceiling, "ceiling", true, "measure the raw ceiling; -ceiling=false skips it and the ratio")
	fs.BoolVar(&c.Sagaboard, "sagaboard", true, "measure sagaboard; -sagaboard=false measures only the raw ceiling")
	fs.IntVar(&c.Runs, "runs", 1, "repeat every measurement this many times and report medians")
	fs.BoolVar(&c.Scale, "scale", false, "also measure cost per booking at ~1,000 and at -scale-to stored bookings (takes minutes)")
	fs.Int64Var(&c.ScaleTo, "scale-to", 50_000, "with -scale: stored bookings at the second point, reached with compensated bookings")
	fs.IntVar(&c.ScaleN, "scale-n", 2000, "with -scale: throughput bookings at each point")
	fs.StringVar(&c.Profile, "profile", "", "write a CPU profile of the server, taken during the throughput mode, to this file (the started sagaboard gets -pprof; with -target, see -pprof-url)")
	fs.IntVar(&c.ProfileSeconds, "profile-seconds", 5, "with -profile: seconds to profile")
	fs.StringVar(&c.PprofURL, "pprof-url", "", "with -profile: where the server serves /debug/pprof, e.g. http://127.0.0.1:6060 (default: a free port given to the started sagaboard's -pprof, or -target's URL)")
	compare := fs.String("compare", "", "measure sagaboard once per setup in each run, side by side, the first the base of the ratios (the order alternates between runs): setups separated by commas, each key=value joined by +, from tap=classic|stream, nodes=1|3 (3: a cluster sagabench starts, with -quorum), store=sqlite|postgres (postgres: a database on 127.0.0.1:5432 made and dropped), payments=N (N payment processes beside a front); e.g. -compare nodes=1,nodes=3 or -compare store=sqlite,store=postgres,store=postgres+payments=2")
	serverArgs := fs.String("server-args", "", "extra flags for the started sagaboard, space-separated, e.g. \"-deadline 0\"")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q; every option is a flag, see -h", fs.Arg(0))
	}
	c.ServerArgs = strings.Fields(*serverArgs)
	var err error
	if c.Setups, err = parseSetups(*compare); err != nil {
		return c, err
	}
	if len(c.Setups) > 0 && c.Target != "" {
		return c, errors.New("-compare starts a server per setup; it cannot be used with -target")
	}
	c.Target = strings.TrimSuffix(c.Target, "/")
	if !strings.HasSuffix(c.AMQP, "/") {
		c.AMQP += "/"
	}
	if c.CeilingN <= 0 {
		c.CeilingN = c.N
	}
	switch {
	case c.N < 1 || c.Clients < 1 || c.Runs < 1 || c.LatencyN < 1:
		return c, errors.New("-n, -clients, -runs and -latency-n must be at least 1")
	case c.Warmup < 0 || c.Viewers < 0 || c.StaleEvery < 0:
		return c, errors.New("-warmup, -viewers and -stale-every cannot be negative")
	case c.Warmup+c.LatencyN+c.N > venueSide*venueSide:
		return c, fmt.Errorf("-warmup + -latency-n + -n is %d, more than the venue's %d seats", c.Warmup+c.LatencyN+c.N, venueSide*venueSide)
	case c.Scale && 2*(c.ScaleN+scaleLatency+scaleWarmup) > venueSide*venueSide-1000:
		return c, fmt.Errorf("-scale-n %d leaves too few seats to fill the store with", c.ScaleN)
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sagabench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; vhosts and data folders were removed")
		}
		fmt.Fprintln(os.Stderr, "sagabench:", err)
		os.Exit(1)
	}
}

// Run is everything one run measured.
type Run struct {
	Ceiling    CeilingResult
	Throughput Throughput
	Latency    Latency
	PeakRSS    int64 // bytes; 0 when unknown
	Dashboard  Dashboard
	// Setups is sagaboard measured once per -compare setup, in -compare
	// order; the fields above are then the first setup's.
	Setups []SetupRun
}

// SetupRun is sagaboard measured in one setup.
type SetupRun struct {
	Setup Setup
	Run   Run
}

// Ratio is bookings/s over ceiling sagas/s in the same run.
func (r Run) Ratio() float64 {
	if r.Ceiling.Rate == 0 {
		return 0
	}
	return r.Throughput.Rate / r.Ceiling.Rate
}

func run(ctx context.Context, cfg Config, out io.Writer) error {
	machine := describeMachine(ctx)
	progress("machine: %s", machine)
	var bin string
	if cfg.Target == "" && (cfg.Sagaboard || cfg.Scale) {
		dir, err := os.MkdirTemp("", "sagabench-bin-")
		if err != nil {
			return fmt.Errorf("build: temp folder: %w", err)
		}
		defer os.RemoveAll(dir)
		progress("building ./cmd/sagaboard")
		if bin, err = buildServer(ctx, dir); err != nil {
			return err
		}
	}
	w := world{bin: bin, cluster: &cluster{}}
	defer w.cluster.close()
	var runs []Run
	for i := 1; i <= cfg.Runs; i++ {
		r, err := runOnce(ctx, cfg, w, i)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		runs = append(runs, r)
	}
	var scale []ScalePoint
	if cfg.Scale {
		var err error
		if scale, err = runScale(ctx, cfg, w); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	report(out, cfg, machine, runs, scale)
	return nil
}

// server is what one run drives: child processes, or -target.
type server struct {
	base   string
	pids   []int  // none when unknown
	pprof  string // where /debug/pprof is, when known
	vhost  string // its vhost when sagabench made it, to read the broker's counters
	broker broker
	close  func()
}

// world is what the runs share: the program under test, and the cluster
// that nodes=3 setups run on, started once.
type world struct {
	bin     string
	cluster *cluster
}

func target(ctx context.Context, cfg Config, w world, st Setup) (server, error) {
	local := localBroker(cfg)
	if cfg.Target != "" {
		var pids []int
		if cfg.PID > 0 {
			pids = []int{cfg.PID}
		}
		return server{base: cfg.Target, pids: pids, pprof: cfg.PprofURL, broker: local, close: func() {}}, nil
	}
	b := local
	if st.Nodes > 1 {
		var err error
		if b, err = w.cluster.broker(ctx); err != nil {
			return server{}, err
		}
	}
	srv, err := startServer(ctx, w.bin, cfg, st, b)
	if err != nil {
		return server{}, err
	}
	pp := cfg.PprofURL
	if pp == "" {
		pp = srv.Pprof
	}
	return server{base: srv.URL, pids: srv.PIDs, pprof: pp, vhost: srv.Vhost, broker: b, close: srv.Close}, nil
}

// defaultSetup is one process on the broker of -amqp with the server's own
// defaults: what sagabench measures without -compare.
var defaultSetup = Setup{Name: "default", Nodes: 1, Store: "sqlite"}

func runOnce(ctx context.Context, cfg Config, w world, n int) (Run, error) {
	var r Run
	if cfg.Ceiling {
		progress("run %d: raw ceiling: %d sagas, then %d one at a time", n, cfg.CeilingN, cfg.LatencyN)
		var err error
		if r.Ceiling, err = measureCeiling(ctx, cfg, cfg.CeilingN, cfg.Warmup, cfg.LatencyN); err != nil {
			return r, err
		}
		progress("run %d: raw ceiling: %.0f sagas/s, %s", n, r.Ceiling.Rate, r.Ceiling.Latency)
	}
	if !cfg.Sagaboard {
		return r, nil
	}
	if len(cfg.Setups) == 0 {
		return measureSagaboard(ctx, cfg, w, defaultSetup, n, r)
	}
	// Side by side: each setup in turn, the order alternating between runs
	// so none always goes first on a warming machine.
	order := slices.Clone(cfg.Setups)
	if n%2 == 0 {
		slices.Reverse(order)
	}
	byName := map[string]Run{}
	for _, st := range order {
		progress("run %d: setup %s", n, st.Name)
		sub, err := measureSagaboard(ctx, cfg, w, st, n, Run{})
		if err != nil {
			return r, fmt.Errorf("setup %s: %w", st.Name, err)
		}
		byName[st.Name] = sub
	}
	for _, st := range cfg.Setups {
		r.Setups = append(r.Setups, SetupRun{Setup: st, Run: byName[st.Name]})
	}
	first := r.Setups[0].Run
	r.Throughput, r.Latency, r.PeakRSS, r.Dashboard = first.Throughput, first.Latency, first.PeakRSS, first.Dashboard
	return r, nil
}

// measureSagaboard measures one sagaboard, into r.
func measureSagaboard(ctx context.Context, cfg Config, w world, st Setup, n int, r Run) (Run, error) {
	srv, err := target(ctx, cfg, w, st)
	if err != nil {
		return r, err
	}
	defer srv.close()
	base := srv.base
	a := newAPI(base, cfg.Token, cfg.Clients)
	seats, err := a.freeSeats(ctx)
	if err != nil {
		return r, err
	}
	need := cfg.Warmup + cfg.LatencyN + cfg.N
	if len(seats) < need {
		return r, fmt.Errorf("sagaboard at %s has %d free seats; this run needs %d (lower -n or -latency-n)", base, len(seats), need)
	}

	progress("run %d: sagaboard latency: %d bookings one at a time after %d warm-up", n, cfg.LatencyN, cfg.Warmup)
	lat, err := runLatency(ctx, a, seats[:cfg.Warmup+cfg.LatencyN], cfg.Warmup)
	if err != nil {
		return r, err
	}
	r.Latency = summarize(lat)
	seats = seats[cfg.Warmup+cfg.LatencyN:]

	var dash *dashboard
	if cfg.Viewers > 0 {
		if dash, err = openDashboard(ctx, base, cfg.Token, cfg.Viewers); err != nil {
			r.Dashboard.Err = err
			if !errors.Is(err, errNoDashboard) {
				progress("run %d: %v", n, err)
			}
		}
	}
	progress("run %d: sagaboard throughput: %d bookings from %d clients, %d viewers", n, cfg.N, cfg.Clients, len(dashClients(dash)))
	opts := throughputOpts{Seats: seats[:cfg.N], Clients: cfg.Clients, PIDs: srv.pids, Vhost: srv.vhost, Broker: srv.broker, Postgres: st.Store == "postgres"}
	if dash != nil {
		opts.SampleEvery = cfg.StaleEvery
	}
	if cfg.Profile != "" {
		opts.Profile = profiler(cfg, srv.pprof, base, n)
	}
	r.Throughput, err = runThroughput(ctx, a, opts)
	if dash != nil {
		r.Dashboard = dash.result(r.Throughput, dashGrace)
		if r.Dashboard.FirstFrameAfter, err = firstFrame(ctx, base, cfg.Token); err != nil {
			progress("run %d: %v", n, err)
		}
		err = nil
	}
	if err != nil {
		return r, err
	}
	if err := finishWire(ctx, &r.Throughput, opts); err != nil {
		return r, err
	}
	if r.Throughput.Traffic, err = countTraffic(ctx, a, r.Throughput.IDs, trafficSample); err != nil {
		return r, err
	}
	if r.Throughput.Rejected > 0 {
		progress("run %d: %d POSTs failed; the first: %v", n, r.Throughput.Rejected, r.Throughput.FirstErr)
	}
	for _, pid := range srv.pids {
		rss, err := peakRSS(pid)
		if err != nil {
			return r, err
		}
		r.PeakRSS += rss
	}
	progress("run %d: sagaboard: %.0f bookings/s, %s", n, r.Throughput.Rate, r.Latency)
	return r, nil
}

func dashClients(d *dashboard) []*wsClient {
	if d == nil {
		return nil
	}
	return d.clients
}

// profiler fetches a CPU profile from the server's /debug/pprof, if it
// serves one, while the throughput mode runs.
func profiler(cfg Config, src, base string, run int) func(context.Context) string {
	return func(ctx context.Context) string {
		if src == "" {
			src = base
		}
		u := strings.TrimSuffix(src, "/") + fmt.Sprintf("/debug/pprof/profile?seconds=%d", cfg.ProfileSeconds)
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return "not taken: " + err.Error()
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return "not taken: " + err.Error()
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Sprintf("not taken: %s answered %d; the server serves no /debug/pprof (see the hint below)", u, res.StatusCode)
		}
		file := cfg.Profile
		if cfg.Runs > 1 {
			file = fmt.Sprintf("%s.%d", file, run)
		}
		f, err := os.Create(file)
		if err != nil {
			return "not taken: " + err.Error()
		}
		defer f.Close()
		if _, err := io.Copy(f, res.Body); err != nil {
			return "not taken: " + err.Error()
		}
		return "written to " + file + "; read it with: go tool pprof -top " + file
	}
}

// progress tells the person waiting what is happening; the report itself
// goes to stdout.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sagabench: "+format+"\n", args...)
}

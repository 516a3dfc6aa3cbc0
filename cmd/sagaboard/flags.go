package main

import (
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/rabbit"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
	"github.com/sagaboard/sagaboard/web"
)

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
	fs.StringVar(&c.Store, "store", env("SAGABOARD_STORE", "sqlite"), "where the parts keep their state: sqlite (files under -data) or a PostgreSQL URL, postgres://user:password@host:5432/database, a schema per part [SAGABOARD_STORE]")
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
	fs.StringVar(&c.Tap, "tap", env("SAGABOARD_TAP", ""), "the observer's tap: classic (a queue one observer reads) or stream (every observer reads all of it, from where it stopped, and it is replicated on a cluster); every process on a vhost must agree (default classic, stream with -quorum) [SAGABOARD_TAP]")
	retention := fs.String("tap-retention", env("SAGABOARD_TAP_RETENTION", "1GB"), "how much a stream tap keeps, e.g. 500MB or 2GB; its oldest messages go first [SAGABOARD_TAP_RETENTION]")
	fs.StringVar(&c.Pprof, "pprof", env("SAGABOARD_PPROF", ""), "serve Go's profiler on this loopback address, e.g. 127.0.0.1:6060 (default off) [SAGABOARD_PPROF]")
	allowed := fs.String("allowed-hosts", env("SAGABOARD_ALLOWED_HOSTS", ""), "comma list of Host names answered besides loopback names and the -addr host, e.g. the name a reverse proxy forwards; any other Host is refused [SAGABOARD_ALLOWED_HOSTS]")
	perClient := fs.String("ws-per-client", env("SAGABOARD_WS_PER_CLIENT", "200"), "live dashboards one client address may hold open, of 1000 in all [SAGABOARD_WS_PER_CLIENT]")
	fs.StringVar(&c.OTLP, "otlp", env("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "export traces to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318 (default off) [OTEL_EXPORTER_OTLP_ENDPOINT]")
	fs.StringVar(&c.TraceURL, "trace-url", env("SAGABOARD_TRACE_URL", ""), "link to a booking's trace, {trace_id} replaced, e.g. http://127.0.0.1:16686/trace/{trace_id} (default no link) [SAGABOARD_TRACE_URL]")
	fs.StringVar(&c.Scenario, "scenario", "", "play this scenario file against the server at -addr, sending -token if given, and exit non-zero when an expectation fails (default: serve)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.AMQPSet, c.TapSet = getenv("AMQP_URL") != "", getenv("SAGABOARD_TAP") != ""
	fs.Visit(func(f *flag.Flag) {
		c.AMQPSet = c.AMQPSet || f.Name == "amqp"
		c.TapSet = c.TapSet || f.Name == "tap"
	})
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
	c.Tap = defaultTap(c.Tap, c.Quorum)
	if err := checkTap(c.Tap); err != nil {
		return err
	}
	if c.TapRetention, err = parseBytes(*retention); err != nil {
		return fmt.Errorf("-tap-retention: %w", err)
	}
	if c.Deadline, err = time.ParseDuration(*deadline); err != nil || c.Deadline < 0 {
		return fmt.Errorf("-deadline must be a duration such as 2m or 0, not %q", *deadline)
	}
	if c.WSPerClient, err = strconv.Atoi(*perClient); err != nil || c.WSPerClient < 1 {
		return fmt.Errorf("-ws-per-client must be a whole number from 1, not %q", *perClient)
	}
	c.AllowedHosts = nil
	for _, h := range strings.Split(*allowed, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.AllowedHosts = append(c.AllowedHosts, h)
		}
	}
	if c.Token != "" && len(c.Token) < web.MinTokenLength {
		return fmt.Errorf("-token is %d characters; it needs at least %d, or it can be guessed. Make one with: openssl rand -hex 16", len(c.Token), web.MinTokenLength)
	}
	if err := rabbit.ValidateURL(c.AMQP); err != nil {
		return fmt.Errorf("-amqp: %w", err)
	}
	if err := (store.Config{URL: c.Store}).Validate(); err != nil {
		return err
	}
	if c.TraceURL != "" && !strings.Contains(c.TraceURL, "{trace_id}") {
		return fmt.Errorf("-trace-url %s has no {trace_id} to replace; e.g. http://127.0.0.1:16686/trace/{trace_id}", c.TraceURL)
	}
	if c.OTLP != "" {
		if u, err := url.Parse(c.OTLP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("-otlp (OTEL_EXPORTER_OTLP_ENDPOINT) must be an http:// or https:// URL such as http://127.0.0.1:4318, not %q", c.OTLP)
		}
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
	if !web.IsLoopback(c.Addr) && c.Token == "" && m.serves() && c.Scenario == "" {
		return fmt.Errorf("-addr %s accepts connections from other machines, so state-changing requests need a token: pass -token (or SAGABOARD_TOKEN) of at least %d characters, e.g. from openssl rand -hex 16, or listen on 127.0.0.1", c.Addr, web.MinTokenLength)
	}
	return nil
}

// defaultTap is tap, or the default when none was given: on one node a
// classic tap costs the broker less per booking (README, Performance); on
// a cluster, which -quorum is for, a classic tap lives on one node and goes
// with it, and a stream is replicated.
func defaultTap(tap string, quorum bool) string {
	if tap != "" {
		return tap
	}
	if quorum {
		return rabbit.TapStream
	}
	return rabbit.TapClassic
}

func checkTap(tap string) error {
	if tap != rabbit.TapClassic && tap != rabbit.TapStream {
		return fmt.Errorf("-tap must be %s or %s, not %q", rabbit.TapClassic, rabbit.TapStream, tap)
	}
	return nil
}

// byteUnits are the units parseBytes takes, in lower case: decimal as
// RabbitMQ's own settings are, binary where asked.
var byteUnits = map[string]int64{"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}

// parseBytes reads a size such as 500MB, 1.5GB, 2GiB or 1048576.
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	unit, ok := byteUnits[strings.TrimSpace(t[i:])]
	n, err := strconv.ParseFloat(t[:i], 64)
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("give a size such as 500MB, 2GB or 1GiB, not %q", s)
	}
	if b := n * float64(unit); b >= 1<<20 && b < 1<<50 {
		return int64(b), nil
	}
	return 0, fmt.Errorf("%q is not between 1 MiB and 1 PiB", s)
}

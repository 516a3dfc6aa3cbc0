package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// addVhost makes a fresh vhost for one measurement, so nothing left in a
// queue by an earlier run (or by another program) is counted, and gives
// guest every permission in it.
func addVhost(ctx context.Context, b broker, prefix string) (string, error) {
	r := make([]byte, 4)
	_, _ = rand.Read(r)
	name := prefix + "-" + hex.EncodeToString(r)
	for _, args := range [][]string{{"add_vhost", name}, {"set_permissions", "-p", name, "guest", ".*", ".*", ".*"}} {
		if out, err := b.ctl(ctx, args...); err != nil {
			deleteVhost(b, name)
			return "", fmt.Errorf("vhost: rabbitmqctl %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return name, nil
}

// deleteVhost removes a vhost and everything in it. It runs on the way out,
// also after Ctrl-C, so it does not take the (cancelled) run context.
func deleteVhost(b broker, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := b.ctl(ctx, "delete_vhost", name); err != nil {
		fmt.Fprintf(os.Stderr, "sagabench: could not delete vhost %s (delete it with `rabbitmqctl delete_vhost %s`): %v\n%s", name, name, err, out)
	}
}

// redact hides the password of an AMQP URL in messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// buildServer builds the real sagaboard from the module this command
// belongs to, so the benchmark measures the code in the working tree.
func buildServer(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("build: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("build: run sagabench from inside the sagaboard module (go run ./cmd/sagabench), or pass -target")
	}
	bin := filepath.Join(dir, "sagaboard")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sagaboard")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: go build ./cmd/sagaboard: %w\n%s", err, out)
	}
	return bin, nil
}

// Server is sagaboard as one setup runs it: one process, or a front and
// payment processes beside it, in its own vhost, data folder and, for
// PostgreSQL, database.
type Server struct {
	URL    string
	PIDs   []int // every process, the front first
	Vhost  string
	Broker broker
	Pprof  string // where the front's /debug/pprof is served, with -profile

	procs  []*proc
	data   string
	dropDB func()
}

// proc is one sagaboard process.
type proc struct {
	cmd  *exec.Cmd
	log  *tailBuffer
	done chan struct{}
}

var readyURL = regexp.MustCompile(`url=(http://\S+)`)

// frontParts are the parts the front runs when payment runs apart.
const frontParts = "web,booking,observer,seats,compensation,notification"

// startServer starts sagaboard as setup st says, on :0 with a fresh vhost on
// b and a fresh data folder, and waits for every process's ready line.
func startServer(ctx context.Context, bin string, cfg Config, st Setup, b broker) (*Server, error) {
	vhost, err := addVhost(ctx, b, "sagabench")
	if err != nil {
		return nil, err
	}
	s := &Server{Vhost: vhost, Broker: b}
	if s.data, err = os.MkdirTemp("", "sagabench-data-"); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("server: data folder: %w", err)
	}
	// Every process shares the data folder: each part opens its own file,
	// and payment processes on one machine share payment.db, as the
	// README's split recipe does.
	common := []string{"-amqp", b.amqp(vhost), "-data", s.data,
		"-rows", fmt.Sprint(venueSide), "-cols", fmt.Sprint(venueSide)}
	if st.Tap != "" {
		common = append(common, "-tap", st.Tap)
	}
	if st.Nodes > 1 {
		common = append(common, "-quorum")
	}
	if st.Store == "postgres" {
		dsn, drop, err := makeDatabase(ctx)
		if err != nil {
			s.cleanup()
			return nil, err
		}
		s.dropDB = drop
		common = append(common, "-store", dsn)
	}
	front := append([]string{"-addr", "127.0.0.1:0"}, common...)
	if st.Payments > 0 {
		front = append(front, "-only", frontParts)
	}
	if cfg.Profile != "" && cfg.PprofURL == "" {
		// The profiler listens on its own address; sagaboard does not log
		// it, so pick a free port here.
		addr, err := freeLoopback()
		if err != nil {
			s.cleanup()
			return nil, err
		}
		front = append(front, "-pprof", addr)
		s.Pprof = "http://" + addr
	}
	front = append(front, cfg.ServerArgs...)
	if s.URL, err = s.start(ctx, bin, front); err != nil {
		s.Close()
		return nil, err
	}
	for range st.Payments {
		args := append(append([]string{"-only", "payment"}, common...), cfg.ServerArgs...)
		if _, err := s.start(ctx, bin, args); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// start starts one process and waits for its ready line; it returns the
// URL the line names, if any.
func (s *Server) start(ctx context.Context, bin string, args []string) (string, error) {
	p := &proc{log: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = os.Environ()
	// Its own process group keeps a Ctrl-C in the terminal from reaching it
	// directly: sagabench stops it in order, then deletes its vhost. The
	// death signal stops it if sagabench itself dies.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return "", fmt.Errorf("server: stderr pipe: %w", err)
	}
	p.cmd.Stdout = p.log
	if err := p.cmd.Start(); err != nil {
		return "", fmt.Errorf("server: start %s: %w", bin, err)
	}
	s.procs = append(s.procs, p)
	s.PIDs = append(s.PIDs, p.cmd.Process.Pid)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.log.Write([]byte(line + "\n"))
			if !sent && strings.Contains(line, "sagaboard ready") {
				url := ""
				if m := readyURL.FindStringSubmatch(line); m != nil {
					url = strings.TrimSuffix(m[1], "/")
				}
				ready <- url
				sent = true
			}
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case url := <-ready:
		return url, nil
	case <-p.done:
		return "", fmt.Errorf("server: sagaboard %s exited before it was ready:\n%s", strings.Join(args[:2], " "), p.log.String())
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("server: sagaboard was not ready in 60s:\n%s", p.log.String())
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Close stops the processes gracefully (SIGKILL after 20s), payment first,
// and removes the vhost, data folder and database.
func (s *Server) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			fmt.Fprintln(os.Stderr, "sagabench: sagaboard did not stop within 20s of SIGTERM; killing it")
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	s.cleanup()
}

func (s *Server) cleanup() {
	deleteVhost(s.Broker, s.Vhost)
	if s.data != "" {
		_ = os.RemoveAll(s.data)
	}
	if s.dropDB != nil {
		s.dropDB()
	}
}

// freeLoopback returns a loopback address with a port that was free a
// moment ago. Another program may take it in between; then sagaboard says
// so and the run stops with its message.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("server: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tailBuffer keeps the last max bytes written to it: enough of the server's
// log to explain a failure, without growing through a long run.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

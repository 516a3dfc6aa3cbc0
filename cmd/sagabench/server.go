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
func addVhost(ctx context.Context, prefix string) (string, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := prefix + "-" + hex.EncodeToString(b)
	for _, args := range [][]string{{"add_vhost", name}, {"set_permissions", "-p", name, "guest", ".*", ".*", ".*"}} {
		if out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput(); err != nil {
			deleteVhost(name)
			return "", fmt.Errorf("vhost: rabbitmqctl %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return name, nil
}

// deleteVhost removes a vhost and everything in it. It runs on the way out,
// also after Ctrl-C, so it does not take the (cancelled) run context.
func deleteVhost(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "rabbitmqctl", "delete_vhost", name).CombinedOutput(); err != nil {
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

// Server is a sagaboard child process in its own vhost and data folder.
type Server struct {
	URL   string
	PID   int
	Vhost string
	Pprof string // where its /debug/pprof is served, with -profile

	cmd  *exec.Cmd
	data string
	log  *tailBuffer
	done chan struct{}
}

var readyURL = regexp.MustCompile(`url=(http://\S+)`)

// startServer starts bin on :0 with a fresh vhost and data folder and waits
// for its ready line.
func startServer(ctx context.Context, bin string, cfg Config) (*Server, error) {
	vhost, err := addVhost(ctx, "sagabench")
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp("", "sagabench-data-")
	if err != nil {
		deleteVhost(vhost)
		return nil, fmt.Errorf("server: data folder: %w", err)
	}
	args := []string{"-addr", "127.0.0.1:0", "-amqp", cfg.AMQP + vhost, "-data", data,
		"-rows", fmt.Sprint(venueSide), "-cols", fmt.Sprint(venueSide)}
	pprof := ""
	if cfg.Profile != "" && cfg.PprofURL == "" {
		// The profiler listens on its own address; sagaboard does not log
		// it, so pick a free port here.
		addr, err := freeLoopback()
		if err != nil {
			deleteVhost(vhost)
			_ = os.RemoveAll(data)
			return nil, err
		}
		args = append(args, "-pprof", addr)
		pprof = "http://" + addr
	}
	s, err := startProc(ctx, bin, append(args, cfg.ServerArgs...))
	if err != nil {
		deleteVhost(vhost)
		_ = os.RemoveAll(data)
		return nil, err
	}
	s.Vhost, s.data, s.Pprof = vhost, data, pprof
	return s, nil
}

// startProc starts bin with args and waits for its ready line; a process
// that serves no HTTP (-only payment) has no URL. Closing it removes
// nothing else.
func startProc(ctx context.Context, bin string, args []string) (*Server, error) {
	s := &Server{log: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	var err error
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = os.Environ()
	// Its own process group keeps a Ctrl-C in the terminal from reaching it
	// directly: sagabench stops it in order, then deletes its vhost. The
	// death signal stops it if sagabench itself dies.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("server: stderr pipe: %w", err)
	}
	s.cmd.Stdout = s.log
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("server: start %s: %w", bin, err)
	}
	s.PID = s.cmd.Process.Pid
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.log.Write([]byte(line + "\n"))
			if !sent && strings.Contains(line, "sagaboard ready") {
				u := ""
				if m := readyURL.FindStringSubmatch(line); m != nil {
					u = strings.TrimSuffix(m[1], "/")
				}
				ready <- u
				sent = true
			}
		}
		_ = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case s.URL = <-ready:
		return s, nil
	case <-s.done:
		err = fmt.Errorf("server: sagaboard exited before it was ready:\n%s", s.log.String())
	case <-time.After(60 * time.Second):
		err = fmt.Errorf("server: sagaboard was not ready in 60s:\n%s", s.log.String())
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.Close()
	return nil, err
}

// Alive reports an error with the log's tail if the process has exited.
func (s *Server) Alive() error {
	select {
	case <-s.done:
		return fmt.Errorf("server: sagaboard exited:\n%s", s.log.String())
	default:
		return nil
	}
}

// Close stops the process gracefully (SIGKILL after 20s) and removes its
// vhost and data folder.
func (s *Server) Close() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			fmt.Fprintln(os.Stderr, "sagabench: sagaboard did not stop within 20s of SIGTERM; killing it")
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.Vhost != "" {
		deleteVhost(s.Vhost)
	}
	if s.data != "" {
		_ = os.RemoveAll(s.data)
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

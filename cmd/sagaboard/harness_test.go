package main_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// binary is the real sagaboard, built once for the whole test run.
var binary string

func TestMain(m *testing.M) {
	if os.Getenv("SAGABOARD_CHILD") != "" {
		os.Exit(m.Run()) // a test's helper process: it needs no binary
	}
	dir, err := os.MkdirTemp("", "sagaboard-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sagaboard")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build sagaboard: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireBroker skips without a broker, except in CI where a missing broker
// is a failure.
func requireBroker(t testing.TB) {
	t.Helper()
	conn, err := amqp.Dial("amqp://guest:guest@localhost:5672/")
	if err == nil {
		conn.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("RabbitMQ is not reachable on localhost:5672 (%v); CI must have it", err)
	}
	t.Skipf("RabbitMQ is not reachable on localhost:5672 (%v); run `make broker`", err)
}

// MustVhost makes a fresh vhost for one test, so tests never see each
// other's messages, and deletes it afterwards.
func MustVhost(t testing.TB) string {
	t.Helper()
	requireBroker(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "sagaboard-test-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-") + "-" + hex.EncodeToString(b)
	for _, args := range [][]string{{"add_vhost", name}, {"set_permissions", "-p", name, "guest", ".*", ".*", ".*"}} {
		if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "delete_vhost", name).Run() })
	return "amqp://guest:guest@localhost:5672/" + name
}

// Proc is a running sagaboard process.
type Proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string
	Args []string
	log  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var readyURL = regexp.MustCompile(`url=(http://\S+)`)

// Start runs the real binary with args and waits for its ready line.
func Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, Args: args}
	p.start()
	t.Cleanup(func() { p.Kill() })
	return p
}

func (p *Proc) start() {
	t := p.t
	t.Helper()
	p.cmd = exec.Command(binary, p.Args...)
	// If the test binary dies (a timeout, a panic), take the program with
	// it rather than leave it running against the broker.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.log = &syncBuffer{}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start sagaboard: %v", err)
	}
	p.done = make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.log.Write([]byte(line + "\n"))
			if !sent && strings.Contains(line, "sagaboard ready") {
				m := readyURL.FindStringSubmatch(line)
				u := ""
				if m != nil {
					u = m[1]
				}
				ready <- u
				sent = true
			}
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case u := <-ready:
		p.URL = strings.TrimSuffix(u, "/")
	case <-p.done:
		t.Fatalf("sagaboard exited before it was ready:\n%s", p.log.String())
	case <-time.After(30 * time.Second):
		p.Kill()
		t.Fatalf("sagaboard was not ready in 30s:\n%s", p.log.String())
	}
}

// Log returns what the process printed.
func (p *Proc) Log() string { return p.log.String() }

// Kill sends SIGKILL and waits for the process to go.
func (p *Proc) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits for a graceful exit.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("sagaboard did not stop within 30s of SIGTERM:\n%s", p.Log())
		p.Kill()
	}
}

// Restart starts the process again with the same arguments.
func (p *Proc) Restart() { p.start() }

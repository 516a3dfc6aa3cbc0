package main_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// OwnBroker is a RabbitMQ node a test starts for itself, on ports of its
// own, with its data in the test's temporary folder. A test that stops or
// restarts a broker does it to this one, never to the machine's shared
// broker, whose other clients (a user's `make run`, the tests of other
// packages running at the same time) would lose their connections.
type OwnBroker struct {
	t    testing.TB
	Node string // the Erlang node name, for rabbitmqctl -n
	Port int    // its AMQP port on 127.0.0.1
	env  []string
}

// StartOwnBroker starts a node and waits until it takes connections. It is
// stopped and its files removed when the test ends.
func StartOwnBroker(t testing.TB) *OwnBroker {
	t.Helper()
	requireBroker(t) // the tools come with the machine's broker
	dir, err := os.MkdirTemp("", "sagaboard-node-")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	port, dist := freePort(t), freePort(t)
	o := &OwnBroker{t: t, Node: "sagaboard-test-" + hex.EncodeToString(b) + "@localhost", Port: port}
	conf := filepath.Join(dir, "rabbitmq.conf")
	files := map[string]string{
		conf: fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\n", port),
		// No plugins: the node needs none, and boots faster without.
		filepath.Join(dir, "enabled_plugins"): "[].\n",
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The Debian wrapper runs the node as the rabbitmq user, which must be
	// able to write its folder.
	if u, err := user.Lookup("rabbitmq"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		_ = os.Chown(dir, uid, gid)
		for name := range files {
			_ = os.Chown(name, uid, gid)
		}
	}
	o.env = append(os.Environ(),
		"RABBITMQ_NODENAME="+o.Node,
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(dist),
		"RABBITMQ_CONFIG_FILE="+conf,
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "pid"),
	)
	t.Cleanup(func() {
		_ = o.command("rabbitmqctl", "stop").Run()
		_ = os.RemoveAll(dir)
	})
	if out, err := o.command("rabbitmq-server", "-detached").CombinedOutput(); err != nil {
		t.Fatalf("start a RabbitMQ node of the test's own: %v\n%s", err, out)
	}
	o.awaitStartup()
	return o
}

// command runs a RabbitMQ tool against this node.
func (o *OwnBroker) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = o.env
	return cmd
}

// Env is the environment that points rabbitmqctl, and so `sagaboard
// setup-broker`, at this node.
func (o *OwnBroker) Env() []string { return o.env }

// Ctl runs rabbitmqctl against this node.
func (o *OwnBroker) Ctl(args ...string) {
	o.t.Helper()
	if out, err := o.command("rabbitmqctl", args...).CombinedOutput(); err != nil {
		o.t.Fatalf("rabbitmqctl -n %s %v: %v\n%s", o.Node, args, err, out)
	}
	if args[0] == "start_app" {
		o.awaitStartup()
	}
}

// URL is the node's URL for vhost, as guest.
func (o *OwnBroker) URL(vhost string) string {
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/%s", o.Port, vhost)
}

// awaitStartup waits until the node answers and its app runs: await_startup
// alone fails on a node that is not up yet, rather than wait for it.
func (o *OwnBroker) awaitStartup() {
	o.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for o.command("rabbitmqctl", "-q", "ping").Run() != nil {
		if time.Now().After(deadline) {
			o.t.Fatalf("the test's own RabbitMQ node %s did not come up within 60s", o.Node)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := o.command("rabbitmqctl", "--timeout", "60", "await_startup").CombinedOutput(); err != nil {
		o.t.Fatalf("rabbitmqctl await_startup on %s: %v\n%s", o.Node, err, out)
	}
}

// freePort returns a TCP port on loopback that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

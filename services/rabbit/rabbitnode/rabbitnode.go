// Package rabbitnode starts RabbitMQ nodes of our own on this machine, alone
// or joined into a cluster, and takes them away again. Tests use it to have
// a broker they may kill, and `make cluster` uses it to give a user three
// nodes to try: one implementation, so the two cannot drift apart.
//
// A node here never touches the machine's default broker (rabbit@HOST on
// 5672): it has a name, ports, a data folder, a log folder and a pid file of
// its own, all given to RabbitMQ's scripts through the environment. It runs
// no plugins, so it boots in a few seconds.
//
// Under Debian's wrapper the scripts run as the rabbitmq user, whose home
// holds the machine's Erlang cookie: every node started here shares that
// cookie, which is what lets them join one cluster and lets rabbitmqctl
// talk to each of them.
package rabbitnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// BootTimeout bounds how long a node may take to start or restart.
const BootTimeout = 90 * time.Second

// Node is one RabbitMQ node of our own.
type Node struct {
	// Name is the Erlang node name, for rabbitmqctl -n, e.g.
	// sagaboard-1@localhost.
	Name string `json:"name"`
	// Port is its AMQP port on 127.0.0.1.
	Port int `json:"port"`
	// DistPort is its Erlang distribution port on 127.0.0.1, which the
	// other nodes of its cluster and rabbitmqctl speak to.
	DistPort int `json:"dist_port"`
	// Dir holds its configuration, data, log and pid file.
	Dir string `json:"dir"`
}

// Options say how to start a node.
type Options struct {
	// Name is the node's name before "@localhost". Required.
	Name string
	// Dir is the node's own folder, created if missing. Required.
	Dir string
	// Port is the AMQP port; 0 picks a free one.
	Port int
	// DistPort is the distribution port; 0 picks a free one.
	DistPort int
}

// Start writes the node's configuration into o.Dir, starts it detached and
// waits until it takes connections.
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.Name == "" || o.Dir == "" {
		return nil, errors.New("rabbitnode: a node needs a name and a folder")
	}
	var err error
	if o.Port == 0 {
		if o.Port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if o.DistPort == 0 {
		if o.DistPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("rabbitnode: node folder: %w", err)
	}
	n := &Node{Name: o.Name + "@localhost", Port: o.Port, DistPort: o.DistPort, Dir: dir}
	if err := n.writeFiles(); err != nil {
		return nil, err
	}
	if err := n.Boot(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Node) writeFiles() error {
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return fmt.Errorf("rabbitnode: make %s: %w", n.Dir, err)
	}
	files := map[string]string{
		"rabbitmq.conf": fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\n", n.Port),
		// No plugins: the node needs none, and boots faster without.
		"enabled_plugins": "[].\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(n.Dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("rabbitnode: write %s: %w", name, err)
		}
	}
	// The Debian wrapper runs the node as the rabbitmq user, which must be
	// able to write its folder.
	if u, err := user.Lookup("rabbitmq"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		_ = filepath.Walk(n.Dir, func(p string, _ os.FileInfo, err error) error {
			if err == nil {
				_ = os.Chown(p, uid, gid)
			}
			return nil
		})
	}
	return nil
}

// Env is the environment that points RabbitMQ's scripts at this node:
// rabbitmqctl, rabbitmq-queues, and so `sagaboard setup-broker`, run with
// it act on this node and no other.
func (n *Node) Env() []string {
	return append(os.Environ(),
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_NODE_PORT="+strconv.Itoa(n.Port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(n.DistPort),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(n.Dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.Dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.Dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(n.Dir, "pid"),
		// Distribution on loopback only: nothing here listens elsewhere.
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
	)
}

// Command is a RabbitMQ tool (rabbitmqctl, rabbitmq-queues, …) run against
// this node.
func (n *Node) Command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = n.Env()
	return cmd
}

// Ctl runs rabbitmqctl against this node and returns what it printed.
func (n *Node) Ctl(ctx context.Context, args ...string) (string, error) {
	out, err := n.Command(ctx, "rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitnode: rabbitmqctl -n %s %s: %w: %s", n.Name, strings.Join(args, " "), err, lastLine(out))
	}
	return string(out), nil
}

// URL is the node's AMQP URL for vhost, as guest (who may log in over
// loopback).
func (n *Node) URL(vhost string) string {
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/%s", n.Port, vhost)
}

// Addr is the node's AMQP address as host:port, as a process's broker
// badge names it.
func (n *Node) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port)) }

// Boot starts the node's Erlang VM and waits for its app: at first, and
// again after Kill or Stop. Its data folder is kept, so a node of a
// cluster comes back into its cluster.
func (n *Node) Boot(ctx context.Context) error {
	if out, err := n.Command(ctx, "rabbitmq-server", "-detached").CombinedOutput(); err != nil {
		return fmt.Errorf("rabbitnode: start %s: %w: %s", n.Name, err, lastLine(out))
	}
	return n.Wait(ctx)
}

// Wait waits until the node takes an AMQP connection, as guest on "/". An
// AMQP login rather than rabbitmqctl, which starts an Erlang VM and takes
// seconds on a busy machine; and rather than a bare TCP connect, which a
// node answers before it is ready to serve. The first connection also
// warms the node up: on a loaded machine it can take longer than a client's
// dial timeout, and a client given a list of nodes would pass this one by.
func (n *Node) Wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	for {
		conn, err := amqp.DialConfig(n.URL(""), amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rabbitnode: %s did not take an AMQP connection within %s (%v); its log is in %s", n.Name, BootTimeout, err, filepath.Join(n.Dir, "log"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StopApp stops the RabbitMQ app and leaves the VM up, as an operator
// takes a node out of service: its connections close, its quorum queue
// members go away, and StartApp brings it back.
func (n *Node) StopApp(ctx context.Context) error {
	_, err := n.Ctl(ctx, "stop_app")
	return err
}

// StartApp starts the app StopApp stopped; it returns once the app runs.
func (n *Node) StartApp(ctx context.Context) error {
	_, err := n.Ctl(ctx, "start_app")
	return err
}

// Kill ends the node's VM with SIGKILL, as a crash or a pulled plug
// would, and waits until it is gone. Boot brings it back.
func (n *Node) Kill() error {
	raw, err := os.ReadFile(filepath.Join(n.Dir, "pid"))
	if err != nil {
		return fmt.Errorf("rabbitnode: %s's pid file: %w", n.Name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("rabbitnode: %s's pid file holds %q", n.Name, raw)
	}
	// The pid file of a VM that went some other way may name a new
	// process by now: kill only a beam of ours, the one running this node.
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if !strings.Contains(string(environ), "RABBITMQ_NODENAME="+n.Name+"\x00") {
		return fmt.Errorf("rabbitnode: pid %d is not %s's VM", pid, n.Name)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("rabbitnode: kill %s: %w", n.Name, err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	return fmt.Errorf("rabbitnode: %s (pid %d) still runs 10s after SIGKILL", n.Name, pid)
}

// Stop stops the node's VM gracefully. Its folder stays.
func (n *Node) Stop(ctx context.Context) error {
	_, err := n.Ctl(ctx, "stop")
	return err
}

// Remove stops the node, by SIGKILL if it does not stop, and deletes its
// folder.
func (n *Node) Remove(ctx context.Context) error {
	if err := n.Stop(ctx); err != nil {
		_ = n.Kill()
	}
	if err := os.RemoveAll(n.Dir); err != nil {
		return fmt.Errorf("rabbitnode: remove %s: %w", n.Dir, err)
	}
	return nil
}

// Cluster is nodes joined into one RabbitMQ cluster.
type Cluster struct {
	Dir   string  `json:"dir"`
	Nodes []*Node `json:"nodes"`
}

// stateFile, in a cluster's folder, lets a later process (`make
// cluster-down`) find the nodes that `make cluster` started.
const stateFile = "cluster.json"

// StartCluster starts one node per port (0 picks a free one), named
// prefix-1, prefix-2, …, each in a folder of its own under dir, and joins
// them all to the first. The nodes boot side by side; on any failure the
// nodes started so far are removed.
func StartCluster(ctx context.Context, dir, prefix string, ports []int) (*Cluster, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rabbitnode: cluster folder: %w", err)
	}
	c := &Cluster{Dir: abs, Nodes: make([]*Node, len(ports))}
	// The rabbitmq user must get through to its nodes' folders, in a
	// temporary folder made 0700 too.
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("rabbitnode: make %s: %w", abs, err)
	}
	if err := os.Chmod(abs, 0o755); err != nil {
		return nil, fmt.Errorf("rabbitnode: open %s to the rabbitmq user: %w", abs, err)
	}
	errs := make([]error, len(ports))
	var wg sync.WaitGroup
	for i, port := range ports {
		wg.Go(func() {
			name := fmt.Sprintf("%s-%d", prefix, i+1)
			dist := 0
			if port != 0 {
				// Beside a fixed AMQP port, a fixed distribution port, as
				// RabbitMQ's own default does (AMQP port + 20000).
				dist = port + 20000
			}
			c.Nodes[i], errs[i] = Start(ctx, Options{Name: name, Dir: filepath.Join(abs, name), Port: port, DistPort: dist})
		})
	}
	wg.Wait()
	fail := func(err error) (*Cluster, error) {
		c.Remove(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	if err := c.save(); err != nil {
		return fail(err)
	}
	for _, n := range c.Nodes[1:] {
		for _, args := range [][]string{{"stop_app"}, {"join_cluster", c.Nodes[0].Name}, {"start_app"}} {
			if _, err := n.Ctl(ctx, args...); err != nil {
				return fail(err)
			}
		}
	}
	return c, nil
}

func (c *Cluster) save() error {
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("rabbitnode: cluster state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, stateFile), raw, 0o644); err != nil {
		return fmt.Errorf("rabbitnode: write cluster state: %w", err)
	}
	return nil
}

// LoadCluster reads the cluster StartCluster left in dir. It returns nil,
// nil when there is none.
func LoadCluster(dir string) (*Cluster, error) {
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rabbitnode: read cluster state: %w", err)
	}
	var c Cluster
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("rabbitnode: %s is not a cluster's state: %w", filepath.Join(dir, stateFile), err)
	}
	return &c, nil
}

// URLs is -amqp's comma-separated list of the cluster's nodes for vhost,
// starting from node first (0-based), so processes given different starts
// spread over the nodes.
func (c *Cluster) URLs(vhost string, first int) string {
	urls := make([]string, len(c.Nodes))
	for i := range c.Nodes {
		urls[i] = c.Nodes[(first+i)%len(c.Nodes)].URL(vhost)
	}
	return strings.Join(urls, ",")
}

// Remove stops every node and deletes the cluster's folder. The nodes stop
// side by side: one by one, each would wait for the others' quorum queues.
func (c *Cluster) Remove(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		if n != nil {
			wg.Go(func() { _ = n.Remove(ctx) })
		}
	}
	wg.Wait()
	_ = os.RemoveAll(c.Dir)
}

// freePort returns a TCP port on loopback that nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("rabbitnode: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

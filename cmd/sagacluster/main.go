// Command sagacluster starts a RabbitMQ cluster of three nodes of its own on
// this machine, for trying sagaboard on a cluster, and takes it away again.
// It never touches the machine's default broker. `make cluster` and `make
// cluster-down` run it; the tests start their clusters with the same
// package, services/rabbit/rabbitnode.
//
//	sagacluster up   [-dir ./data/cluster] [-ports 5681,5682,5683] [-vhost sagaboard]
//	sagacluster kill [-dir ./data/cluster] N   SIGKILL node N (1-based), as a crash would
//	sagacluster boot [-dir ./data/cluster] N   start node N again; it rejoins the cluster
//	sagacluster down [-dir ./data/cluster]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/sagaboard/sagaboard/services/rabbit/rabbitnode"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sagacluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"up", "down", "kill", "boot"}, args[0]) {
		return errors.New("say up, kill N, boot N or down, e.g. sagacluster up -dir ./data/cluster")
	}
	fs := flag.NewFlagSet("sagacluster "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "./data/cluster", "the folder that holds the nodes' data, logs and the cluster's state")
	ports := fs.String("ports", "5681,5682,5683", "the nodes' AMQP ports on 127.0.0.1, one per node; each node's Erlang distribution port is its AMQP port + 20000")
	vhost := fs.String("vhost", "sagaboard", "the vhost named in the -amqp list printed")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "down":
		return down(ctx, *dir, stdout)
	case "kill", "boot":
		return one(ctx, args[0], *dir, fs.Args(), stdout)
	}
	var ps []int
	for _, s := range strings.Split(*ports, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p < 1024 || p > 45000 {
			return fmt.Errorf("-ports: %q is not a port from 1024 to 45000 (the distribution port, 20000 above it, must exist too)", s)
		}
		ps = append(ps, p)
	}
	if c, err := rabbitnode.LoadCluster(*dir); err != nil || c != nil {
		return fmt.Errorf("a cluster is already in %s; run `make cluster-down` first", *dir)
	}
	fmt.Fprintf(stdout, "starting %d RabbitMQ nodes on 127.0.0.1 ports %s, data in %s …\n", len(ps), *ports, *dir)
	c, err := rabbitnode.StartCluster(ctx, *dir, "sagaboard", ps)
	if err != nil {
		return err
	}
	for _, n := range c.Nodes {
		fmt.Fprintf(stdout, "  %s  amqp 127.0.0.1:%d  (rabbitmqctl: %s)\n", n.Name, n.Port, ctlHint(n))
	}
	fmt.Fprintf(stdout, "cluster up. Give sagaboard every node, starting from a different one per process:\n  -amqp %s\n", c.URLs(*vhost, 0))
	fmt.Fprintln(stdout, "take it away with `make cluster-down`")
	return nil
}

// ctlHint is how a user points rabbitmqctl at node n.
func ctlHint(n *rabbitnode.Node) string { return "rabbitmqctl -n " + n.Name + " cluster_status" }

// one kills or boots one node of the cluster in dir.
func one(ctx context.Context, verb, dir string, args []string, stdout io.Writer) error {
	c, err := rabbitnode.LoadCluster(dir)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("no cluster in %s; start one with `make cluster`", dir)
	}
	i := 0
	if len(args) == 1 {
		i, _ = strconv.Atoi(args[0])
	}
	if i < 1 || i > len(c.Nodes) {
		return fmt.Errorf("%s: name the node by its number, 1 to %d", verb, len(c.Nodes))
	}
	n := c.Nodes[i-1]
	if verb == "kill" {
		if err := n.Kill(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "SIGKILLed %s (127.0.0.1:%d); bring it back with `make cluster-boot NODE=%d`\n", n.Name, n.Port, i)
		return nil
	}
	if err := n.Boot(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is back on 127.0.0.1:%d\n", n.Name, n.Port)
	return nil
}

func down(ctx context.Context, dir string, stdout io.Writer) error {
	c, err := rabbitnode.LoadCluster(dir)
	if err != nil {
		return err
	}
	if c == nil {
		fmt.Fprintf(stdout, "no cluster in %s\n", dir)
		return nil
	}
	c.Remove(ctx)
	fmt.Fprintf(stdout, "stopped %d nodes and removed %s\n", len(c.Nodes), c.Dir)
	return nil
}

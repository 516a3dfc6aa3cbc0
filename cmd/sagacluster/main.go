// Command sagacluster starts a RabbitMQ cluster of three nodes of its own on
// this machine, for trying sagaboard on a cluster, and takes it away again.
// It never touches the machine's default broker. `make cluster` and `make
// cluster-down` run it; the tests start their clusters with the same
// package, services/rabbit/rabbitnode.
//
//	sagacluster up   [-dir ./data/cluster] [-ports 5681,5682,5683] [-vhost sagaboard]
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
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		return errors.New("say `up` or `down`, e.g. sagacluster up -dir ./data/cluster")
	}
	fs := flag.NewFlagSet("sagacluster "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "./data/cluster", "the folder that holds the nodes' data, logs and the cluster's state")
	ports := fs.String("ports", "5681,5682,5683", "the nodes' AMQP ports on 127.0.0.1, one per node; each node's Erlang distribution port is its AMQP port + 20000")
	vhost := fs.String("vhost", "sagaboard", "the vhost named in the -amqp list printed")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "down" {
		return down(ctx, *dir, stdout)
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

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/services/rabbit/rabbitnode"
)

// Setup is one shape of sagaboard that -compare measures side by side with
// the others in every run: which tap the observer reads, how many broker
// nodes, which store, and how many payment processes.
type Setup struct {
	Name     string // as given, e.g. "nodes=3" or "store=postgres+payments=2"
	Tap      string // -tap; "" keeps the server's default
	Nodes    int    // 1: the broker of -amqp; 3: a cluster sagabench starts on loopback, with -quorum
	Store    string // "sqlite" (files) or "postgres" (a database sagabench makes and drops)
	Payments int    // payment processes beside a front running the rest; 0 runs every part in one process
}

// parseSetups reads -compare: setups separated by commas, each a
// "+"-joined list of key=value, e.g. "nodes=1,nodes=3".
func parseSetups(s string) ([]Setup, error) {
	var out []Setup
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		st := Setup{Name: item, Nodes: 1, Store: "sqlite"}
		for _, kv := range strings.Split(item, "+") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("-compare: %q is not key=value; e.g. nodes=3 or store=postgres+payments=2", kv)
			}
			switch k {
			case "tap":
				if v != "classic" && v != "stream" {
					return nil, fmt.Errorf("-compare: tap=%s: choose classic or stream", v)
				}
				st.Tap = v
			case "nodes":
				if v != "1" && v != "3" {
					return nil, fmt.Errorf("-compare: nodes=%s: choose 1 (the broker of -amqp) or 3 (a cluster sagabench starts)", v)
				}
				st.Nodes, _ = strconv.Atoi(v)
			case "store":
				if v != "sqlite" && v != "postgres" {
					return nil, fmt.Errorf("-compare: store=%s: choose sqlite or postgres", v)
				}
				st.Store = v
			case "payments":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 4 {
					return nil, fmt.Errorf("-compare: payments=%s: choose 1 to 4 payment processes", v)
				}
				st.Payments = n
			default:
				return nil, fmt.Errorf("-compare: unknown key %q; choose from tap, nodes, store, payments", k)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// broker is where a measurement's vhost lives: the machine's broker, or a
// cluster of sagabench's own.
type broker struct {
	urls []string // AMQP URLs without a vhost, each ending in "/"
	ctl  func(ctx context.Context, args ...string) ([]byte, error)
}

// localBroker is the broker of -amqp, reached by the machine's rabbitmqctl
// (with -node, that node).
func localBroker(cfg Config) broker {
	return broker{urls: []string{cfg.AMQP}, ctl: func(ctx context.Context, args ...string) ([]byte, error) {
		if cfg.Node != "" {
			args = append([]string{"-n", cfg.Node}, args...)
		}
		return exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
	}}
}

// amqp is -amqp's value for vhost: every node's URL, comma-separated.
func (b broker) amqp(vhost string) string {
	urls := make([]string, len(b.urls))
	for i, u := range b.urls {
		urls[i] = u + vhost
	}
	return strings.Join(urls, ",")
}

// pids are the broker's Erlang VMs on this machine, one per node found.
func (b broker) pids() []int {
	var out []int
	for _, u := range b.urls {
		if pid := brokerPID(u); pid != 0 {
			out = append(out, pid)
		}
	}
	return out
}

// cluster starts a three-node cluster the first time a setup needs one and
// keeps it for the other runs; close removes it.
type cluster struct {
	mu  sync.Mutex
	c   *rabbitnode.Cluster
	dir string
}

func (cl *cluster) broker(ctx context.Context) (broker, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.c == nil {
		dir, err := os.MkdirTemp("", "sagabench-cluster-")
		if err != nil {
			return broker{}, fmt.Errorf("cluster: folder: %w", err)
		}
		progress("starting a three-node RabbitMQ cluster of sagabench's own")
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		c, err := rabbitnode.StartCluster(ctx, dir, "sagabench-"+hex.EncodeToString(b), []int{0, 0, 0})
		if err != nil {
			_ = os.RemoveAll(dir)
			return broker{}, fmt.Errorf("cluster: %w", err)
		}
		cl.c, cl.dir = c, dir
	}
	var urls []string
	for _, n := range cl.c.Nodes {
		urls = append(urls, n.URL(""))
	}
	first := cl.c.Nodes[0]
	return broker{urls: urls, ctl: func(ctx context.Context, args ...string) ([]byte, error) {
		out, err := first.Ctl(ctx, args...)
		return []byte(out), err
	}}, nil
}

func (cl *cluster) close() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cl.c.Remove(ctx)
		_ = os.RemoveAll(cl.dir)
		cl.c = nil
	}
}

// postgresAdmin is where sagabench makes a database for a store=postgres
// setup: the machine's PostgreSQL, as the tests reach it.
const postgresAdmin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// makeDatabase creates a database of its own for one server and returns its
// URL and a function that drops it. It uses psql, which comes with the
// server, so that sagabench needs no driver of its own.
func makeDatabase(ctx context.Context) (string, func(), error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "sagabench_" + hex.EncodeToString(b)
	psql := func(ctx context.Context, sql string) error {
		out, err := exec.CommandContext(ctx, "psql", postgresAdmin, "-v", "ON_ERROR_STOP=1", "-qc", sql).CombinedOutput()
		if err != nil {
			return fmt.Errorf("postgres: psql %q: %w\n%s", sql, err, out)
		}
		return nil
	}
	if err := psql(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := psql(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "sagabench: could not drop database %s: %v\n", name, err)
		}
	}
	return "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable", drop, nil
}

package main_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/sagaboard/sagaboard/services/rabbit/rabbitnode"
)

// OwnBroker is a RabbitMQ node a test starts for itself, on ports of its
// own, with its data in the test's temporary folder. A test that stops or
// restarts a broker does it to this one, never to the machine's shared
// broker, whose other clients (a user's `make run`, the tests of other
// packages running at the same time) would lose their connections. It is
// rabbitnode's node, which `make cluster` starts too.
type OwnBroker struct {
	*rabbitnode.Node
	t testing.TB
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
	n, err := rabbitnode.Start(context.Background(), rabbitnode.Options{Name: "sagaboard-test-" + randomHex(3), Dir: dir})
	t.Cleanup(func() {
		if n != nil {
			_ = n.Remove(context.Background())
		}
		_ = os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("start a RabbitMQ node of the test's own: %v", err)
	}
	return &OwnBroker{Node: n, t: t}
}

// Ctl runs rabbitmqctl against this node, and fails the test if it fails.
func (o *OwnBroker) Ctl(args ...string) string {
	o.t.Helper()
	out, err := o.Node.Ctl(context.Background(), args...)
	if err != nil {
		o.t.Fatal(err)
	}
	return out
}

// OwnCluster is three RabbitMQ nodes joined into one cluster, of a test's
// own, as `make cluster` starts them for a user.
type OwnCluster struct {
	*rabbitnode.Cluster
	t testing.TB
}

// StartOwnCluster starts a cluster of n nodes on free ports. It is removed
// when the test ends.
func StartOwnCluster(t testing.TB, n int) *OwnCluster {
	t.Helper()
	requireBroker(t)
	dir, err := os.MkdirTemp("", "sagaboard-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rabbitnode.StartCluster(context.Background(), dir, "sagaboard-test-"+randomHex(3), make([]int, n))
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("start a RabbitMQ cluster of the test's own: %v", err)
	}
	t.Cleanup(func() { c.Remove(context.Background()) })
	return &OwnCluster{Cluster: c, t: t}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

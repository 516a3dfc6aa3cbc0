// Command sagaboard runs the choreography saga lab: the five participants,
// the observer and the dashboard, all in one process or any subset of them
// per process (-only), against one RabbitMQ.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the garbage collector's target when GOGC is not set. Every
// message is decoded, written and re-encoded, so the heap churns fast and the
// default (100) spent about a fifth of the CPU collecting under load. At 300
// sagabench measured about 18 % more bookings per second and 18 % less CPU
// per booking, for a peak heap of ~125 MiB instead of ~85.
const gcPercent = 300

// memoryLimit is the soft memory limit when GOMEMLIMIT is not set. With
// gcPercent at 300 the heap may grow to four times what is live before a
// collection, and a multi-megabyte message leaves about three times its size
// in garbage as amqp091-go assembles it (64 KiB read chunks, then a body grown
// by append). 100 messages of 4 MB, dead-lettered, peaked at 141 to 288 MB
// without a limit and at 148 to 157 MB with this one (TestMemory...). Under
// sagabench's normal load the process peaks near 127 MiB, below the limit, so
// the collector paces itself by gcPercent there as before.
const memoryLimit = 160 << 20

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "setup-broker" {
		if err := setupBroker(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "sagaboard:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "asyncapi" {
		if err := writeAsyncAPI(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "sagaboard:", err)
			os.Exit(1)
		}
		return
	}
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "sagaboard:", err)
		os.Exit(2)
	}
	if m.Config.Scenario != "" {
		os.Exit(m.PlayScenario(ctx, os.Stdout))
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sagaboard:", err)
		m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	stop() // a second signal now kills at once, as users expect
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "sagaboard:", err)
		os.Exit(1)
	}
}

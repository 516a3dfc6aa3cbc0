package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// StoresPoint is one throughput run of the stores mode: the parts split
// into a front process and k payment processes, on one store engine.
type StoresPoint struct {
	Engine   string // sqlite or postgres
	Payments int    // payment processes
	Rate     float64
	FrontCPU time.Duration // the front process's CPU, per booking below
	Bookings int
}

// storeSetups are the four the stores mode compares, side by side.
var storeSetups = []struct {
	engine   string
	payments int
}{{"sqlite", 1}, {"sqlite", 2}, {"postgres", 1}, {"postgres", 2}}

// runStores measures SQLite against PostgreSQL and one payment process
// against two, each setup -runs times, alternating, so a noisy minute
// lands on all of them.
func runStores(ctx context.Context, cfg Config, bin string) ([][]StoresPoint, error) {
	out := make([][]StoresPoint, len(storeSetups))
	for run := 1; run <= cfg.Runs; run++ {
		for i, s := range storeSetups {
			progress("stores run %d: %s, %d payment process(es): %d bookings from %d clients", run, s.engine, s.payments, cfg.StoresN, cfg.Clients)
			p, err := storesOnce(ctx, cfg, bin, s.engine, s.payments)
			if err != nil {
				return nil, fmt.Errorf("%s with %d payment processes: %w", s.engine, s.payments, err)
			}
			progress("stores run %d: %s, %d payment: %.0f bookings/s", run, s.engine, s.payments, p.Rate)
			out[i] = append(out[i], p)
		}
	}
	return out, nil
}

func storesOnce(ctx context.Context, cfg Config, bin, engine string, payments int) (StoresPoint, error) {
	p := StoresPoint{Engine: engine, Payments: payments}
	vhost, err := addVhost(ctx, "sagabench-stores")
	if err != nil {
		return p, err
	}
	defer deleteVhost(vhost)
	dir, err := os.MkdirTemp("", "sagabench-stores-")
	if err != nil {
		return p, err
	}
	defer os.RemoveAll(dir)
	storeArg := "sqlite"
	if engine == "postgres" {
		url, drop, err := pgDatabase(ctx, cfg.Postgres)
		if err != nil {
			return p, err
		}
		defer drop()
		storeArg = url
	}
	common := []string{"-amqp", cfg.AMQP + vhost, "-store", storeArg, "-rows", fmt.Sprint(venueSide), "-cols", fmt.Sprint(venueSide)}
	front, err := startProc(ctx, bin, append([]string{"-addr", "127.0.0.1:0", "-data", dir + "/front",
		"-only", "web,booking,observer,seats,compensation,notification"}, common...))
	if err != nil {
		return p, err
	}
	defer front.Close()
	for range payments {
		// On SQLite the payment processes share one file, as on one
		// machine; on PostgreSQL, one schema.
		pay, err := startProc(ctx, bin, append([]string{"-data", dir + "/payment", "-only", "payment"}, common...))
		if err != nil {
			return p, err
		}
		defer pay.Close()
	}
	a := newAPI(front.URL, "", cfg.Clients)
	seats, err := a.freeSeats(ctx)
	if err != nil {
		return p, err
	}
	if len(seats) < cfg.StoresN {
		return p, fmt.Errorf("%d free seats, want %d", len(seats), cfg.StoresN)
	}
	t, err := runThroughput(ctx, a, throughputOpts{Seats: seats[:cfg.StoresN], Clients: cfg.Clients, PID: front.PID})
	if err != nil {
		return p, err
	}
	p.Rate, p.FrontCPU, p.Bookings = t.Rate, t.CPU, t.Bookings
	return p, nil
}

// pgDatabase makes a database of the run's own on the PostgreSQL server
// at admin, and returns its URL and what drops it.
func pgDatabase(ctx context.Context, admin string) (string, func(), error) {
	db, err := sql.Open("pgx", strings.TrimSuffix(admin, "/")+"/postgres?sslmode=disable")
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "sagabench_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("postgres: create database %s on %s: %w", name, redact(admin), err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "sagabench: could not drop database %s: %v\n", name, err)
		}
		db.Close()
	}
	return strings.TrimSuffix(admin, "/") + "/" + name + "?sslmode=disable", drop, nil
}

// reportStores prints the stores mode's medians, as ratios to SQLite with
// one payment process.
func reportStores(w io.Writer, points [][]StoresPoint) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("stores       front process (web, booking, observer, seats, compensation, notification) + payment processes")
	var base float64
	for i, s := range storeSetups {
		rates := make([]float64, len(points[i]))
		cpus := make([]float64, len(points[i]))
		for j, pt := range points[i] {
			rates[j] = pt.Rate
			if pt.Bookings > 0 {
				cpus[j] = pt.FrontCPU.Seconds() * 1000 / float64(pt.Bookings)
			}
		}
		rate := median(rates)
		if i == 0 {
			base = rate
		}
		ratio := 0.0
		if base > 0 {
			ratio = rate / base
		}
		p("  %-8s %d payment  %6.0f bookings/s  (%.2f× sqlite/1)  front CPU %.2f ms per booking", s.engine, s.payments, rate, ratio, median(cpus))
	}
}

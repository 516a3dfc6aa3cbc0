package main

import (
	"context"
	"fmt"
)

// The scale mode checks the issue's "cost per booking stays flat from 1,000
// to 50,000 stored bookings". A venue has at most 10,000 seats, so the store
// is filled with bookings that end compensated (payment.fail_rate=1 frees
// their seats), and the same measurement runs at ~1,000 and at -scale-to.

const (
	scaleLatency = 100 // bookings one at a time per point
	scaleWarmup  = 20
	scaleFirst   = 1000 // stored bookings at the first point
)

// ScalePoint is one measurement at a store size.
type ScalePoint struct {
	Stored     int64
	Throughput Throughput
	Latency    Latency
}

func runScale(ctx context.Context, cfg Config, w world) ([]ScalePoint, error) {
	srv, err := target(ctx, cfg, w, defaultSetup)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	base := srv.base
	a := newAPI(base, cfg.Token, cfg.Clients)
	seats, err := a.freeSeats(ctx)
	if err != nil {
		return nil, err
	}
	// Each point sells its own seats for good; the rest are booked and
	// released again and again to fill the store.
	per := cfg.ScaleN + scaleWarmup + scaleLatency
	if len(seats) < 2*per+1000 {
		return nil, fmt.Errorf("sagaboard at %s has %d free seats; -scale needs %d", base, len(seats), 2*per+1000)
	}
	pools := [][]string{seats[:per], seats[per : 2*per]}
	fillSeats := seats[2*per:]
	var points []ScalePoint
	for i, stored := range []int64{scaleFirst, cfg.ScaleTo} {
		progress("scale: filling the store to %s bookings", thousands(stored))
		if err := fill(ctx, a, fillSeats, cfg.Clients, stored); err != nil {
			return nil, err
		}
		st, err := a.stats(ctx)
		if err != nil {
			return nil, err
		}
		pool := pools[i]
		progress("scale: measuring at %s stored bookings", thousands(st.Total))
		lat, err := runLatency(ctx, a, pool[:scaleWarmup+scaleLatency], scaleWarmup)
		if err != nil {
			return nil, err
		}
		tp, err := runThroughput(ctx, a, throughputOpts{Seats: pool[scaleWarmup+scaleLatency:], Clients: cfg.Clients, PIDs: srv.pids, Broker: srv.broker})
		if err != nil {
			return nil, err
		}
		points = append(points, ScalePoint{Stored: st.Total, Throughput: tp, Latency: summarize(lat)})
		progress("scale: %s stored: %.0f bookings/s, %s, %.2f cpu s/1k", thousands(st.Total), tp.Rate, summarize(lat), tp.CPUPer1k())
	}
	return points, nil
}

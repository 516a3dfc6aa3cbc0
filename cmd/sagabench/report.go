package main

import (
	"fmt"
	"io"
	"time"
)

// report prints the figures, medians over the runs.
func report(w io.Writer, cfg Config, m Machine, runs []Run, scale []ScalePoint) {
	med := func(f func(Run) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	medD := func(f func(Run) time.Duration) time.Duration {
		ds := make([]time.Duration, len(runs))
		for i, r := range runs {
			ds[i] = f(r)
		}
		return medianDuration(ds)
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	what := "one run"
	if len(runs) > 1 {
		what = fmt.Sprintf("median of %d runs", len(runs))
	}
	p("")
	p("sagabench — %s", what)
	p("machine      %s", m)
	if cfg.Ceiling {
		c := runs[0].Ceiling
		p("")
		p("raw ceiling  amqp091-go, 3 hops + done, persistent, confirmed, manual ack, topic exchange, \"#\" observer, %d-byte messages", c.MsgSize)
		p("  throughput   %s sagas/s           (%s sagas, many in flight)", thousands(int64(med(func(r Run) float64 { return r.Ceiling.Rate }))), thousands(int64(cfg.CeilingN)))
		p("  latency      p50 %s  p90 %s  p99 %s   (publish to the third hop, %d one at a time)",
			ms(medD(func(r Run) time.Duration { return r.Ceiling.Latency.P50 })),
			ms(medD(func(r Run) time.Duration { return r.Ceiling.Latency.P90 })),
			ms(medD(func(r Run) time.Duration { return r.Ceiling.Latency.P99 })), cfg.LatencyN)
	}
	if !cfg.Sagaboard {
		return
	}
	t0 := runs[0].Throughput
	p("")
	where := fmt.Sprintf("started here, %d×%d venue, own vhost", venueSide, venueSide)
	if cfg.Target != "" {
		where = cfg.Target
	}
	p("sagaboard    %s", where)
	p("  throughput   %s bookings/s        (%s bookings, %d clients, first POST to all confirmed)", thousands(int64(med(func(r Run) float64 { return r.Throughput.Rate }))), thousands(int64(t0.Bookings)), cfg.Clients)
	p("               POSTs answered in %s: one POST p50 %s  p99 %s; all done %s after the first",
		runs[0].Throughput.Posted.Round(time.Millisecond), ms(t0.Post.P50), ms(t0.Post.P99), t0.Settle.Round(time.Millisecond))
	if cfg.Ceiling {
		p("  ratio        %.2f of the ceiling       (target ≥ 0.35)", med(Run.Ratio))
	}
	p("  latency      p50 %s  p90 %s  p99 %s   (POST to confirmed, %d one at a time; target p50 ≤ 5 ms)",
		ms(medD(func(r Run) time.Duration { return r.Latency.P50 })),
		ms(medD(func(r Run) time.Duration { return r.Latency.P90 })),
		ms(medD(func(r Run) time.Duration { return r.Latency.P99 })), cfg.LatencyN)
	if runs[0].Throughput.CPU > 0 {
		p("  cpu          %.2f s per 1,000 bookings  (server process, first POST until every queue is empty)", med(func(r Run) float64 { return r.Throughput.CPUPer1k() }))
		p("  peak memory  %.0f MiB               (server VmHWM)", med(func(r Run) float64 { return float64(r.PeakRSS) / (1 << 20) }))
	} else {
		p("  cpu, memory  not measured: pass -pid with -target")
	}
	if runs[0].Throughput.BrokerCPU > 0 {
		tp := med(func(r Run) float64 { return r.Throughput.BrokerPerBooking() })
		line := fmt.Sprintf("  broker cpu   %.2f ms per booking", tp)
		if cfg.Ceiling && runs[0].Ceiling.BrokerCPU > 0 {
			cs := med(func(r Run) float64 { return r.Ceiling.BrokerPerSaga() })
			line += fmt.Sprintf(", %.2f ms per ceiling saga: %.1f× (beam.smp, throughput modes; target ≤ 1.3×)", cs, tp/cs)
		} else {
			line += "  (beam.smp, throughput mode)"
		}
		p("%s", line)
		if runs[0].Throughput.CPU > 0 {
			p("  server cpu   %.2f ms per booking", med(func(r Run) float64 { return r.Throughput.CPUPer1k() }))
		}
	}
	if t := runs[0].Throughput.Traffic; t.Bookings > 0 {
		pub, del := t.PerBooking()
		cp, cd := ceilingTraffic.PerBooking()
		p("  messages     %.1f publishes, %.1f deliveries per booking (from %d bookings' timelines; a ceiling saga: %.0f, %.0f)", pub, del, t.Bookings, cp, cd)
	}
	if w := runs[0].Throughput.Wire; w.Conns > 0 {
		p("  wire         per booking:      %s", medWire(runs, func(r Run) WirePer { return r.Throughput.Wire.Per(r.Throughput.Bookings) }))
		if cfg.Ceiling && runs[0].Ceiling.Wire.Conns > 0 {
			p("               per ceiling saga: %s", medWire(runs, func(r Run) WirePer { return r.Ceiling.Wire.Per(r.Ceiling.Sagas) }))
			p("               (%d connections, %d channels here; the ceiling's %d, %d)", w.Conns, w.Channels, runs[0].Ceiling.Wire.Conns, runs[0].Ceiling.Wire.Channels)
		}
	}
	if comp := runs[0].Throughput.Compensated; comp > 0 {
		p("  note         %d bookings ended compensated (the switches should be off)", comp)
	}
	if rej := runs[0].Throughput.Rejected; rej > 0 {
		p("  note         %d POSTs failed; the first: %v", rej, runs[0].Throughput.FirstErr)
	}
	d0 := runs[0].Dashboard
	switch {
	case cfg.Viewers == 0:
	case d0.Err != nil:
		p("  dashboard    %v", d0.Err)
	default:
		p("  dashboard    %d viewers: staleness p50 %s  p99 %s  max %s; dropped %d   (target < 1 s)",
			d0.Clients,
			ms(medD(func(r Run) time.Duration { return r.Dashboard.Staleness.P50 })),
			ms(medD(func(r Run) time.Duration { return r.Dashboard.Staleness.P99 })),
			ms(medD(func(r Run) time.Duration { return r.Dashboard.Staleness.Max })),
			int(med(func(r Run) float64 { return float64(r.Dashboard.Dropped) })))
		p("               caught up %s after the last confirmation (the newest %d shown confirmed on every viewer)",
			ms(medD(func(r Run) time.Duration { return r.Dashboard.CatchUp })), newestShown)
		p("               %s of %s (sampled booking, viewer) pairs drawn confirmed, the rest fell off the list first;",
			thousands(int64(d0.Pairs-d0.Undrawn)), thousands(int64(d0.Pairs)))
		p("               %s frames, %.1f MiB per viewer",
			thousands(int64(d0.Frames/max(1, d0.Clients))), float64(d0.Bytes)/float64(max(1, d0.Clients))/(1<<20))
		p("  first frame  %.1f KiB on opening before the run, %.1f KiB after it (%d×%d venue; target < 200 KB)",
			float64(d0.FirstFrame)/1024, float64(d0.FirstFrameAfter)/1024, venueSide, venueSide)
		if d0.DropErr != nil {
			p("               first drop: %v", d0.DropErr)
		}
	}
	if len(runs[0].Setups) > 0 {
		reportSetups(p, runs, med)
	}
	if len(runs) > 1 {
		p("")
		p("per run      ceiling/s  bookings/s  ratio  p50       p99       cpu s/1k  staleness p99")
		for i, r := range runs {
			p("  %-10d %9.0f  %10.0f  %5.2f  %-8s  %-8s  %8.2f  %s", i+1, r.Ceiling.Rate, r.Throughput.Rate, r.Ratio(), ms(r.Latency.P50), ms(r.Latency.P99), r.Throughput.CPUPer1k(), ms(r.Dashboard.Staleness.P99))
		}
	}
	if len(scale) > 0 {
		p("")
		p("scale        cost per booking as the store grows (compensated bookings fill it)")
		p("  stored      bookings/s  p50       p99       cpu s/1k")
		for _, s := range scale {
			p("  %-10s %11.0f  %-8s  %-8s  %8.2f", thousands(s.Stored), s.Throughput.Rate, ms(s.Latency.P50), ms(s.Latency.P99), s.Throughput.CPUPer1k())
		}
		if a, b := scale[0], scale[len(scale)-1]; a.Throughput.CPUPer1k() > 0 {
			p("  change      %+.0f%% bookings/s, %+.0f%% cpu per booking from %s to %s stored",
				100*(b.Throughput.Rate/a.Throughput.Rate-1), 100*(b.Throughput.CPUPer1k()/a.Throughput.CPUPer1k()-1), thousands(a.Stored), thousands(b.Stored))
		}
	}
	p("")
	if cfg.Profile != "" {
		p("profile      %s", runs[0].Throughput.Profile)
	}
	if cfg.Profile == "" {
		p("profile      not taken. -profile cpu.pprof starts sagaboard with -pprof and profiles the first")
		p("             -profile-seconds of the throughput mode; with -target, give -pprof-url (the server's -pprof).")
		p("             Read it with `go tool pprof -top cpu.pprof`, or watch live with `perf top -p PID`.")
	}
}

// medWire is the median of each of f's counters over the runs.
func medWire(runs []Run, f func(Run) WirePer) WirePer {
	pick := func(g func(WirePer) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = g(f(r))
		}
		return median(xs)
	}
	return WirePer{
		Reads:     pick(func(w WirePer) float64 { return w.Reads }),
		Writes:    pick(func(w WirePer) float64 { return w.Writes }),
		In:        pick(func(w WirePer) float64 { return w.In }),
		Out:       pick(func(w WirePer) float64 { return w.Out }),
		DiskWrite: pick(func(w WirePer) float64 { return w.DiskWrite }),
	}
}

// reportSetups prints each setup's figures, medians over the runs, and
// each against the first setup as the median of the runs' own ratios: the
// machine is shared, so a ratio within one run says more than two medians
// do.
func reportSetups(p func(string, ...any), runs []Run, med func(func(Run) float64) float64) {
	p("")
	p("setups       each run measured every setup on a fresh server, side by side (medians)")
	p("  setup                        bookings/s  p50       broker ms/booking  server ms/booking  postgres ms/booking")
	at := func(r Run, i int) Run { return r.Setups[i].Run }
	for i, st := range runs[0].Setups {
		p("  %-27s  %10.0f  %-8s  %17.2f  %17.2f  %19.2f", st.Setup.Name,
			med(func(r Run) float64 { return at(r, i).Throughput.Rate }),
			ms(time.Duration(med(func(r Run) float64 { return float64(at(r, i).Latency.P50) }))),
			med(func(r Run) float64 { return at(r, i).Throughput.BrokerPerBooking() }),
			med(func(r Run) float64 { return at(r, i).Throughput.CPUPer1k() }),
			med(func(r Run) float64 { return at(r, i).Throughput.StorePerBooking() }))
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	if len(runs) > 1 {
		for n, r := range runs {
			line := fmt.Sprintf("  run %d     ", n+1)
			for _, st := range r.Setups {
				line += fmt.Sprintf("  %s %.0f/s p50 %s broker %.2f ms", st.Setup.Name, st.Run.Throughput.Rate, ms(st.Run.Latency.P50), st.Run.Throughput.BrokerPerBooking())
			}
			p("%s", line)
		}
	}
	base := runs[0].Setups[0].Setup.Name
	for i, st := range runs[0].Setups[1:] {
		i++
		p("  %s / %s: throughput %.2f×  p50 %.2f×  broker cpu %.2f×  server cpu %.2f×   (median of per-run ratios)", st.Setup.Name, base,
			med(func(r Run) float64 { return ratio(at(r, i).Throughput.Rate, at(r, 0).Throughput.Rate) }),
			med(func(r Run) float64 { return ratio(float64(at(r, i).Latency.P50), float64(at(r, 0).Latency.P50)) }),
			med(func(r Run) float64 {
				return ratio(at(r, i).Throughput.BrokerPerBooking(), at(r, 0).Throughput.BrokerPerBooking())
			}),
			med(func(r Run) float64 { return ratio(at(r, i).Throughput.CPUPer1k(), at(r, 0).Throughput.CPUPer1k()) }))
	}
}

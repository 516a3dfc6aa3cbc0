package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/web/httperr"
)

// healthz is GET /healthz: 200 when the broker, the databases and the data
// folder are usable, 503 with the first reason otherwise. Both carry
// broker_identity, so a monitor sees a shared identity without a page.
// The reasons name what failed and never a secret: the broker's URL comes
// without its password (services/rabbit redacts it).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	body := map[string]string{"broker_identity": s.cfg.BrokerIdentity}
	if err := s.health(r.Context()); err != nil {
		body["error"] = err.Error()
		httperr.WriteJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	body["status"] = "ok"
	httperr.WriteJSON(w, http.StatusOK, body)
}

func (s *Server) health(ctx context.Context) error {
	if err := s.cfg.Broker.Healthy(); err != nil {
		return err
	}
	for _, check := range s.cfg.Checks {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return s.probe.check()
}

// probeEvery is how long a probe's answer stands: a monitor, or anybody,
// asking /healthz in a loop then costs one small fsync a second, not one
// per request.
const probeEvery = time.Second

// dataProbe checks that the data folder takes writes: it creates a small
// file there, writes it, syncs it and removes it. A database's ping only
// reads, so without this a full disk shows as 500s on bookings while
// /healthz still says 200. Its zero value checks nothing.
type dataProbe struct {
	dir string

	mu   sync.Mutex
	at   time.Time
	last error
}

func (p *dataProbe) check() error {
	if p.dir == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); p.at.IsZero() || now.Sub(p.at) >= probeEvery {
		p.last, p.at = writeProbe(p.dir), now
	}
	return p.last
}

// writeProbe writes and syncs a small file in dir, then removes it. The
// sync matters: a full disk often takes the write into memory and only
// refuses when the data must reach it.
func writeProbe(dir string) (err error) {
	f, err := os.CreateTemp(dir, ".healthz-*")
	if err != nil {
		return fmt.Errorf("the data folder cannot be written: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("the data folder cannot be written: %w", cerr)
		}
		_ = os.Remove(f.Name())
	}()
	if _, err := f.Write([]byte("sagaboard health probe\n")); err != nil {
		return fmt.Errorf("the data folder cannot be written: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("the data folder cannot be written: %w", err)
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web"
)

// runControl keeps this process's switches in step with every other
// process's, through the broker, until ctx ends.
//
// Each time the subscription is in place (at start, and after an outage) a
// process with the dashboard sends its switches and one without asks for
// them. Every set carries the stamp of the change that made it, and the
// later one wins; a dashboard that hears an older set than its own answers
// with its own. So two dashboards that were changed apart during an outage
// agree again as soon as they hear each other.
func (m *Main) runControl(ctx context.Context, switches *saga.Switches, live *web.Live) error {
	ready := func() {
		msg := saga.Message{ID: saga.NewID(), Type: saga.TypeHello, RoutingKey: saga.KeyHello, Source: strings.Join(m.Config.Only, ","), Timestamp: time.Now(), Body: []byte("{}")}
		if m.runs(saga.PartWeb) {
			msg = switchesMessage(switches.State())
		}
		if err := m.control.Broadcast(ctx, msg); err != nil {
			m.Log.Warn("could not exchange the switches with other processes", "err", err)
		}
	}
	return m.control.Subscribe(ctx, "control.#", ready, func(msg saga.Message) {
		m.onControl(ctx, switches, live, msg)
	})
}

// sayPresence tells every dashboard which parts this process runs and on
// which broker node each is: every saga.PresenceEvery until ctx ends, and at
// once when a part first connects or moves to another node, so the badge
// follows a failover within a moment rather than within five seconds.
// Looking costs a lock and a map per part.
func (m *Main) sayPresence(ctx context.Context) {
	id := saga.NewID()
	look := time.NewTicker(presenceLook)
	defer look.Stop()
	var said map[string]string
	var saidAt time.Time
	for {
		nodes := map[string]string{}
		for _, part := range m.Config.Only {
			if b := m.brokers[part]; b != nil {
				nodes[part] = b.Node()
			}
		}
		if said == nil || !maps.Equal(nodes, said) || time.Since(saidAt) >= saga.PresenceEvery {
			body, _ := json.Marshal(saga.Presence{Process: id, Parts: m.Config.Only, Nodes: nodes})
			msg := saga.Message{ID: saga.NewID(), Type: saga.TypePresence, RoutingKey: saga.KeyHello, Source: strings.Join(m.Config.Only, ","), Timestamp: time.Now(), Body: body}
			// While the broker is down there is nobody to tell: the next
			// look tries again.
			bctx, cancel := context.WithTimeout(ctx, saga.PresenceEvery)
			if m.control.Broadcast(bctx, msg) == nil {
				said, saidAt = nodes, time.Now()
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-look.C:
		}
	}
}

// presenceLook is how often sayPresence looks for a part on another node.
const presenceLook = 250 * time.Millisecond

func switchesMessage(st saga.SwitchState) saga.Message {
	body, _ := json.Marshal(st)
	return saga.Message{ID: saga.NewID(), Type: saga.TypeSwitchesChanged, RoutingKey: saga.ControlKey, Source: saga.PartWeb, Timestamp: time.Now(), Body: body}
}

// onControl takes a switch change from another process, or answers a late
// starter's hello with the current switches.
func (m *Main) onControl(ctx context.Context, switches *saga.Switches, live *web.Live, msg saga.Message) {
	switch msg.Type {
	case saga.TypeSwitchesChanged:
		// Only the dashboard changes the switches; where each part is its
		// own broker user, the broker vouches for who sent this.
		if part, _ := m.senders.Part(msg.Sender); m.senders != nil && part != saga.PartWeb {
			m.Log.Warn("ignoring a switch change not sent by web", "sender", msg.Sender)
			return
		}
		took, err := switches.ApplyState(msg.Body)
		switch {
		case err != nil:
			m.Log.Warn("ignoring an invalid switch change", "err", err)
		case took:
			live.SwitchesChanged()
		case m.runs(saga.PartWeb) && switches.State().SwitchStamp != stampOf(msg.Body):
			// Older than ours: the sender missed a change.
			m.broadcastSwitches(ctx, switches)
		}
	case saga.TypePresence:
		var p saga.Presence
		if live != nil && json.Unmarshal(msg.Body, &p) == nil && p.Process != "" {
			live.ProcessSeen(p, time.Now())
		}
	case saga.TypeHello:
		if m.runs(saga.PartWeb) {
			m.broadcastSwitches(ctx, switches)
		}
	}
}

func (m *Main) broadcastSwitches(ctx context.Context, switches *saga.Switches) {
	if err := m.control.Broadcast(ctx, switchesMessage(switches.State())); err != nil {
		m.Log.Warn("could not send the switches to other processes", "err", err)
	}
}

func stampOf(body []byte) saga.SwitchStamp {
	var st saga.SwitchState
	_ = json.Unmarshal(body, &st)
	return st.SwitchStamp
}

// switchesFile keeps the switches in the data folder, so a restart finds
// them as they were.
const switchesFile = "switches.json"

func loadSwitches(switches *saga.Switches, dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, switchesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		_, err = switches.ApplyState(b)
	}
	if err != nil {
		return fmt.Errorf("read the switches kept in %s: %w (delete the file to start with every switch off)", filepath.Join(dir, switchesFile), err)
	}
	return nil
}

// keepSwitches writes the switches to the data folder after every change,
// until ctx ends. changed is the switches' Changed channel, taken by the
// caller before any change can be made (before HTTP is served): a channel
// taken here, later, would miss a change made in between.
func keepSwitches(ctx context.Context, switches *saga.Switches, changed <-chan struct{}, dir string, log *slog.Logger) error {
	path := filepath.Join(dir, switchesFile)
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			select {
			case <-changed: // a last change, made as we were stopped
			default:
				return nil
			}
		}
		// The next channel before the state, so a change made while this
		// one is written wakes the loop again.
		changed = switches.Changed()
		b, _ := json.Marshal(switches.State())
		if err := writeFileAtomic(path, b); err != nil {
			log.Warn("could not keep the switches on disk; a restart will not find this change", "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// writeFileAtomic writes through a temporary file and a rename, so a crash
// leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

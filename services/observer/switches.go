package observer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/store"
)

// SwitchChange is the failure switches as one change set them: in force
// from At until the next change.
type SwitchChange struct {
	At       time.Time              `json:"at"`
	Switches map[string]saga.Switch `json:"switches"`
}

// MaxSwitchChanges bounds how many changes SwitchesDuring returns, so a
// page drawn over a long stretch of busy clicking stays one small read.
const MaxSwitchChanges = 500

// RecordSwitches keeps a set of switches with the stamp of the change that
// made it. The same stamp twice is one change: every process hears it.
func (s *Service) RecordSwitches(ctx context.Context, st saga.SwitchState) error {
	body, err := json.Marshal(st.Switches)
	if err != nil {
		return fmt.Errorf("observer: encode switches: %w", err)
	}
	_, err = s.db.Write(ctx, func(tx *store.Tx) ([]saga.Message, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO switch_changes (at, by, switches) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			st.At, st.By, body)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("observer: record switches: %w", err)
	}
	return nil
}

// WatchSwitches records the switches as they are, then every change, until
// ctx ends. Each turn takes the next change's channel before it reads the
// state, so a change made while one is written wakes it again, and none is
// missed. It returns nothing: a change it cannot record is logged, and the
// next one is tried.
func (s *Service) WatchSwitches(ctx context.Context, switches *saga.Switches) {
	for {
		changed := switches.Changed()
		if err := s.RecordSwitches(context.WithoutCancel(ctx), switches.State()); err != nil {
			s.log.Warn("could not record a switch change; past waits around it are explained without it", "err", err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// SwitchesDuring returns the switches in force over [from, to]: the last
// change made at or before from, then every change up to to, oldest first.
// With no record before from, the first entry is every switch off at the
// zero time: the switches start off.
func (s *Service) SwitchesDuring(ctx context.Context, from, to time.Time) ([]SwitchChange, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, switches FROM (
			SELECT at, by, switches FROM (SELECT at, by, switches FROM switch_changes WHERE at <= ? ORDER BY at DESC, by DESC LIMIT 1) AS before
			UNION ALL
			SELECT at, by, switches FROM (SELECT at, by, switches FROM switch_changes WHERE at > ? AND at <= ? ORDER BY at, by LIMIT ?) AS during
		) AS changes ORDER BY at, by`, from.UnixMilli(), from.UnixMilli(), to.UnixMilli(), MaxSwitchChanges)
	if err != nil {
		return nil, fmt.Errorf("observer: switches during %s–%s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	defer rows.Close()
	var out []SwitchChange
	for rows.Next() {
		var at int64
		var body []byte
		if err := rows.Scan(&at, &body); err != nil {
			return nil, fmt.Errorf("observer: scan switch change: %w", err)
		}
		c := SwitchChange{At: store.Time(at)}
		if err := json.Unmarshal(body, &c.Switches); err != nil {
			return nil, fmt.Errorf("observer: decode switch change at %d: %w", at, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("observer: switches during: %w", err)
	}
	if len(out) == 0 || out[0].At.After(from) {
		out = append([]SwitchChange{{Switches: map[string]saga.Switch{}}}, out...)
	}
	return out, nil
}

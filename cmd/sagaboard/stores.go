package main

import (
	"context"

	"github.com/sagaboard/sagaboard/services/invariants"
	"github.com/sagaboard/sagaboard/services/notification"
	"github.com/sagaboard/sagaboard/services/observer"
	"github.com/sagaboard/sagaboard/services/payment"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/services/seats"
	"github.com/sagaboard/sagaboard/services/store"
)

// storeConfig says where this process's parts keep their state.
func (m *Main) storeConfig() store.Config {
	return store.Config{URL: m.Config.Store, Data: m.Config.Data}
}

// readOthers gives the checker the stores of the parts that run in other
// processes, opened read-only, when the stores are in PostgreSQL: each part's
// schema is in the one database. With SQLite files another process's file is
// its own, and the checker says which rules it cannot check here.
func (m *Main) readOthers(ctx context.Context, c *invariants.Config, payAway, seatsAway, obsAway, noticesAway bool) error {
	cfg := m.storeConfig()
	if !cfg.Postgres() {
		return nil
	}
	cfg.ReadOnly = true
	for _, o := range []struct {
		part string
		away bool
		set  func(db *store.DB)
	}{
		{saga.PartPayment, payAway, func(db *store.DB) { c.Ledger = payment.ReadAudit(db) }},
		{saga.PartSeats, seatsAway, func(db *store.DB) { c.Tickets = seats.ReadAudit(db) }},
		{saga.PartObserver, obsAway, func(db *store.DB) { c.Events = observer.ReadAudit(db) }},
		{saga.PartNotification, noticesAway, func(db *store.DB) { c.Notices = notification.ReadAudit(db) }},
	} {
		if !o.away {
			continue
		}
		db, err := store.Open(ctx, cfg, o.part)
		if err != nil {
			return err
		}
		m.dbs = append(m.dbs, db)
		o.set(db)
	}
	return nil
}

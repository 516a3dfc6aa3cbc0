package main_test

import (
	"bufio"
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/store/storetest"
)

// pgSecret is the password in the tests' -store URLs. The local server
// trusts 127.0.0.1, so it is never checked: it is there to be hidden.
const pgSecret = "pgS3cretWord"

// pgStore makes a database of the test's own and returns the -store URL
// for it, with a password, and a handle on the database for the checks.
func pgStore(t *testing.T) (string, *sql.DB) {
	t.Helper()
	url := storetest.Postgres(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return strings.Replace(url, "postgres@", "postgres:"+pgSecret+"@", 1), db
}

// pgOptIn skips the slower PostgreSQL tests unless asked for with
// SAGABOARD_POSTGRES_E2E=1 (make test-postgres), so make test keeps its
// time. The store conformance suite runs on PostgreSQL in make test.
func pgOptIn(t *testing.T) {
	t.Helper()
	if os.Getenv("SAGABOARD_POSTGRES_E2E") != "1" {
		t.Skip("set SAGABOARD_POSTGRES_E2E=1 (make test-postgres) to run the saga on PostgreSQL")
	}
	if testing.Short() {
		t.Skip("the PostgreSQL e2e tests are skipped in -short mode")
	}
}

// pgNoSecret fails if the password shows in what a user can read.
func pgNoSecret(t *testing.T, where, text string) {
	t.Helper()
	if strings.Contains(text, pgSecret) || strings.Contains(text, pgSecret[:6]) {
		t.Errorf("%s shows the -store password:\n%s", where, tail(text, 20))
	}
}

// TestSagaOnPostgres runs the whole program with its stores in PostgreSQL:
// bookings confirm, a declined payment compensates, the state is in the
// database (not in the data folder), and the checker is green.
func TestSagaOnPostgres(t *testing.T) {
	pgOptIn(t)
	url, pg := pgStore(t)
	vhost := MustVhost(t)
	data := t.TempDir()
	p := Start(t, "-addr", "127.0.0.1:0", "-data", data, "-amqp", vhost, "-store", url, "-rows", "5", "-cols", "5")

	var ok []string
	for _, s := range []string{"A1", "A2", "B3"} {
		ok = append(ok, p.Book("alice", s))
	}
	for _, id := range ok {
		b := p.WaitFor(id, 20*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" && b.Notified })
		if charged, refunded := p.Ledger(id); charged != b.AmountCents || refunded != 0 {
			t.Errorf("confirmed %s: charged %d refunded %d, want %d and 0", id, charged, refunded, b.AmountCents)
		}
	}
	p.SetSwitches(`{"payment":{"fail_rate":1}}`)
	time.Sleep(300 * time.Millisecond)
	declined := p.Book("bob", "C1", "C2")
	b := p.WaitFor(declined, 20*time.Second, "compensated", func(b Booking) bool { return b.Status == "compensated" && b.Notified })
	if !strings.Contains(b.Reason, "declined") {
		t.Errorf("declined booking's reason = %q, want it to say declined", b.Reason)
	}
	if charged, refunded := p.Ledger(declined); charged != 0 || refunded != 0 {
		t.Errorf("declined %s: charged %d refunded %d, want nothing taken", declined, charged, refunded)
	}
	if st := p.SeatStatus(); st["C1"] != "free" || st["C2"] != "free" {
		t.Errorf("the declined booking's seats are %s and %s, want free again", st["C1"], st["C2"])
	}
	p.SetSwitches(`{"payment":{"fail_rate":0}}`)
	p.Settled(20 * time.Second)
	checkerGreen(t, p)

	// The state is in PostgreSQL, a schema per part, and not in the data
	// folder.
	var n int
	if err := pg.QueryRow(`SELECT count(*) FROM booking.bookings`).Scan(&n); err != nil || n != 4 {
		t.Errorf("booking.bookings holds %d rows (%v), want 4", n, err)
	}
	if err := pg.QueryRow(`SELECT count(*) FROM payment.ledger WHERE kind = 'charge'`).Scan(&n); err != nil || n != 3 {
		t.Errorf("payment.ledger holds %d charges (%v), want 3", n, err)
	}
	if dbs, _ := filepath.Glob(filepath.Join(data, "*.db")); len(dbs) > 0 {
		t.Errorf("SQLite files in the data folder with -store postgres: %v", dbs)
	}
	for _, path := range []string{"/healthz", "/", "/api/invariants"} {
		pgNoSecret(t, path, pgRead(t, p.URL+path))
	}
	pgNoSecret(t, "the log", p.Log())
	if !strings.Contains(p.Log(), "store=postgres://postgres:xxxxx@127.0.0.1:5432/") {
		t.Errorf("the ready line does not say where the stores are, password hidden:\n%s", tail(p.Log(), 5))
	}

	// A restart finds everything where it was.
	p.Stop()
	p.Restart()
	if got := p.Get(ok[0]); got.Status != "confirmed" {
		t.Errorf("after a restart %s is %q, want confirmed", ok[0], got.Status)
	}
}

// TestAnUnreachableStoreStopsTheStart gives -store a server that is not
// there, a database that is not there, and URLs that cannot be read: each
// stops the start with one sentence, and no password.
func TestAnUnreachableStoreStopsTheStart(t *testing.T) {
	for _, raw := range []string{
		"postgres://postgres:" + pgSecret + "@127.0.0.1:1/sagaboard?sslmode=disable", // a closed port
		"postgres://postgres:" + pgSecret + "@127.0.0.1:5432/sagaboard_no_such_database?sslmode=disable",
		"postgres://postgres:" + pgSecret + "@[::1/x",
		"postgres://postgres:" + pgSecret + "@127.0.0.1:5432",
		"mysql://root:" + pgSecret + "@127.0.0.1/x",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, binary, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-store", raw)
		cmd.Env = hostileEnv()
		out, err := cmd.CombinedOutput()
		hung := ctx.Err() != nil
		cancel()
		if hung || err == nil || cmd.ProcessState.ExitCode() == 0 {
			t.Errorf("-store %s: started or hung (exit %v); want a refusal\n%s", storeShown(raw), err, out)
			continue
		}
		pgNoSecret(t, "the refusal of -store "+storeShown(raw), string(out))
		lines := 0
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.HasPrefix(l, "sagaboard:") {
				lines++
			}
		}
		if lines != 1 || !strings.Contains(string(out), "-store") || strings.Contains(string(out), "goroutine ") {
			t.Errorf("-store %s: want one sentence naming -store, got:\n%s", storeShown(raw), out)
		}
		t.Logf("%s", strings.TrimSpace(string(out)))
	}
}

func storeShown(raw string) string { return strings.ReplaceAll(raw, pgSecret, "***") }

// TestTwoPaymentProcessesShareOneLedgerOnPostgres is the conflict test: two
// payment processes on one PostgreSQL schema, under load, with seats and
// payment failing at random so charges and refunds both happen, the same
// BookingCreated delivered twice under its own id and once more under a new
// one, and one payment process SIGKILLed mid-load. No booking is charged
// twice, every booking ends confirmed or compensated, and the money nets
// out: read from the ledger table itself and through /api/payments. The
// checker, in the front process, reads the payment store too, and is
// complete and green.
func TestTwoPaymentProcessesShareOneLedgerOnPostgres(t *testing.T) {
	pgOptIn(t)
	url, pg := pgStore(t)
	vhost := MustVhost(t)
	front := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhost, "-store", url,
		"-only", "web,booking,observer,seats,compensation,notification", "-rows", "30", "-cols", "30")
	pay1 := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhost, "-store", url, "-only", "payment,web")
	pay2 := Start(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", vhost, "-store", url, "-only", "payment,web")
	front.SetSwitches(`{"payment":{"fail_rate":0.1},"seats":{"fail_rate":0.2}}`)
	time.Sleep(300 * time.Millisecond)

	l := startLoad(front, 30, 30, 4)
	time.Sleep(time.Second)
	// Copies of BookingCreated, as a redelivery after a crash and a
	// producer that sent one booking twice would make them.
	dups := 0
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		for _, id := range pgAccepted(l) {
			if dups >= 30 {
				break
			}
			b := front.Get(id)
			for _, e := range b.Events {
				if e.Type != "BookingCreated" || e.Queue != "payment_queue" {
					continue
				}
				dups++
				for _, mid := range []string{e.MessageID, e.MessageID, e.MessageID + "-again"} {
					publish(t, vhost, "sagaboard", "payment_queue", amqp.Publishing{
						MessageId: mid, CorrelationId: id, Type: "BookingCreated", Timestamp: time.Now(),
						DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: e.Payload,
					})
				}
				break
			}
		}
	}
	// Both processes took payments before one is killed: the ledger is
	// shared, not one process's with the other idle beside it.
	took1, took2 := paymentsTaken(t, pay1), paymentsTaken(t, pay2)
	if took1 == 0 || took2 == 0 {
		t.Fatalf("before the SIGKILL the payment processes had taken %d and %d messages; want both at work", took1, took2)
	}
	pay1.Kill()
	time.Sleep(1500 * time.Millisecond)
	accepted := l.Stop()
	if len(accepted) < 30 || dups < 10 {
		t.Fatalf("%d bookings accepted, %d duplicated; the test proves little", len(accepted), dups)
	}
	front.SetSwitches(`{"payment":{"fail_rate":0},"seats":{"fail_rate":0}}`)
	for _, id := range accepted {
		front.WaitFor(id, 60*time.Second, "finished", func(b Booking) bool { return b.Status != "pending" && b.Notified })
	}
	front.Settled(30 * time.Second)

	// The ledger table itself: one charge per booking at most, and every
	// refund matches its charge.
	rows, err := pg.Query(`SELECT booking_id, kind, count(*), sum(amount_cents) FROM payment.ledger GROUP BY booking_id, kind`)
	if err != nil {
		t.Fatal(err)
	}
	type net struct{ charges, refunds, charged, refunded int64 }
	ledger := map[string]*net{}
	for rows.Next() {
		var id, kind string
		var n, sum int64
		if err := rows.Scan(&id, &kind, &n, &sum); err != nil {
			t.Fatal(err)
		}
		if ledger[id] == nil {
			ledger[id] = &net{}
		}
		if kind == "charge" {
			ledger[id].charges, ledger[id].charged = n, sum
		} else {
			ledger[id].refunds, ledger[id].refunded = n, sum
		}
	}
	rows.Close()
	confirmed, compensated, refunded := 0, 0, 0
	var want, got int64
	for _, id := range accepted {
		b := front.Get(id)
		e := ledger[id]
		if e == nil {
			e = &net{}
		}
		if e.charges > 1 || e.refunds > 1 {
			t.Errorf("%s: %d charges and %d refunds in the ledger, want at most one each", id, e.charges, e.refunds)
		}
		switch b.Status {
		case "confirmed":
			confirmed++
			want += b.AmountCents
			if e.charged != b.AmountCents || e.refunded != 0 {
				t.Errorf("confirmed %s: charged %d refunded %d, want %d and 0", id, e.charged, e.refunded, b.AmountCents)
			}
		case "compensated":
			compensated++
			if e.charged != e.refunded {
				t.Errorf("compensated %s: charged %d refunded %d, want them equal", id, e.charged, e.refunded)
			}
			if e.refunded > 0 {
				refunded++
			}
		default:
			t.Errorf("%s ended %q, want confirmed or compensated", id, b.Status)
		}
		got += e.charged - e.refunded
		// The same, through the API of the payment process still running.
		if c, r := pay2.Ledger(id); c != e.charged || r != e.refunded {
			t.Errorf("%s: /api/payments says charged %d refunded %d, the table %d and %d", id, c, r, e.charged, e.refunded)
		}
	}
	if got != want {
		t.Errorf("the ledger nets %d cents over the accepted bookings, want %d (the confirmed ones' amounts)", got, want)
	}
	if confirmed == 0 || compensated == 0 || refunded == 0 {
		t.Errorf("%d confirmed, %d compensated, %d refunded: the test wants each", confirmed, compensated, refunded)
	}
	// The one left took on the killed one's share.
	after := paymentsTaken(t, pay2)
	if after <= took2 {
		t.Errorf("after the SIGKILL the remaining payment process took nothing more (%d messages, %d before)", after, took2)
	}
	checkerGreen(t, front)
	t.Logf("conflict: %d bookings over 2 payment processes on one PostgreSQL ledger (%d and %d payment messages taken before one was SIGKILLed, %d by the other in all); %d BookingCreated sent 3 more times each; %d confirmed, %d compensated (%d refunded); no double charge",
		len(accepted), took1, took2, after, dups, confirmed, compensated, refunded)
}

// paymentsTaken is how many payment_queue messages p's own payment step
// has decided about and acked, from its /metrics, which count only what
// this process did.
func paymentsTaken(t *testing.T, p *Proc) int {
	t.Helper()
	res, err := http.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "sagaboard_step_messages_total{") || !strings.Contains(line, `queue="payment_queue"`) || !strings.Contains(line, `outcome="ok"`) {
			continue
		}
		n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		return int(n)
	}
	return 0
}

// pgAccepted is what the load has had accepted so far.
func pgAccepted(l *loader) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.accepted...)
}

// pgRead returns the body at url.
func pgRead(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package rabbit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

func TestPermissionsGiveEachPartOnlyWhatItUses(t *testing.T) {
	match := func(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
	for _, part := range saga.Parts {
		pm := permissionsFor(part)
		// Nobody may write to the default exchange (it reaches every queue
		// past the topic permissions) or to amq.topic, nor configure a
		// saga queue (which would let it delete one).
		for _, ex := range []string{"amq.default", "amq.topic", "amq.direct", ""} {
			if match(pm.write, ex) {
				t.Errorf("%s may write to exchange %q", part, ex)
			}
		}
		for _, q := range saga.WorkQueues() {
			if match(pm.configure, q) {
				t.Errorf("%s may configure %s", part, q)
			}
			if want := contains(saga.Consumes[part], q); match(pm.read, q) != want {
				t.Errorf("%s may read %s: %v, want %v", part, q, !want, want)
			}
		}
		if match(pm.write, ReplayExchange) != (part == saga.PartObserver) {
			t.Errorf("%s's write on %s is wrong: only the observer replays", part, ReplayExchange)
		}
		if !match(pm.configure, "amq.gen-Xy12") || !match(pm.read, ControlExchange) {
			t.Errorf("%s cannot subscribe to control messages", part)
		}
		// The topic permission allows exactly the part's routing keys.
		topic := anyOf(saga.KeysOf(part))
		for _, k := range append(saga.WorkQueues(), saga.KeyNotes, saga.KeyBookingNotified, "#", "payment_queue.x") {
			if match(topic, k) != contains(saga.KeysOf(part), k) {
				t.Errorf("%s's topic permission %s on key %s is wrong", part, topic, k)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mustVhost makes a vhost of its own on the local broker, and removes it
// and the users provisioned on it afterwards. It skips without a broker,
// except under CI.
func mustVhost(t *testing.T) (name string) {
	t.Helper()
	if conn, err := amqp.Dial("amqp://guest:guest@localhost:5672/"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ is not reachable on localhost:5672 (%v); CI must have it", err)
		}
		t.Skipf("RabbitMQ is not reachable on localhost:5672 (%v); run `make broker`", err)
	} else {
		conn.Close()
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name = "sagaboard-test-provision-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		_ = exec.Command("rabbitmqctl", "delete_vhost", name).Run()
		var users []string
		for _, p := range saga.Parts {
			users = append(users, `<<"`+UserFor(name, p)+`">>`)
		}
		_ = exec.Command("rabbitmqctl", "eval", `[rabbit_auth_backend_internal:delete_user(U, <<"sagaboard-test">>) || U <- [`+strings.Join(users, ",")+`]].`).Run()
	})
	return name
}

// provisioned checks what a user of a provisioned vhost relies on: every
// part logs in as itself, guest does not get in, the file is private, and a
// part can publish only what it may send.
func provisioned(t *testing.T, vhost, dir string) {
	t.Helper()
	creds, err := ReadCredentials(dir)
	if err != nil || creds == nil {
		t.Fatalf("credentials: %v %v", creds, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, CredentialsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v (%v), want 0600", CredentialsFile, fi.Mode().Perm(), err)
	}
	if strings.Contains(creds.URL, "guest") || creds.Vhost != vhost {
		t.Errorf("credentials URL %q vhost %q: want the vhost and no user", creds.URL, creds.Vhost)
	}
	for _, p := range saga.Parts {
		u, err := creds.PartURL(creds.URL, p)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := amqp.Dial(u)
		if err != nil {
			t.Errorf("%s cannot log in: %v", p, err)
			continue
		}
		conn.Close()
	}
	if conn, err := amqp.Dial("amqp://guest:guest@localhost:5672/" + vhost); err == nil {
		conn.Close()
		t.Error("guest still gets into the provisioned vhost")
	}
	u, _ := creds.PartURL(creds.URL, saga.PartPayment)
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	publish := func(key string) bool {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, saga.Exchange, key, false, false, amqp.Publishing{Body: []byte("{}")})
		if err != nil {
			return false
		}
		ok, err := dc.WaitContext(ctx)
		return err == nil && ok
	}
	if !publish(saga.SeatUpdateQueue) {
		t.Error("payment cannot publish to seat_update_queue, its own next step")
	}
	if publish(saga.PaymentQueue) {
		t.Error("payment published to payment_queue, which only booking may")
	}
}

func TestProvisionWithRabbitmqctl(t *testing.T) {
	vhost, dir := mustVhost(t), t.TempDir()
	url := "amqp://guest:guest@localhost:5672/" + vhost
	if _, err := Provision(context.Background(), ProvisionOptions{URL: url, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	provisioned(t, vhost, dir)
	first, _ := ReadCredentials(dir)
	// Run again, it keeps the passwords, so running processes stay in.
	if _, err := Provision(context.Background(), ProvisionOptions{URL: url, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if again, _ := ReadCredentials(dir); again.Parts[saga.PartWeb] != first.Parts[saga.PartWeb] {
		t.Error("a second setup-broker changed the passwords")
	}
	if _, err := Provision(context.Background(), ProvisionOptions{URL: "amqp://guest:guest@localhost:5672/", Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "vhost") {
		t.Errorf("provisioning / = %v, want a sentence that asks for a vhost of its own", err)
	}
}

// TestProvisionThroughTheManagementAPI sends the definitions as the
// management API takes them. The machine's broker has no management plugin,
// so a small stand-in answers the two calls by handing their bodies to the
// broker's own import, as the plugin would: the broker itself judges them.
func TestProvisionThroughTheManagementAPI(t *testing.T) {
	vhost, dir := mustVhost(t), t.TempDir()
	var calls []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, _ := r.BasicAuth()
		calls = append(calls, r.Method+" "+r.URL.EscapedPath()+" as "+user+":"+pw)
		var cmd *exec.Cmd
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/definitions":
			body, _ := io.ReadAll(r.Body)
			if !json.Valid(body) {
				http.Error(w, "not JSON", http.StatusBadRequest)
				return
			}
			cmd = exec.Command("rabbitmqctl", "import_definitions")
			cmd.Stdin = bytes.NewReader(body)
		case r.Method == http.MethodDelete && r.URL.Path == "/api/permissions/"+vhost+"/guest":
			cmd = exec.Command("rabbitmqctl", "clear_permissions", "-p", vhost, "guest")
		default:
			http.NotFound(w, r)
			return
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			http.Error(w, string(out), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer api.Close()
	mgmt := strings.Replace(api.URL, "http://", "http://admin:s3cret@", 1)
	if _, err := Provision(context.Background(), ProvisionOptions{URL: "amqp://guest:guest@localhost:5672/" + vhost, Dir: dir, Management: mgmt}); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /api/definitions as admin:s3cret", "DELETE /api/permissions/" + vhost + "/guest as admin:s3cret"}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("management API calls:\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	provisioned(t, vhost, dir)
}

// TestProvisionAStreamTap provisions a vhost whose tap is a stream. The
// observer's user reads it from an offset with nothing but its read
// permission, and still may not configure (so not delete) it; the
// credentials file says the tap is a stream, so every process reads it as
// one.
func TestProvisionAStreamTap(t *testing.T) {
	vhost, dir := mustVhost(t), t.TempDir()
	url := "amqp://guest:guest@localhost:5672/" + vhost
	if _, err := Provision(context.Background(), ProvisionOptions{URL: url, Dir: dir, Tap: TapStream, TapRetention: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	provisioned(t, vhost, dir)
	creds, _ := ReadCredentials(dir)
	if creds.Tap != TapStream {
		t.Errorf("the credentials file says the tap is %q, want %q", creds.Tap, TapStream)
	}
	u, _ := creds.PartURL(creds.URL, saga.PartObserver)
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(10, 0, false); err != nil {
		t.Fatal(err)
	}
	// provisioned published {} on seat_update_queue as payment: the tap has it.
	ds, err := ch.Consume(saga.ObserverQueue, "", false, false, false, false, amqp.Table{"x-stream-offset": "first"})
	if err != nil {
		t.Fatalf("the observer's user cannot read the stream tap: %v", err)
	}
	select {
	case d := <-ds:
		if off, ok := d.Headers["x-stream-offset"].(int64); !ok || off != 0 || d.RoutingKey != saga.SeatUpdateQueue {
			t.Errorf("first message of the tap: offset %v, key %s; want offset 0, the one payment published", d.Headers["x-stream-offset"], d.RoutingKey)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream tap gave its reader nothing in 5s")
	}
	del, _ := conn.Channel()
	if _, err := del.QueueDelete(saga.ObserverQueue, false, false, false); err == nil {
		t.Error("the observer's user deleted the tap: it may read it, not configure it")
	}
}

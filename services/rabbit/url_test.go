package rabbit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/rabbit"
)

// secret is the password in every hostile URL below. Its pieces are
// checked too: a leak of half a password is still a leak.
const secret = "Zq9xW7kJ"

// leaks reports whether s shows the secret, or any 4 characters of it.
func leaks(s string) bool {
	for i := 0; i+4 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+4]) {
			return true
		}
	}
	return false
}

// hostileURLs are URLs a person may mistype or an attacker may pass, each
// carrying the secret where a password would be.
var hostileURLs = []string{
	"amqp:guest:" + secret + "@localhost:5672/",
	"amqp://guest:" + secret + "@[::1",
	"amqp://guest:" + secret + "@host:notaport/",
	"http://guest:" + secret + "@x/",
	"amqp:///guest:" + secret + "@localhost/",
	"amqp://guest:" + secret + "@localhost:99999/",
	"amqp://guest:" + secret + "@local host/",
	"amqp://guest:" + secret + "%zz@localhost/",
	"amqp://guest:" + secret[:4] + "/" + secret[4:] + "@localhost/",
	"amqp://guest:" + secret + "@localhost/?heartbeat=" + secret,
	"amqps//guest:" + secret + "@localhost/",
	"guest:" + secret + "@localhost",
	secret,
	"amqp://guest:" + secret + "@",
	"amqp://guest:" + secret + "@:5672/",
	"amqp://guest:" + secret + "@localhost:5672/\x7f",
	" amqp://guest:" + secret + "@localhost/",
}

func TestHostileURLsAreRefusedWithoutTheirPassword(t *testing.T) {
	for _, raw := range hostileURLs {
		err := rabbit.ValidateURL(raw)
		if err == nil {
			t.Errorf("ValidateURL(%q) = nil, want an error", raw)
			continue
		}
		if leaks(err.Error()) {
			t.Errorf("ValidateURL(%q) = %q: shows the password", raw, err)
		}

		// A Broker given one anyway (ValidateURL skipped) never dials it, and
		// says why without the password, in its log, its health and its
		// status: those reach the log, /healthz and the page.
		var log bytes.Buffer
		b := rabbit.Open(rabbit.Config{URL: raw, Log: slog.New(slog.NewTextHandler(&log, nil))})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		werr := b.WaitFirst(ctx)
		cancel()
		if !errors.Is(werr, rabbit.ErrPermanent) {
			t.Errorf("WaitFirst with %q = %v, want ErrPermanent", raw, werr)
		}
		_, lastErr, _, _ := b.Status()
		for what, s := range map[string]string{"WaitFirst": errText(werr), "Healthy": errText(b.Healthy()), "Status": errText(lastErr), "log": log.String()} {
			if leaks(s) {
				t.Errorf("%s with %q shows the password: %s", what, raw, s)
			}
		}
		b.Close()
	}
}

func TestGoodURLsAreAccepted(t *testing.T) {
	for _, raw := range []string{
		"amqp://guest:guest@localhost:5672/",
		"amqp://localhost",
		"amqps://user:p%40ss%2Fword@rabbit.example:5671/prod",
		"amqp://guest:guest@[::1]:5672/vhost",
		"amqp://guest:guest@127.0.0.1/?heartbeat=10",
	} {
		if err := rabbit.ValidateURL(raw); err != nil {
			t.Errorf("ValidateURL(%q) = %v, want nil", raw, err)
		}
	}
}

func TestAMissingSlashIsNamed(t *testing.T) {
	err := rabbit.ValidateURL("amqp:guest:" + secret + "@localhost:5672/")
	if err == nil || !strings.Contains(err.Error(), "//") {
		t.Errorf("ValidateURL without // = %v, want it to say there must be //", err)
	}
	err = rabbit.ValidateURL("http://guest:" + secret + "@x/")
	if err == nil || !strings.Contains(err.Error(), "amqp://") {
		t.Errorf("ValidateURL of http:// = %v, want it to ask for amqp://", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

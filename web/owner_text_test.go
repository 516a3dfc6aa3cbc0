package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
)

// metricLine is one sample of the Prometheus text format.
type metricLine struct {
	name   string
	labels map[string]string
	value  string
}

// parseMetric reads one sample line the way Prometheus does: label values
// in double quotes, with only \\, \" and \n escaped.
func parseMetric(line string) (metricLine, error) {
	m := metricLine{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return m, fmt.Errorf("no metric name")
	}
	m.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq <= 0 {
				return m, fmt.Errorf("a label without =\"")
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			for {
				if line == "" {
					return m, fmt.Errorf("label %s is not closed", key)
				}
				c := line[0]
				line = line[1:]
				if c == '"' {
					break
				}
				if c == '\n' {
					return m, fmt.Errorf("a raw newline in label %s", key)
				}
				if c == '\\' {
					if line == "" {
						return m, fmt.Errorf("a lone backslash in label %s", key)
					}
					switch e := line[0]; e {
					case '\\', '"':
						val.WriteByte(e)
					case 'n':
						val.WriteByte('\n')
					default:
						return m, fmt.Errorf("escape \\%c in label %s is not in the text format", e, key)
					}
					line = line[1:]
					continue
				}
				val.WriteByte(c)
			}
			m.labels[key] = val.String()
			line = strings.TrimPrefix(line, ",")
		}
	}
	if !strings.HasPrefix(line, " ") {
		return m, fmt.Errorf("no space before the value")
	}
	m.value = strings.TrimSpace(line)
	if _, err := strconv.ParseFloat(m.value, 64); err != nil {
		return m, fmt.Errorf("value %q is not a number", m.value)
	}
	return m, nil
}

// TestMetricsLabelsAreEscapedAndBounded feeds the observer messages whose
// routing keys and types anybody on the broker could make up.
func TestMetricsLabelsAreEscapedAndBounded(t *testing.T) {
	l := mustLab(t, labOptions{run: true})
	l.settled("alice", "A1")
	ctx := context.Background()
	hostile := []string{"evil\tqueue", `q"} 1` + "\nsagaboard_broker_up 0\n#", `back\slash`, "\x00\x01"}
	for i := 0; i < 60; i++ {
		hostile = append(hostile, fmt.Sprintf("made.up.key.%d", i))
	}
	for _, h := range hostile {
		if err := l.Bus.Publish(ctx, saga.Message{ID: saga.NewID(), Type: h + "Type", RoutingKey: h, Source: "mallory", Timestamp: time.Now(), Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	known := map[string]bool{"other": true, saga.KeyBookingNotified: true, saga.KeyNotes: true}
	for _, q := range saga.WorkQueues() {
		known[q] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, body := l.fetch("/metrics")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d", res.StatusCode)
		}
		var other float64
		series := 0
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
				continue
			}
			m, err := parseMetric(line)
			if err != nil {
				t.Fatalf("/metrics line %q: %v\n%s", line, err, body)
			}
			if m.name == "sagaboard_broker_up" && m.value != "1" {
				t.Fatalf("a routing key forged sagaboard_broker_up:\n%s", body)
			}
			if m.name != "sagaboard_messages_total" {
				continue
			}
			series++
			if !known[m.labels["queue"]] {
				t.Fatalf("queue label %q is not one of the saga's queues nor other:\n%s", m.labels["queue"], body)
			}
			if typ := m.labels["type"]; strings.Contains(typ, "Type") && typ != "other" {
				t.Fatalf("made-up type %q became a label:\n%s", typ, body)
			}
			if m.labels["queue"] == "other" {
				v, _ := strconv.ParseFloat(m.value, 64)
				other += v
			}
		}
		if series > 30 {
			t.Fatalf("%d series of sagaboard_messages_total: made-up keys each got one", series)
		}
		if other == float64(len(hostile)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d made-up messages add to queue=\"other\" %v, want all of them:\n%s", len(hostile), other, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInvalidUTF8IsRefusedWithASentence: encoding/json and form decoding
// would store U+FFFD in place of what was sent, without a word.
func TestInvalidUTF8IsRefusedWithASentence(t *testing.T) {
	l := mustLab(t, labOptions{})
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/bookings", "{\"user_id\":\"al\xffice\",\"seats\":[\"A1\"]}"},
		{"POST", "/api/bookings", `{"user_id":"\ud800","seats":["A1"]}`},
		{"POST", "/api/bookings", `{"user_id":"\udc00\ud800","seats":["A1"]}`},
		{"PUT", "/api/failures", "{\"payment\":{\"user_id\":\"\xc3\x28\"}}"},
		{"POST", "/api/load", "{\"n\":1,\"note\":\"\xff\"}"},
	} {
		res, body := l.send(tc.method, tc.path, tc.body, nil)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s %q: %d %s, want 400", tc.method, tc.path, tc.body, res.StatusCode, body)
			continue
		}
		if msg := errorSentence(t, tc.path, body); !strings.Contains(msg, "UTF") {
			t.Errorf("%s %s %q: says %q; want it to say the text is not UTF-8", tc.method, tc.path, tc.body, msg)
		}
	}
	res, body := l.postForm("/ui/bookings", url.Values{"user_id": {"bob\xff"}, "seats": {"A2"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "UTF-8") {
		t.Errorf("booking form with %q: %d %s, want 400 and a sentence", "bob\xff", res.StatusCode, body)
	}
	// The switch form's scope goes through json.Marshal, which would
	// turn the byte into U+FFFD too.
	res, body = l.postForm("/ui/failures", url.Values{"payment.user_id": {"carol\xff"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "UTF-8") {
		t.Errorf("switch form with %q: %d %s, want 400 and a sentence", "carol\xff", res.StatusCode, body)
	}
	if sw := l.Switches.All(); sw[saga.PartPayment].UserID != "" {
		t.Errorf("the refused PUT scoped payment to %q", sw[saga.PartPayment].UserID)
	}
	if list, err := l.Booking.List(context.Background(), booking.Filter{}); err != nil || len(list) != 0 {
		t.Errorf("bookings = %v (%v), want none from refused requests", list, err)
	}
	// Real text, escaped or not, is fine.
	for i, body := range []string{`{"user_id":"zoë","seats":["B1"]}`, `{"user_id":"\ud83d\ude00","seats":["B2"]}`} {
		if res, got := l.send("POST", "/api/bookings", body, nil); res.StatusCode != http.StatusAccepted {
			t.Errorf("booking %d %s: %d %s, want 202", i, body, res.StatusCode, got)
		}
	}
}

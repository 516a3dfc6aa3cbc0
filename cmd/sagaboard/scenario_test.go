package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scenarioReport is GET /api/scenarios/runs/{run}.
type scenarioReport struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Verdict string `json:"verdict"`
	Steps   []struct {
		Text     string `json:"text"`
		OK       bool   `json:"ok"`
		Done     bool   `json:"done"`
		Expected string `json:"expected"`
		Seen     string `json:"seen"`
	} `json:"steps"`
	Restored string `json:"restored"`
}

// runScenario plays a scenario on p through the API and waits for its
// verdict.
func runScenario(t *testing.T, p *Proc, path string, body any, timeout time.Duration) scenarioReport {
	t.Helper()
	var started struct {
		Run string `json:"run"`
	}
	if code := p.Do("POST", path, body, &started); code != http.StatusAccepted || started.Run == "" {
		t.Fatalf("POST %s: %d %+v", path, code, started)
	}
	deadline := time.Now().Add(timeout)
	for {
		var rep scenarioReport
		if code := p.Do("GET", "/api/scenarios/runs/"+started.Run, nil, &rep); code != http.StatusOK {
			t.Fatalf("GET run %s: %d", started.Run, code)
		}
		if rep.State != "running" {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still running after %s: %+v", started.Run, timeout, rep)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func explain(rep scenarioReport) string {
	var b strings.Builder
	b.WriteString(rep.Verdict + "\n")
	for i, s := range rep.Steps {
		mark := "✔"
		if !s.OK {
			mark = "✖"
		}
		if !s.Done {
			mark = "·"
		}
		b.WriteString(strings.Repeat(" ", 2) + mark + " " + fmt.Sprint(i+1) + ". " + s.Text + " | expected: " + s.Expected + " | seen: " + s.Seen + "\n")
	}
	return b.String()
}

// TestBuiltinScenariosPass is the regression suite of the lessons: every
// built-in scenario, played by the real binary against the real broker,
// ends passed, and puts back every switch it changed. The deadline is
// short, as the deadline lesson needs.
func TestBuiltinScenariosPass(t *testing.T) {
	p, _ := startSaga(t, "-deadline", "3s")
	var list []struct {
		Name  string `json:"name"`
		Title string `json:"title"`
		Steps int    `json:"steps"`
	}
	if code := p.Do("GET", "/api/scenarios", nil, &list); code != http.StatusOK || len(list) != 5 {
		t.Fatalf("GET /api/scenarios: %d %+v, want the five built in", code, list)
	}
	var before json.RawMessage
	p.Do("GET", "/api/failures", nil, &before)
	for _, s := range list {
		t.Run(s.Name, func(t *testing.T) {
			start := time.Now()
			rep := runScenario(t, p, "/api/scenarios/"+s.Name+"/run", nil, 3*time.Minute)
			if rep.State != "passed" || len(rep.Steps) != s.Steps {
				t.Fatalf("%s: %s", s.Name, explain(rep))
			}
			t.Logf("%s passed in %s; %s", s.Name, time.Since(start).Round(100*time.Millisecond), rep.Restored)
			var after json.RawMessage
			p.Do("GET", "/api/failures", nil, &after)
			if string(after) != string(before) {
				t.Errorf("switches after %s = %s, want them put back as %s", s.Name, after, before)
			}
		})
	}
	if code := p.Do("POST", "/api/scenarios/no-such/run", nil, nil); code != http.StatusNotFound {
		t.Errorf("POST an unknown scenario: %d, want 404", code)
	}
}

// TestScenarioRunIsBusyWhileItRuns: the same scenario cannot be started
// twice at once.
func TestScenarioRunIsBusyWhileItRuns(t *testing.T) {
	p, _ := startSaga(t, "-deadline", "3s")
	var first struct{ Run string }
	if code := p.Do("POST", "/api/scenarios/the-deadline/run", nil, &first); code != http.StatusAccepted {
		t.Fatalf("first run: %d", code)
	}
	var e struct{ Error string }
	if code := p.Do("POST", "/api/scenarios/the-deadline/run", nil, &e); code != http.StatusConflict || !strings.Contains(e.Error, "running already") {
		t.Errorf("second run while the first plays: %d %q, want 409 with a sentence", code, e.Error)
	}
}

// wrongExpectation is the why-did-it-fail lesson's first steps with one
// deliberately wrong guess: mallory's declined booking expected confirmed.
const wrongExpectation = `{
  "name": "wrong-guess",
  "title": "A wrong guess",
  "steps": [
    {"say": "Payment declines mallory's next booking.", "switches": {"payment": {"fail_next": 1, "user_id": "mallory"}}},
    {"say": "Mallory books.", "book": {"user": "mallory"}},
    {"say": "Her booking is confirmed (it is not).", "expect": {"booking": "mallory", "status": "confirmed", "within": "3s"}},
    {"say": "Every invariant holds.", "expect": {"invariants": true}}
  ]
}`

// TestScenarioWrongExpectationIsRed: a wrong expectation makes the run
// red, with a sentence that says what differed, and the other steps are
// still played and green.
func TestScenarioWrongExpectationIsRed(t *testing.T) {
	p, _ := startSaga(t, "-deadline", "3s")
	rep := runScenario(t, p, "/api/scenarios/run", json.RawMessage(wrongExpectation), time.Minute)
	if rep.State != "failed" {
		t.Fatalf("state %s, want failed:\n%s", rep.State, explain(rep))
	}
	s := rep.Steps[2]
	if s.OK || !s.Done || !strings.Contains(s.Expected, "confirmed") || !strings.Contains(s.Seen, "status compensated") || !strings.Contains(s.Seen, "declined") {
		t.Errorf("the wrong step does not say what differed:\n%s", explain(rep))
	}
	if !rep.Steps[3].OK || !strings.Contains(rep.Verdict, "step 3") {
		t.Errorf("the rest should play on, green, and the verdict name step 3:\n%s", explain(rep))
	}
	if !strings.Contains(rep.Restored, "payment") {
		t.Errorf("restored = %q, want payment put back", rep.Restored)
	}
}

// TestRecordedDeclineReplaysOnAFreshServer records a declined payment
// through the API, then plays the document it made on a second server
// with a fresh data folder: the same outcomes, passed.
func TestRecordedDeclineReplaysOnAFreshServer(t *testing.T) {
	p, _ := startSaga(t, "-deadline", "3s")
	if code := p.Do("POST", "/api/scenarios/record/start", nil, nil); code != http.StatusOK {
		t.Fatalf("record/start: %d", code)
	}
	p.SetSwitches(`{"payment":{"fail_next":1,"user_id":"mallory"}}`)
	mal := p.Book("mallory", "B2")
	p.WaitFor(mal, 10*time.Second, "declined", func(b Booking) bool { return b.Status == "compensated" })
	ann := p.Book("ann", "B3")
	p.WaitFor(ann, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	// And one from the page's form, as a person books.
	res, err := http.PostForm(p.URL+"/ui/bookings", url.Values{"user_id": {"bea"}, "seats": {"B4"}})
	if err != nil || res.StatusCode/100 != 2 && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("book from the form: %v %v", err, res)
	}
	res.Body.Close()
	time.Sleep(time.Second) // the form's booking is decided before the recording stops
	var doc json.RawMessage
	if code := p.Do("POST", "/api/scenarios/record/stop", nil, &doc); code != http.StatusOK {
		t.Fatalf("record/stop: %d %s", code, doc)
	}
	for _, want := range []string{`"fail_next": 1`, `"user_id": "mallory"`, `"status": "compensated"`, `"reason": "declined: payment.fail_next=1"`, `"status": "confirmed"`, `"user": "bea"`, `"booking": "bea"`} {
		if !strings.Contains(indent(doc), want) {
			t.Errorf("the recording lacks %s:\n%s", want, indent(doc))
		}
	}

	fresh, _ := startSaga(t, "-deadline", "3s")
	rep := runScenario(t, fresh, "/api/scenarios/run", doc, time.Minute)
	if rep.State != "passed" {
		t.Fatalf("the recording replayed on a fresh server: %s\n%s", rep.State, explain(rep))
	}

	// And from the command line, as CI would: exit 0 on this document, 1
	// on the wrong guess, 2 on a document that is not one.
	dir := t.TempDir()
	write := func(name, body string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(fresh.URL, "http://"), "/")
	for _, c := range []struct {
		file string
		code int
		out  string
	}{
		{write("recorded.json", string(doc)), 0, "Passed"},
		{write("wrong.json", wrongExpectation), 1, "expected: mallory: confirmed"},
		{write("bad.json", `{"name":"x","title":"X","steps":[{"say":"hi","sleep":"1s"}]}`), 2, `unknown field "sleep"`},
	} {
		start := time.Now()
		out, err := exec.Command(binary, "-scenario", c.file, "-addr", addr).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(string(out), c.out) {
			t.Errorf("sagaboard -scenario %s: exit %d, want %d with %q:\n%s", filepath.Base(c.file), code, c.code, c.out, out)
		}
		t.Logf("-scenario %s: exit %d in %s", filepath.Base(c.file), code, time.Since(start).Round(100*time.Millisecond))
	}
}

func indent(b []byte) string {
	var v any
	_ = json.Unmarshal(b, &v)
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

package scenario

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	"github.com/sagaboard/sagaboard/services/saga"
)

//go:embed builtin/*.json
var builtinFS embed.FS

// Builtin returns the scenarios that ship with sagaboard, in the README's
// order. They are checked by a test, so a broken one never ships.
func Builtin() []Document {
	names, _ := fs.Glob(builtinFS, "builtin/*.json")
	sort.Strings(names)
	var docs []Document
	for _, n := range names {
		b, _ := builtinFS.ReadFile(n)
		d, err := Parse(b)
		if err != nil {
			panic(fmt.Sprintf("scenario: built-in %s: %v", n, err)) // a test catches this before it ships
		}
		docs = append(docs, d)
	}
	return docs
}

// ErrNotFound is a scenario or run that does not exist.
var ErrNotFound = errors.New("scenario: not found")

// ErrBusy is a scenario that is already running, or a second recording.
var ErrBusy = errors.New("scenario: busy")

// maxRuns is how many finished runs are kept to be read.
const maxRuns = 100

// Library holds the scenarios a server offers and the runs it played.
type Library struct {
	docs   []Document
	client *Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	runs    map[string]*Run
	order   []string
	running map[string]string // scenario name → run id
	rec     *Recorder
}

// NewLibrary offers docs, played through c. state reads the switches and
// slow motion (ms) for the recorder; see Recorder.
func NewLibrary(docs []Document, c *Client, state func() (map[string]saga.Switch, int)) *Library {
	ctx, cancel := context.WithCancel(context.Background())
	return &Library{docs: docs, client: c, ctx: ctx, cancel: cancel, runs: map[string]*Run{}, running: map[string]string{},
		rec: NewRecorder(c, state)}
}

// Recorder returns the library's recorder.
func (l *Library) Recorder() *Recorder { return l.rec }

// List returns the scenarios offered.
func (l *Library) List() []Summary {
	out := make([]Summary, 0, len(l.docs))
	for _, d := range l.docs {
		out = append(out, d.Summary())
	}
	return out
}

// Get returns one scenario's document.
func (l *Library) Get(name string) (Document, error) {
	for _, d := range l.docs {
		if d.Name == name {
			return d, nil
		}
	}
	return Document{}, errorf(ErrNotFound, "no scenario is called %q", name)
}

// Start plays the named scenario in the background and returns its run id.
func (l *Library) Start(name string) (string, error) {
	d, err := l.Get(name)
	if err != nil {
		return "", err
	}
	return l.StartDocument(d)
}

// StartDocument plays d in the background; ErrBusy while a scenario of the
// same name runs.
func (l *Library) StartDocument(d Document) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.running[d.Name]; ok {
		return "", errorf(ErrBusy, "%s is running already (run %s); wait for its verdict", d.Name, id)
	}
	if l.ctx.Err() != nil {
		return "", errorf(ErrBusy, "the server is shutting down")
	}
	id := NewRunID()
	r := NewRun(d, l.client, id)
	l.runs[id] = r
	l.order = append(l.order, id)
	if len(l.order) > maxRuns {
		delete(l.runs, l.order[0])
		l.order = l.order[1:]
	}
	l.running[d.Name] = id
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		r.Play(l.ctx)
		l.mu.Lock()
		delete(l.running, d.Name)
		l.mu.Unlock()
	}()
	return id, nil
}

// Report returns a run's report.
func (l *Library) Report(id string) (Report, error) {
	l.mu.Lock()
	r, ok := l.runs[id]
	l.mu.Unlock()
	if !ok {
		return Report{}, errorf(ErrNotFound, "no run %q (runs are kept in memory, the last %d)", id, maxRuns)
	}
	return r.Report(), nil
}

// Latest returns the report of the run started last, and false before any.
func (l *Library) Latest() (Report, bool) {
	l.mu.Lock()
	if len(l.order) == 0 {
		l.mu.Unlock()
		return Report{}, false
	}
	r := l.runs[l.order[len(l.order)-1]]
	l.mu.Unlock()
	return r.Report(), true
}

// Close stops the runs, which put their switches back, and waits for them.
func (l *Library) Close() {
	l.cancel()
	l.wg.Wait()
}

// NewRunID returns a short random id: a run's users carry it, so it is
// short enough to read and to fit a user id.
func NewRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

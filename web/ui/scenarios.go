package ui

import (
	"errors"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/sagaboard/sagaboard/services/scenario"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/httperr"
)

// scenarioRoutes registers the scenarios panel and its buttons. The panel
// loads itself into the dashboard, so the dashboard's own model need not
// know of it.
func (h *Handler) scenarioRoutes(m *http.ServeMux, guard func(http.HandlerFunc) http.HandlerFunc) {
	if h.cfg.Scenarios == nil {
		return
	}
	m.HandleFunc("GET /ui/scenarios", h.scenariosPanel)
	m.HandleFunc("POST /ui/scenarios/{name}/run", guard(h.runScenarioFromPage))
	m.HandleFunc("POST /ui/scenarios/recorded/run", guard(h.runRecordedFromPage))
	m.HandleFunc("GET /ui/scenarios/runs/{run}", h.scenarioRunFragment)
	m.HandleFunc("POST /ui/scenarios/record/start", guard(h.recordFromPage(true)))
	m.HandleFunc("POST /ui/scenarios/record/stop", guard(h.recordFromPage(false)))
	m.HandleFunc("GET /ui/scenarios/recorded.json", h.recordedDownload)
}

// scenariosPanel is GET /ui/scenarios; ?run= shows that run in it.
func (h *Handler) scenariosPanel(w http.ResponseWriter, r *http.Request) {
	lib := h.cfg.Scenarios
	v := views.ScenariosView{List: lib.List(), Recording: lib.Recorder().Recording(), Recorded: string(lib.Recorder().Last())}
	if id := r.URL.Query().Get("run"); id != "" {
		if rep, err := lib.Report(id); err == nil {
			v.Run = &rep
		}
	} else if rep, ok := lib.Latest(); ok && (rep.State == scenario.Running || time.Since(rep.Ended) < 10*time.Minute) {
		// A page opened while a lesson plays, or just after, shows it.
		v.Run = &rep
	}
	h.fragment(w, r, views.ScenariosPanel(v))
}

func (h *Handler) runScenarioFromPage(w http.ResponseWriter, r *http.Request) {
	h.showRun(w, r, func() (string, error) { return h.cfg.Scenarios.Start(r.PathValue("name")) })
}

func (h *Handler) runRecordedFromPage(w http.ResponseWriter, r *http.Request) {
	h.showRun(w, r, func() (string, error) {
		d, err := scenario.Parse(h.cfg.Scenarios.Recorder().Last())
		if err != nil {
			return "", err
		}
		return h.cfg.Scenarios.StartDocument(d)
	})
}

// showRun starts a run and answers with it, playing; a run that cannot
// start answers its sentence in its place.
func (h *Handler) showRun(w http.ResponseWriter, r *http.Request, start func() (string, error)) {
	id, err := start()
	if err == nil {
		var rep scenario.Report
		if rep, err = h.cfg.Scenarios.Report(id); err == nil {
			h.fragment(w, r, views.ScenarioRun(rep))
			return
		}
	}
	var se *scenario.Error
	msg := "the scenario could not start; see the server log"
	if errors.As(err, &se) {
		msg = se.Sentence
	} else {
		h.log.Error("scenario: start", "err", err)
	}
	h.fragment(w, r, views.ScenarioMsg(msg))
}

func (h *Handler) scenarioRunFragment(w http.ResponseWriter, r *http.Request) {
	rep, err := h.cfg.Scenarios.Report(r.PathValue("run"))
	if err != nil {
		h.fragment(w, r, views.ScenarioMsg(err.Error()))
		return
	}
	h.fragment(w, r, views.ScenarioRun(rep))
}

func (h *Handler) recordFromPage(start bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := h.cfg.Scenarios.Recorder()
		var err error
		if start {
			err = rec.Start()
		} else {
			_, err = rec.Stop(r.Context())
		}
		if err != nil {
			h.fragment(w, r, views.ScenarioRecorder(rec.Recording(), string(rec.Last()), err.Error()))
			return
		}
		h.fragment(w, r, views.ScenarioRecorder(rec.Recording(), string(rec.Last()), ""))
	}
}

// recordedDownload is the last recording, as a file to keep.
func (h *Handler) recordedDownload(w http.ResponseWriter, r *http.Request) {
	b := h.cfg.Scenarios.Recorder().Last()
	if b == nil {
		h.message(w, r, httperr.Errorf(httperr.NotFound, "nothing was recorded yet: press Record, act, then Stop"))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="scenario-recorded.json"`)
	_, _ = w.Write(append(b, '\n'))
}

// fragment renders parts of a page for htmx to swap in.
func (h *Handler) fragment(w http.ResponseWriter, r *http.Request, cs ...templ.Component) {
	h.render(w, r, http.StatusOK, templ.Join(cs...))
}

package api

import (
	"errors"
	"net/http"

	"github.com/sagaboard/sagaboard/services/scenario"
	"github.com/sagaboard/sagaboard/web/httperr"
)

// scenarioRoutes registers the scenarios' routes: the list, a document,
// running one (built in, or posted), a run's report, and recording.
func (h *Handler) scenarioRoutes(m *http.ServeMux, guard func(http.HandlerFunc) http.HandlerFunc) {
	if h.cfg.Scenarios == nil {
		return // a test of the API alone
	}
	m.HandleFunc("GET /api/scenarios", h.listScenarios)
	m.HandleFunc("GET /api/scenarios/{name}", h.getScenario)
	m.HandleFunc("POST /api/scenarios/{name}/run", guard(h.runScenario))
	m.HandleFunc("POST /api/scenarios/run", guard(h.runPostedScenario))
	m.HandleFunc("GET /api/scenarios/runs/{run}", h.scenarioRun)
	m.HandleFunc("POST /api/scenarios/record/start", guard(h.startRecording))
	m.HandleFunc("POST /api/scenarios/record/stop", guard(h.stopRecording))
}

// ScenarioError turns a scenario's error into the API's: its kind is the
// status, its sentence the message.
func ScenarioError(err error) error {
	var se *scenario.Error
	if !errors.As(err, &se) {
		return err
	}
	code := httperr.Invalid
	switch {
	case errors.Is(err, scenario.ErrNotFound):
		code = httperr.NotFound
	case errors.Is(err, scenario.ErrBusy):
		code = httperr.Conflict
	}
	return &httperr.Error{Code: code, Message: se.Sentence, Err: err}
}

func (h *Handler) listScenarios(w http.ResponseWriter, _ *http.Request) {
	httperr.WriteJSON(w, http.StatusOK, h.cfg.Scenarios.List())
}

func (h *Handler) getScenario(w http.ResponseWriter, r *http.Request) {
	d, err := h.cfg.Scenarios.Get(r.PathValue("name"))
	if err != nil {
		h.fail(w, r, ScenarioError(err))
		return
	}
	httperr.WriteJSON(w, http.StatusOK, d)
}

func (h *Handler) runScenario(w http.ResponseWriter, r *http.Request) {
	id, err := h.cfg.Scenarios.Start(r.PathValue("name"))
	if err != nil {
		h.fail(w, r, ScenarioError(err))
		return
	}
	w.Header().Set("Location", "/api/scenarios/runs/"+id)
	httperr.WriteJSON(w, http.StatusAccepted, map[string]string{"run": id})
}

// runPostedScenario plays a document sent in the body, e.g. a recording.
func (h *Handler) runPostedScenario(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := scenario.Parse(body)
	if err == nil {
		var id string
		if id, err = h.cfg.Scenarios.StartDocument(d); err == nil {
			w.Header().Set("Location", "/api/scenarios/runs/"+id)
			httperr.WriteJSON(w, http.StatusAccepted, map[string]string{"run": id})
			return
		}
	}
	h.fail(w, r, ScenarioError(err))
}

func (h *Handler) scenarioRun(w http.ResponseWriter, r *http.Request) {
	rep, err := h.cfg.Scenarios.Report(r.PathValue("run"))
	if err != nil {
		h.fail(w, r, ScenarioError(err))
		return
	}
	httperr.WriteJSON(w, http.StatusOK, rep)
}

func (h *Handler) startRecording(w http.ResponseWriter, r *http.Request) {
	if err := h.cfg.Scenarios.Recorder().Start(); err != nil {
		h.fail(w, r, ScenarioError(err))
		return
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]bool{"recording": true})
}

// stopRecording ends the recording and answers with its document.
func (h *Handler) stopRecording(w http.ResponseWriter, r *http.Request) {
	d, err := h.cfg.Scenarios.Recorder().Stop(r.Context())
	if err != nil {
		h.fail(w, r, ScenarioError(err))
		return
	}
	httperr.WriteJSON(w, http.StatusOK, d)
}

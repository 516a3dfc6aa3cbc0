package api

import (
	"net/http"

	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web/httperr"
)

// The controls beside the failure switches, each an endpoint of its own so
// that GET/PUT /api/failures stay a map of participants, as the contract
// promises: slow motion, let one through, and the poison button.

// slowMotion is GET and PUT /api/slow-motion's body.
type slowMotion struct {
	DelayMS int `json:"delay_ms"`
}

func (h *Handler) getSlowMotion(w http.ResponseWriter, _ *http.Request) {
	httperr.WriteJSON(w, http.StatusOK, slowMotion{DelayMS: int(h.src.Switches.Slow().Milliseconds())})
}

func (h *Handler) putSlowMotion(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req struct {
		DelayMS *int `json:"delay_ms"`
	}
	if err := saga.DecodeStrict(body, &req); err != nil || req.DelayMS == nil {
		h.fail(w, r, httperr.Errorf(httperr.Invalid, "body must be an object like {\"delay_ms\":500}; 0 turns slow motion off"))
		return
	}
	if err := h.src.SetSlow(r.Context(), h.log, *req.DelayMS); err != nil {
		h.fail(w, r, err)
		return
	}
	h.getSlowMotion(w, r)
}

func (h *Handler) letOneThrough(w http.ResponseWriter, r *http.Request) {
	part := r.PathValue("participant")
	if err := h.src.LetOneThrough(r.Context(), h.log, part); err != nil {
		h.fail(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusAccepted, map[string]any{"participant": part, "permits": h.src.Switches.Permits(part)})
}

func (h *Handler) sendPoison(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req struct {
		Queue string `json:"queue"`
		Kind  string `json:"kind"`
	}
	if err := saga.DecodeStrict(body, &req); err != nil {
		h.fail(w, r, httperr.Errorf(httperr.Invalid, "body must be an object like {\"queue\":\"payment_queue\",\"kind\":\"bad_json\"}"))
		return
	}
	m, err := h.src.Observer.SendPoison(r.Context(), req.Queue, req.Kind)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusAccepted, map[string]string{"message_id": m.ID, "queue": req.Queue, "kind": req.Kind})
}

package web

import (
	"errors"
	"net/http"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

func (s *Server) listSteps(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "task")
	if !ok {
		return
	}
	task, err := s.cfg.Store.GetTask(r.Context(), id)
	if s.storeError(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflow_steps": task.Steps})
}

func (s *Server) getStep(w http.ResponseWriter, r *http.Request) {
	taskID, ok := pathID(w, r, "id", "task")
	if !ok {
		return
	}
	stepID, ok := pathID(w, r, "step_id", "step")
	if !ok {
		return
	}
	step, err := s.cfg.Store.Step(r.Context(), taskID, stepID)
	if s.storeError(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, step)
}

// storeError answers for a failed store call and reports whether it did:
// 404 for what does not exist, 409 for an action its state does not allow,
// 400 for a value the database refused.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, core.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		writeProblem(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrInvalid):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
	default:
		s.internalError(w, r, err)
	}
	return true
}

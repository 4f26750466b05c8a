package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// pathID reads a positive integer path value, answering 400 when it is not one.
func pathID(w http.ResponseWriter, r *http.Request, name, what string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("%s id %q is not a positive integer", what, r.PathValue(name)))
		return 0, false
	}
	return id, true
}

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
// 404 for what does not exist, 409 for an action its state does not allow.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, core.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		writeProblem(w, r, http.StatusConflict, err.Error())
	default:
		s.internalError(w, r, err)
	}
	return true
}

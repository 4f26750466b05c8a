package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tasker-systems/tasker/core/store"
)

// taskPatch is the body of PATCH /tasks/{id}: each field present replaces
// the task's; at least one must be.
type taskPatch struct {
	Reason *string   `json:"reason"`
	Tags   *[]string `json:"tags"`
}

// stepPatch is the body of PATCH /tasks/{id}/workflow_steps/{step_id}.
type stepPatch struct {
	RetryLimit *int            `json:"retry_limit"`
	Inputs     json.RawMessage `json:"inputs"`
}

// updateTask changes a task's reason and tags, in any state (they are
// metadata), and answers with the task as GET /tasks/{id} does.
func (s *Server) updateTask(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "task")
	if !ok {
		return
	}
	var body taskPatch
	if err := s.decode(w, r, &body); err != nil {
		writeProblem(w, r, statusOf(err), err.Error())
		return
	}
	if body.Reason == nil && body.Tags == nil {
		writeProblem(w, r, http.StatusBadRequest, `nothing to change: give "reason", "tags" or both`)
		return
	}
	u := store.TaskUpdate{Reason: body.Reason}
	if body.Reason != nil {
		if err := checkReason(`field "reason"`, *body.Reason); err != nil {
			writeProblem(w, r, http.StatusBadRequest, err.Error())
			return
		}
	}
	if body.Tags != nil {
		tags, err := checkTags(`field "tags"`, *body.Tags)
		if err != nil {
			writeProblem(w, r, http.StatusBadRequest, err.Error())
			return
		}
		u.Tags = tags
	}
	if s.storeError(w, r, s.cfg.Store.UpdateTask(r.Context(), id, u, actor(r))) {
		return
	}
	task, err := s.cfg.Store.GetTask(r.Context(), id)
	if s.storeError(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, task)
}

// updateStep changes a step's retry_limit and inputs, all or nothing; the
// database refuses what the step's state does not allow (409). It answers
// with the step as GET of the step does.
func (s *Server) updateStep(w http.ResponseWriter, r *http.Request) {
	taskID, ok := pathID(w, r, "id", "task")
	if !ok {
		return
	}
	stepID, ok := pathID(w, r, "step_id", "step")
	if !ok {
		return
	}
	var body stepPatch
	if err := s.decode(w, r, &body); err != nil {
		writeProblem(w, r, statusOf(err), err.Error())
		return
	}
	if body.RetryLimit == nil && body.Inputs == nil {
		writeProblem(w, r, http.StatusBadRequest, `nothing to change: give "retry_limit", "inputs" or both`)
		return
	}
	if n := body.RetryLimit; n != nil && (*n < 1 || *n > maxRetry) {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf(`field "retry_limit" is %d: it counts every attempt, the first included, and must be from 1 to %d`, *n, maxRetry))
		return
	}
	if body.Inputs != nil && !bytes.HasPrefix(bytes.TrimSpace(body.Inputs), []byte("{")) {
		writeProblem(w, r, http.StatusBadRequest, `field "inputs" must be a JSON object (send {} to clear the inputs)`)
		return
	}
	err := s.cfg.Store.UpdateStep(r.Context(), taskID, stepID, store.StepUpdate{RetryLimit: body.RetryLimit, Inputs: body.Inputs}, actor(r))
	if s.storeError(w, r, err) {
		return
	}
	step, err := s.cfg.Store.Step(r.Context(), taskID, stepID)
	if s.storeError(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, step)
}

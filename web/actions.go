package web

import (
	"encoding/json"
	"net/http"
)

type actionBody struct {
	Reason string `json:"reason"`
}

type resolveBody struct {
	Reason  string          `json:"reason"`
	Results json.RawMessage `json:"results"`
}

// reasoned is an action body carrying the operator's reason, which goes
// into the audit trail and is bounded like a task's reason.
type reasoned interface{ reason() string }

func (b *actionBody) reason() string  { return b.Reason }
func (b *resolveBody) reason() string { return b.Reason }

// optionalBody decodes a body when there is one: actions may be sent bare.
func (s *Server) optionalBody(w http.ResponseWriter, r *http.Request, v reasoned) bool {
	if r.ContentLength == 0 {
		return true
	}
	if err := s.decode(w, r, v); err != nil {
		writeProblem(w, r, statusOf(err), err.Error())
		return false
	}
	if err := checkReason(`field "reason"`, v.reason()); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) {
	s.taskAction(w, r, func(id int64, reason string) error {
		_, err := s.cfg.Store.CancelTask(r.Context(), id, reason, actor(r))
		return err
	})
}

func (s *Server) retryTask(w http.ResponseWriter, r *http.Request) {
	s.taskAction(w, r, func(id int64, reason string) error {
		_, err := s.cfg.Store.RetryTask(r.Context(), id, reason, actor(r))
		if err == nil {
			s.wake()
		}
		return err
	})
}

// taskAction runs an operator action on a task and answers with the task.
func (s *Server) taskAction(w http.ResponseWriter, r *http.Request, act func(id int64, reason string) error) {
	id, ok := pathID(w, r, "id", "task")
	if !ok {
		return
	}
	var body actionBody
	if !s.optionalBody(w, r, &body) {
		return
	}
	if s.storeError(w, r, act(id, body.Reason)) {
		return
	}
	task, err := s.cfg.Store.GetTask(r.Context(), id)
	if s.storeError(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, task)
}

func (s *Server) cancelStep(w http.ResponseWriter, r *http.Request) {
	stepAction(s, w, r, func(stepID int64, body *actionBody) error {
		_, err := s.cfg.Store.CancelStep(r.Context(), stepID, body.Reason, actor(r))
		return err
	})
}

func (s *Server) retryStep(w http.ResponseWriter, r *http.Request) {
	stepAction(s, w, r, func(stepID int64, body *actionBody) error {
		err := s.cfg.Store.RetryStep(r.Context(), stepID, body.Reason, actor(r))
		if err == nil {
			s.wake()
		}
		return err
	})
}

func (s *Server) resolveStep(w http.ResponseWriter, r *http.Request) {
	stepAction(s, w, r, func(stepID int64, body *resolveBody) error {
		err := s.cfg.Store.ResolveStep(r.Context(), stepID, body.Results, body.Reason, actor(r))
		if err == nil {
			s.wake()
		}
		return err
	})
}

// stepAction checks that the step belongs to the task, runs the action with
// the decoded body and answers with the step as it is afterwards.
func stepAction[B any, PB interface {
	*B
	reasoned
}](s *Server, w http.ResponseWriter, r *http.Request, act func(stepID int64, body *B) error) {
	taskID, ok := pathID(w, r, "id", "task")
	if !ok {
		return
	}
	stepID, ok := pathID(w, r, "step_id", "step")
	if !ok {
		return
	}
	body := PB(new(B))
	if !s.optionalBody(w, r, body) {
		return
	}
	if _, err := s.cfg.Store.Step(r.Context(), taskID, stepID); s.storeError(w, r, err) {
		return
	}
	if s.storeError(w, r, act(stepID, (*B)(body))) {
		return
	}
	step, err := s.cfg.Store.Step(r.Context(), taskID, stepID)
	if s.storeError(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, step)
}

// wake tells the local engine that steps became ready, when it listens.
func (s *Server) wake() {
	if s.cfg.Wake != nil {
		s.cfg.Wake()
	}
}

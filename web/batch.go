package web

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/tasker-systems/tasker/core"
)

// maxBatchTasks bounds the tasks of one POST /tasks/batch.
const maxBatchTasks = 1000

// batchParallel bounds the creations of one batch handed to the engine at
// once; the engine's creator shares transactions among whatever is queued.
const batchParallel = 64

// taskBatch is the body of POST /tasks/batch.
type taskBatch struct {
	Tasks []core.TaskRequest `json:"tasks"`
}

// batchOutcome is one task's outcome: its id and whether it is new (false:
// an existing task of the same identity), or the problem that refused it.
type batchOutcome struct {
	TaskID  int64    `json:"task_id,omitempty"`
	Created *bool    `json:"created,omitempty"`
	Error   *Problem `json:"error,omitempty"`
}

// createTasks is POST /tasks/batch: many tasks in one request, each
// created (or matched by identity) as POST /tasks would, answered by id
// instead of the whole task, so that a caller creating thousands pays for
// neither a request nor a read-back per task. Each succeeds or fails on
// its own; the answer lists the outcomes in the request's order. Every
// task gets the request's correlation id.
func (s *Server) createTasks(w http.ResponseWriter, r *http.Request) {
	var body taskBatch
	if err := s.decode(w, r, &body); err != nil {
		writeProblem(w, r, statusOf(err), err.Error())
		return
	}
	switch n := len(body.Tasks); {
	case n == 0:
		writeProblem(w, r, http.StatusBadRequest, `field "tasks" must list at least one task`)
		return
	case n > maxBatchTasks:
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf(`field "tasks" lists %d tasks; one request may create at most %d`, n, maxBatchTasks))
		return
	}
	// A request that is malformed anywhere creates nothing: that is the
	// caller's mistake, not an outcome of one task.
	var malformed []core.Violation
	for i := range body.Tasks {
		if err := prepareTaskRequest(&body.Tasks[i]); err != nil {
			malformed = append(malformed, core.Violation{Path: fmt.Sprintf("/tasks/%d", i), Message: err.Error()})
		}
	}
	if len(malformed) > 0 {
		writeProblemDoc(w, Problem{Status: http.StatusBadRequest, Instance: r.URL.Path, Errors: malformed,
			Detail: fmt.Sprintf("%d of the %d tasks are malformed (the first, tasks[%s]: %s); none was created",
				len(malformed), len(body.Tasks), strings.TrimPrefix(malformed[0].Path, "/tasks/"), malformed[0].Message)})
		return
	}
	correlation := CorrelationID(r.Context())
	out := make([]batchOutcome, len(body.Tasks))
	slots := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	for i := range body.Tasks {
		req := body.Tasks[i]
		within := fmt.Sprintf("/tasks/%d", i)
		req.CorrelationID = correlation
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			id, created, err := s.cfg.Tasks.CreateTask(r.Context(), req)
			if err != nil {
				p := s.creationProblem(r, err, within)
				p.Detail = fmt.Sprintf("tasks[%d]: %s", i, p.Detail)
				p = p.complete()
				out[i].Error = &p
				return
			}
			out[i].TaskID, out[i].Created = id, &created
		})
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, struct {
		Tasks []batchOutcome `json:"tasks"`
	}{out})
}

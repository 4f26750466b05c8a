package engine

import (
	"context"
	"errors"
	"sync"
)

// Why a running step's context was cancelled, read back with context.Cause
// to decide what to record.
var (
	errTimeout      = errors.New("step timed out")
	errCancelled    = errors.New("cancelled by an operator")
	errLeaseLost    = errors.New("lease lost: another node or an operator took the step over")
	errShuttingDown = errors.New("node shutting down")
)

// running is one step this node is executing.
type running struct {
	taskID int64
	cancel context.CancelCauseFunc
}

// inflight tracks the steps this node runs, to renew their leases and to
// cancel them when an operator or a lost lease says so.
type inflight struct {
	mu    sync.Mutex
	steps map[int64]*running
}

func (f *inflight) add(stepID, taskID int64, cancel context.CancelCauseFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps[stepID] = &running{taskID: taskID, cancel: cancel}
}

func (f *inflight) remove(stepID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.steps, stepID)
}

func (f *inflight) ids() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]int64, 0, len(f.steps))
	for id := range f.steps {
		ids = append(ids, id)
	}
	return ids
}

// cancelStep cancels one running step; false when it does not run here.
func (f *inflight) cancelStep(stepID int64, cause error) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.steps[stepID]
	if ok {
		r.cancel(cause)
	}
	return ok
}

// cancelTask cancels every step of a task running here and returns how many.
func (f *inflight) cancelTask(taskID int64, cause error) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.steps {
		if r.taskID == taskID {
			r.cancel(cause)
			n++
		}
	}
	return n
}

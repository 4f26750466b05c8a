package engine

import (
	"context"
	"errors"
	"sync"

	"github.com/tasker-systems/tasker/core"
)

// Why a running step's context was cancelled, read back with context.Cause
// to decide what to record.
var (
	errTimeout      = errors.New("step timed out")
	errCancelled    = errors.New("cancelled by an operator")
	errLeaseLost    = errors.New("lease lost: another node or an operator took the step over")
	errShuttingDown = errors.New("node shutting down")
)

// running is one step this node claimed: executing, or held until a
// worker frees up (cancel nil). A held step that an operator cancels or
// whose lease is lost keeps the cause, and never starts.
type running struct {
	taskID int64
	cancel context.CancelCauseFunc
	cause  error
}

// inflight tracks the steps this node claimed, to renew their leases and to
// cancel them when an operator or a lost lease says so. Steps handed to the
// loop with a batch's commit are held here before they start, so that a
// cancellation arriving before a worker takes them is not missed.
type inflight struct {
	mu    sync.Mutex
	steps map[int64]*running
}

// hold registers claimed steps that wait for a worker.
func (f *inflight) hold(steps []core.StepRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range steps {
		if _, ok := f.steps[s.StepID]; !ok {
			f.steps[s.StepID] = &running{taskID: s.TaskID}
		}
	}
}

// start registers a step that begins, with the cancel of its context. When
// it was cancelled while held, start forgets it and returns the cause: the
// step must not run.
func (f *inflight) start(stepID, taskID int64, cancel context.CancelCauseFunc) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.steps[stepID]; ok && r.cause != nil {
		delete(f.steps, stepID)
		return r.cause
	}
	f.steps[stepID] = &running{taskID: taskID, cancel: cancel}
	return nil
}

func (f *inflight) remove(stepID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.steps, stepID)
}

// ids are the steps whose leases this node keeps: running and held.
func (f *inflight) ids() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]int64, 0, len(f.steps))
	for id := range f.steps {
		ids = append(ids, id)
	}
	return ids
}

// cancelStep cancels one step running or held here; false when it is
// neither.
func (f *inflight) cancelStep(stepID int64, cause error) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.steps[stepID]
	if ok {
		r.stop(cause)
	}
	return ok
}

// cancelTask cancels every step of a task running or held here and returns
// how many.
func (f *inflight) cancelTask(taskID int64, cause error) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.steps {
		if r.taskID == taskID {
			r.stop(cause)
			n++
		}
	}
	return n
}

func (r *running) stop(cause error) {
	if r.cancel != nil {
		r.cancel(cause)
	} else if r.cause == nil {
		r.cause = cause
	}
}

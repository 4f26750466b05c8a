package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

func serialTemplate(steps int) *core.Template {
	no := false
	t := &core.Template{Namespace: "default", Name: "serial", Version: "1.0.0", Concurrent: &no}
	for i := range steps {
		t.Steps = append(t.Steps, core.StepTemplate{Name: fmt.Sprintf("s%d", i), Handler: "h"})
	}
	return t
}

func TestSerialTaskRunsOneStepAtATime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.newTask(t, serialTemplate(3))
	free := b.newTask(t, diamond(nil))

	first := b.claim(t, 10)
	var serialClaimed []core.StepRequest
	for _, s := range first {
		if s.TaskID == id {
			serialClaimed = append(serialClaimed, s)
		}
	}
	require.Len(t, serialClaimed, 1, "three independent steps, but the template says concurrent: false")
	require.Equal(t, free, first["start"].TaskID, "ordinary tasks are claimed in the same batch")
	require.Empty(t, b.claim(t, 10), "nothing while the serial step runs")

	b.complete(t, serialClaimed[0], `1`)
	next := b.claim(t, 10)
	require.Len(t, next, 1)
	for _, s := range next {
		require.Equal(t, id, s.TaskID)
	}
}

func TestSerialTasksAcrossConcurrentClaimers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tasks := map[int64]bool{}
	for range 20 {
		tasks[b.newTask(t, serialTemplate(5))] = true
	}
	var mu sync.Mutex
	perTask := map[int64]int{}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				steps, err := b.store.ClaimSteps(b.ctx, fmt.Sprintf("w%d", w), 3, time.Minute)
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				for _, s := range steps {
					perTask[s.TaskID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, perTask, 20, "every serial task got its first step claimed")
	for id, n := range perTask {
		require.True(t, tasks[id])
		require.Equal(t, 1, n, "task %d had %d steps running at once", id, n)
	}
}

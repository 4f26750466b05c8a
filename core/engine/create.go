package engine

import (
	"context"
	"sync"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// maxCreationBatch bounds the tasks created in one transaction.
const maxCreationBatch = 64

// creator creates tasks in batches, as the completer records successes:
// the creations that arrive while one batch is being committed make up the
// next, so concurrent requests share one round trip and one commit instead
// of four round trips and a commit each, and one backend inserts at a time
// instead of every request contending for the same index pages. An idle
// node creates each task at once. Each caller waits for its batch's commit.
//
// There is no goroutine of its own: the caller that finds no batch under
// way sends one, and when it is done hands the turn to the first caller
// still waiting, which sends everything that piled up meanwhile.
//
// While the loop has idle workers, the batch's transaction also claims up
// to one ready step per task it creates (their first steps, mostly) and
// hands them to the loop, as the completer does with its batches: a new
// task's first step starts without a claim transaction of its own.
type creator struct {
	store *store.Store
	owner string
	lease time.Duration
	// claimFor says how many steps to claim with a batch of n tasks (0:
	// none) and which handlers to leave out; hand gives the loop what was
	// claimed; wake makes the loop look for ready steps itself.
	claimFor func(n int) (int, []string)
	hand     func(context.Context, []core.StepRequest)
	wake     func()

	mu    sync.Mutex
	busy  bool
	queue []*creation
}

type creation struct {
	store.Creation
	// turn receives true when the creation is done (result, err set), false
	// when its caller is to send the next batch.
	turn   chan bool
	result store.Created
	err    error
}

// create creates one task through the next batch, as store.CreateTask does
// (which requests naming bypass steps use directly).
func (c *creator) create(ctx context.Context, cr store.Creation) (store.Created, error) {
	if len(cr.Request.BypassSteps) > 0 {
		id, created, err := c.store.CreateTask(ctx, cr.NewTask, cr.Request)
		if created {
			c.wake()
		}
		return store.Created{ID: id, Created: created}, err
	}
	me := &creation{Creation: cr, turn: make(chan bool, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, me)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	// A caller whose context ends while it waits still gets its task
	// created (or not) with its batch, as a request cut off during a
	// commit would; it waits for that answer.
	for !lead {
		if done := <-me.turn; done {
			return me.result, me.err
		}
		lead = true
	}
	c.mu.Lock()
	n := min(len(c.queue), maxCreationBatch)
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	c.record(context.WithoutCancel(ctx), batch)

	c.mu.Lock()
	if len(c.queue) > 0 {
		c.queue[0].turn <- false
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	return me.result, me.err
}

// record creates a batch and answers each of its callers (the sender, who
// is among them, reads its answer from its creation). When the batch as a
// whole fails, each task is created on its own, so that one request the
// database refuses does not fail the others.
func (c *creator) record(ctx context.Context, batch []*creation) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	all := make([]store.Creation, len(batch))
	for i, b := range batch {
		all[i] = b.Creation
	}
	limit, exclude := c.claimFor(len(batch))
	results, claimed, err := c.store.CreateAndClaim(ctx, all, c.owner, limit, c.lease, exclude)
	if len(claimed) > 0 {
		c.hand(ctx, claimed)
	}
	if err != nil || limit == 0 || len(claimed) == limit {
		// Nothing claimed here, or a full claim: more may be ready.
		defer c.wake()
	}
	for i, b := range batch {
		switch {
		case err == nil:
			b.result = results[i]
		case len(batch) == 1:
			b.err = err
		default:
			var id int64
			var created bool
			id, created, b.err = c.store.CreateTask(ctx, b.NewTask, b.Request)
			b.result = store.Created{ID: id, Created: created}
		}
		b.turn <- true
	}
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// maxCompletionBatch bounds the steps recorded in one transaction.
const maxCompletionBatch = 128

// recordTimeout bounds the recording of one outcome (or batch of them).
const recordTimeout = 30 * time.Second

// completer records the successes of this node's steps in batches: the
// steps that finish while one batch is being committed make up the next,
// so a busy node shares one commit (one WAL flush) among many steps, and an
// idle one still records each step at once. A worker waits for its batch's commit before it
// reports the step complete: durability is the same as one call per step.
//
// Tracing: each step's "record result" span (a child of its attempt) says
// how large its batch was; the batch's SQL (with its claim) runs under the
// span of its first step, so one of the batch's traces shows the queries.
//
// Eager claims: in the transaction that records a batch, the completer
// also claims up to as many ready steps as the batch frees workers (the
// children these successes made ready among them) and hands them to the
// loop, which starts them as its workers free up. That saves a chain a
// second commit and the round trip through NOTIFY per step.
type completer struct {
	store  *store.Store
	owner  string
	lease  time.Duration
	tracer trace.Tracer
	queue  chan completion
	// eager says whether to claim now, and which handlers to leave out
	// (those at their concurrency limit); hand gives the loop what it
	// claimed (Engine.handEager).
	eager func() (bool, []string)
	hand  func(context.Context, []core.StepRequest)
	wake  func()
}

type completion struct {
	store.Completion
	span  trace.Span // the step's "record result" span, open until the reply
	reply chan<- completed
}

type completed struct {
	taskStatus string
	batch      int
	err        error
}

func newCompleter(st *store.Store, cfg Config, eager func() (bool, []string),
	hand func(context.Context, []core.StepRequest), wake func()) *completer {
	return &completer{store: st, owner: cfg.Owner, lease: cfg.Lease, tracer: cfg.Tracer,
		queue: make(chan completion, cfg.Workers), eager: eager, hand: hand, wake: wake}
}

// complete records one success through the next batch and returns its
// task's status ("" when the lease was lost), as store.CompleteStep does.
func (c *completer) complete(ctx context.Context, stepID int64, results json.RawMessage) (status string, err error) {
	ctx, span := c.tracer.Start(ctx, "record result", trace.WithAttributes(attribute.Int64("tasker.step_id", stepID)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	reply := make(chan completed, 1)
	select {
	case c.queue <- completion{store.Completion{StepID: stepID, Results: results}, span, reply}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case r := <-reply:
		span.SetAttributes(attribute.Int("tasker.completion_batch", r.batch))
		return r.taskStatus, r.err
	case <-ctx.Done():
		// The batch may still commit; the step's lease then says what happened.
		return "", ctx.Err()
	}
}

// run records batches until stop is closed and the queue is empty. Its
// context outlives the engine's: completions of a shutdown still count.
func (c *completer) run(ctx context.Context, stop <-chan struct{}) {
	batch := make([]completion, 0, maxCompletionBatch)
	for {
		select {
		case first := <-c.queue:
			batch = append(batch[:0], first)
		case <-stop:
			return
		}
	more:
		for len(batch) < maxCompletionBatch {
			select {
			case next := <-c.queue:
				batch = append(batch, next)
			default:
				break more
			}
		}
		c.record(ctx, batch)
	}
}

// record commits a batch and answers each worker. When the batch as a whole
// fails, each step is recorded on its own, so that one step the database
// refuses does not take the others' successes with it.
func (c *completer) record(ctx context.Context, batch []completion) {
	done := make([]store.Completion, len(batch))
	for i, b := range batch {
		done[i] = b.Completion
	}
	ctx, cancel := context.WithTimeout(trace.ContextWithSpan(ctx, batch[0].span), recordTimeout)
	defer cancel()
	limit, exclude := 0, []string(nil)
	if ok, ex := c.eager(); ok {
		limit, exclude = len(batch), ex
	}
	statuses, claimed, err := c.store.CompleteAndClaim(ctx, c.owner, done, limit, c.lease, exclude)
	if err == nil {
		if len(claimed) > 0 {
			// Before the replies: the loop then learns of these steps before
			// the workers of this batch report done (see Engine.Run's drain).
			c.hand(ctx, claimed)
		}
		if limit > 0 && len(claimed) == limit {
			// The loop ignores this node's own notifications; a full claim
			// means more may be ready.
			c.wake()
		}
		for i, b := range batch {
			b.reply <- completed{taskStatus: statuses[i], batch: len(batch)}
		}
		return
	}
	if len(batch) == 1 || errors.Is(err, context.Canceled) {
		for _, b := range batch {
			b.reply <- completed{err: err, batch: len(batch)}
		}
		return
	}
	for _, b := range batch {
		status, err := c.store.CompleteStep(trace.ContextWithSpan(ctx, b.span), b.StepID, c.owner, b.Results)
		b.reply <- completed{taskStatus: status, batch: 1, err: err}
	}
}

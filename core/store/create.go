package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

// NewTask is what CreateTask needs besides the request.
type NewTask struct {
	TemplateID int64
	// IdentityHash, when set, makes a task of the same identity created
	// within IdentityWindow the answer instead of a new one.
	IdentityHash   string
	IdentityWindow time.Duration
}

// CreateTask creates a task with its steps and edges from a registered
// template, or returns the existing task of the same identity (created
// false). Steps named in req.BypassSteps are resolved in the same
// transaction; one that is not skippable makes the whole request a
// *core.RequestError and creates nothing.
func (s *Store) CreateTask(ctx context.Context, nt NewTask, req core.TaskRequest) (id int64, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, qTaskSession, req.CorrelationID, req.TraceParent); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, qCreateTask, createArgs(nt, req)...).Scan(&id, &created)
		if err != nil || !created || len(req.BypassSteps) == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, qBypassSteps, id, req.BypassSteps, nullable(req.Initiator)); err != nil {
			return &core.RequestError{Message: "bypass_steps: " + mapActionError("bypass steps", err).Error()}
		}
		return nil
	})
	var reqErr *core.RequestError
	if errors.As(err, &reqErr) {
		return 0, false, err
	}
	if err != nil {
		return 0, false, fmt.Errorf("create task from template %d: %w", nt.TemplateID, err)
	}
	if created {
		s.notify.add(ChannelWork, "")
		s.notify.add(ChannelEvents, "")
	}
	return id, created, nil
}

// Creation is one task for CreateTasks: what CreateTask takes, without
// bypass steps.
type Creation struct {
	NewTask
	Request core.TaskRequest
}

// Created is CreateTasks' answer to one Creation.
type Created struct {
	ID      int64
	Created bool
}

// CreateTasks creates several tasks as CreateTask would one after the
// other, in one transaction sent in one round trip: one commit for all of
// them. A request of one identity as an earlier one in the batch gets that
// task. An error means none was created; which creation the database
// refused is for the caller to find, creating them one by one. Requests
// naming bypass steps are refused: CreateTask maps their errors.
func (s *Store) CreateTasks(ctx context.Context, cs []Creation) ([]Created, error) {
	created, _, err := s.CreateAndClaim(ctx, cs, "", 0, 0, nil)
	return created, err
}

// CreateAndClaim is CreateTasks that also claims, in the same transaction,
// up to limit ready steps for owner (as ClaimSteps does): a node with idle
// workers takes the first steps of the tasks it creates without a second
// commit. With limit 0 it claims nothing.
//
// Requests without an identity are created together by one create_tasks
// call, one statement per table for the whole batch; those with one go
// through create_task each, which looks their identity up under a lock.
func (s *Store) CreateAndClaim(ctx context.Context, cs []Creation, owner string, limit int, lease time.Duration,
	exclude []string) ([]Created, []core.StepRequest, error) {
	b := &pgx.Batch{}
	b.Queue(qDeferNotify)
	var set setCreation
	for i, c := range cs {
		if len(c.Request.BypassSteps) > 0 {
			return nil, nil, fmt.Errorf("create %d tasks: a request names bypass_steps; create it with CreateTask", len(cs))
		}
		if c.IdentityHash == "" {
			set.add(i, c)
			continue
		}
		b.Queue(qTaskSession, c.Request.CorrelationID, c.Request.TraceParent)
		b.Queue(qCreateTask, createArgs(c.NewTask, c.Request)...)
	}
	if len(set.index) > 0 {
		b.Queue(qCreateTasks, set.args()...)
	}
	if limit > 0 {
		b.Queue(qClaimSteps, claimArgs(owner, limit, lease, exclude)...)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	fail := func(err error) ([]Created, []core.StepRequest, error) {
		return nil, nil, fmt.Errorf("create %d tasks: %w", len(cs), err)
	}
	if _, err := br.Exec(); err != nil {
		return fail(err)
	}
	out := make([]Created, len(cs))
	anyCreated := false
	for i, c := range cs {
		if c.IdentityHash == "" {
			continue
		}
		if _, err := br.Exec(); err != nil {
			return fail(err)
		}
		if err := br.QueryRow().Scan(&out[i].ID, &out[i].Created); err != nil {
			return fail(err)
		}
		anyCreated = anyCreated || out[i].Created
	}
	if len(set.index) > 0 {
		rows, err := br.Query()
		if err != nil {
			return fail(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fail(err)
		}
		if len(ids) != len(set.index) {
			return fail(fmt.Errorf("create_tasks answered %d ids for %d tasks", len(ids), len(set.index)))
		}
		for k, i := range set.index {
			out[i] = Created{ID: ids[k], Created: true}
		}
		anyCreated = true
	}
	var claimed []core.StepRequest
	if limit > 0 {
		rows, err := br.Query()
		if err == nil {
			claimed, err = scanClaimed(rows)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("create %d tasks and claim: %w", len(cs), err)
		}
	}
	if err := br.Close(); err != nil {
		return fail(err)
	}
	if anyCreated || len(claimed) > 0 {
		s.notify.add(ChannelEvents, "")
	}
	switch {
	case limit == 0 && anyCreated:
		s.notify.add(ChannelWork, "")
	case limit > 0 && (len(claimed) == limit || len(exclude) > 0):
		// Ready steps may be left that this node did not take: tell the
		// others (this one ignores its own name; its caller wakes it).
		s.notify.add(ChannelWork, owner)
	}
	return out, claimed, nil
}

// setCreation gathers the arguments of create_tasks, one array per column,
// and where each task's answer goes in the batch.
type setCreation struct {
	index                                                    []int
	templates                                                []int64
	contexts, tags                                           []*string // jsonb[]
	initiators, reasons, sources, correlations, traceParents []*string
}

func (sc *setCreation) add(i int, c Creation) {
	req := c.Request
	sc.index = append(sc.index, i)
	sc.templates = append(sc.templates, c.TemplateID)
	var ctxJSON *string
	if len(req.Context) > 0 {
		v := string(req.Context)
		ctxJSON = &v
	}
	sc.contexts = append(sc.contexts, ctxJSON)
	tags, _ := json.Marshal(append([]string{}, req.Tags...)) // [] rather than null; a []string always marshals
	t := string(tags)
	sc.tags = append(sc.tags, &t)
	sc.initiators = append(sc.initiators, nullable(req.Initiator))
	sc.reasons = append(sc.reasons, nullable(req.Reason))
	sc.sources = append(sc.sources, nullable(req.SourceSystem))
	sc.correlations = append(sc.correlations, nullable(req.CorrelationID))
	sc.traceParents = append(sc.traceParents, nullable(req.TraceParent))
}

func (sc *setCreation) args() []any {
	return []any{sc.templates, sc.contexts, sc.initiators, sc.reasons, sc.sources, sc.tags, sc.correlations,
		sc.traceParents}
}

func createArgs(nt NewTask, req core.TaskRequest) []any {
	tags := req.Tags
	if tags == nil {
		tags = []string{}
	}
	return []any{nt.TemplateID, jsonOrNil(req.Context), nullable(req.Initiator), nullable(req.Reason),
		nullable(req.SourceSystem), tags, nullable(nt.IdentityHash), nt.IdentityWindow.Milliseconds()}
}

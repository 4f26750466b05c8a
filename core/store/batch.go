package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

var qCompleteSteps = query("complete_steps")

// Completion is a step's success, for CompleteSteps.
type Completion struct {
	StepID  int64
	Results json.RawMessage
}

// CompleteSteps records several successes in one transaction, as
// CompleteStep would one by one, and returns each step's task status in
// the order of done ("" where owner no longer held the lease). One commit
// for the batch is what makes it cheaper than len(done) calls; an error
// means none of them was recorded.
func (s *Store) CompleteSteps(ctx context.Context, owner string, done []Completion) ([]string, error) {
	rows, err := s.pool.Query(ctx, qCompleteSteps, completeArgs(owner, done)...)
	if err != nil {
		return nil, fmt.Errorf("complete %d steps: %w", len(done), err)
	}
	return scanCompleted(rows, done)
}

// CompleteAndClaim records several successes and, in the same transaction,
// claims up to limit ready steps for owner (as ClaimSteps does): a node
// whose workers just finished takes their next steps, the children that
// these successes made ready among them, without a second commit nor a
// round trip through NOTIFY. Both statements go in one batch: one round
// trip, run by PostgreSQL as one implicit transaction, whose notifications
// are sent after its commit (notifier). With limit 0 it is CompleteSteps.
func (s *Store) CompleteAndClaim(ctx context.Context, owner string, done []Completion, limit int, lease time.Duration,
	exclude []string) (statuses []string, claimed []core.StepRequest, err error) {
	if limit <= 0 {
		statuses, err = s.CompleteSteps(ctx, owner, done)
		return statuses, nil, err
	}
	br, err := s.sendDeferred(ctx, func(b *pgx.Batch) {
		b.Queue(qCompleteSteps, completeArgs(owner, done)...)
		b.Queue(qClaimSteps, claimArgs(owner, limit, lease, exclude)...)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("complete %d steps: %w", len(done), err)
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("complete %d steps: %w", len(done), err)
	}
	if statuses, err = scanCompleted(rows, done); err != nil { // scanCompleted says "complete n steps"
		return nil, nil, err
	}
	if rows, err = br.Query(); err != nil {
		return nil, nil, fmt.Errorf("claim steps: %w", err)
	}
	if claimed, err = scanClaimed(rows); err != nil { // scanClaimed says "claim steps"
		return nil, nil, err
	}
	if err := br.Close(); err != nil {
		return nil, nil, fmt.Errorf("complete %d steps and claim: %w", len(done), err)
	}
	s.notify.add(ChannelEvents, "")
	if len(claimed) == limit || len(exclude) > 0 {
		// Ready steps may be left that this node did not take: tell the
		// others (this one ignores its own name and is woken by its caller).
		s.notify.add(ChannelWork, owner)
	}
	return statuses, claimed, nil
}

func completeArgs(owner string, done []Completion) []any {
	ids := make([]int64, len(done))
	results := make([]*string, len(done)) // jsonb[]; nil is SQL null, stored as JSON null
	for i, c := range done {
		ids[i] = c.StepID
		if len(c.Results) > 0 {
			r := string(c.Results)
			results[i] = &r
		}
	}
	return []any{ids, owner, results}
}

// scanCompleted reads the rows of complete_steps.sql: each step's task
// status, in the order of done.
func scanCompleted(rows pgx.Rows, done []Completion) ([]string, error) {
	byStep := make(map[int64]string, len(done))
	var id int64
	var status *string
	if _, err := pgx.ForEachRow(rows, []any{&id, &status}, func() error {
		byStep[id] = deref(status)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("complete %d steps: %w", len(done), err)
	}
	out := make([]string, len(done))
	for i, c := range done {
		out[i] = byStep[c.StepID]
	}
	return out, nil
}

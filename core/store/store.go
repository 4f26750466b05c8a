// Package store is tasker's access to PostgreSQL: thin calls into the
// orchestration functions of package sql and the reads the API needs. Every
// query lives in its own file under queries/.
package store

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasker-systems/tasker/core"
)

//go:embed queries/*.sql
var queries embed.FS

func query(name string) string {
	b, err := queries.ReadFile("queries/" + name + ".sql")
	if err != nil {
		panic(fmt.Sprintf("store: missing embedded query %s: %v", name, err)) // a build defect, caught by any test
	}
	return string(b)
}

var (
	qRegisterTemplate = query("register_template")
	qTaskSession      = query("task_session")
	qCreateTask       = query("create_task")
	qCreateTasks      = query("create_tasks")
	qClaimSteps       = query("claim_steps")
	qCompleteStep     = query("complete_step")
	qFailStep         = query("fail_step")
	qReleaseStep      = query("release_step")
	qReapExpired      = query("reap_expired_leases")
	qExtendLeases     = query("extend_leases")
	qGetTask          = query("get_task")
	qListTasks        = query("list_tasks")
	qReadySteps       = query("ready_steps")
)

// Store runs tasker's queries on a connection pool.
type Store struct {
	pool   *pgxpool.Pool
	notify *notifier
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, notify: &notifier{pool: pool}} }

// MaxConns is the most connections the store's pool opens.
func (s *Store) MaxConns() int32 { return s.pool.Config().MaxConns }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// RegisterTemplate stores a validated template and returns its id; an
// unchanged template keeps its id.
func (s *Store) RegisterTemplate(ctx context.Context, t *core.Template) (int64, error) {
	def, digest, err := t.Definition()
	if err != nil {
		return 0, err
	}
	var id int64
	if err := s.pool.QueryRow(ctx, qRegisterTemplate, t.Namespace, t.Name, t.Version, def, digest).Scan(&id); err != nil {
		return 0, fmt.Errorf("register template %s: %w", t.Key(), err)
	}
	return id, nil
}

// ClaimSteps leases up to limit ready steps to owner for lease, leaving
// aside steps of the handlers named in exclude.
func (s *Store) ClaimSteps(ctx context.Context, owner string, limit int, lease time.Duration, exclude ...string) ([]core.StepRequest, error) {
	br, err := s.sendDeferred(ctx, func(b *pgx.Batch) { b.Queue(qClaimSteps, claimArgs(owner, limit, lease, exclude)...) })
	if err != nil {
		return nil, fmt.Errorf("claim steps: %w", err)
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("claim steps: %w", err)
	}
	steps, err := scanClaimed(rows)
	if err != nil {
		return nil, err // scanClaimed says "claim steps"
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("claim steps: %w", err)
	}
	if len(steps) > 0 {
		s.notify.add(ChannelEvents, "") // step.started
	}
	return steps, nil
}

func claimArgs(owner string, limit int, lease time.Duration, exclude []string) []any {
	if exclude == nil {
		exclude = []string{}
	}
	return []any{owner, limit, lease.Milliseconds(), exclude}
}

// scanClaimed reads the rows of claim_steps.sql.
func scanClaimed(rows pgx.Rows) ([]core.StepRequest, error) {
	steps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.StepRequest, error) {
		var r core.StepRequest
		var cfg, deps, inputs []byte
		var timeoutMS *int64
		var version *string
		err := row.Scan(&r.StepID, &r.TaskID, &r.StepName, &r.Handler, &version, &cfg, &r.Attempt, &timeoutMS, &r.Namespace,
			&r.TaskName, &r.TaskVersion, &r.Context, &deps, &inputs, &r.CorrelationID, &r.TraceParent)
		if err != nil {
			return r, err
		}
		r.HandlerVersion = deref(version)
		if timeoutMS != nil {
			r.Timeout = time.Duration(*timeoutMS) * time.Millisecond
		}
		r.HandlerConfig = cfg
		r.Inputs = inputs
		if err := json.Unmarshal(deps, &r.DependencyResults); err != nil {
			return r, fmt.Errorf("decode dependency results of step %d: %w", r.StepID, err)
		}
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim steps: %w", err)
	}
	return steps, nil
}

// ReadySteps counts the steps ready to run now: the queue depth.
func (s *Store) ReadySteps(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, qReadySteps).Scan(&n); err != nil {
		return 0, fmt.Errorf("count ready steps: %w", err)
	}
	return n, nil
}

// CompleteStep records a success and returns the task's status afterwards,
// or "" when owner no longer holds the step's lease (nothing changed).
func (s *Store) CompleteStep(ctx context.Context, stepID int64, owner string, results json.RawMessage) (taskStatus string, err error) {
	var status *string
	if err := s.pool.QueryRow(ctx, qCompleteStep, stepID, owner, jsonOrNil(results)).Scan(&status); err != nil {
		return "", fmt.Errorf("complete step %d: %w", stepID, err)
	}
	return deref(status), nil
}

// Failure is what FailStep changed.
type Failure struct {
	// StepStatus is waiting_for_retry or error; "" when the caller no longer
	// held the lease and nothing changed.
	StepStatus string
	TaskStatus string
	// RetryAt is when the step runs again, for waiting_for_retry.
	RetryAt *time.Time
}

// FailStep records a failed attempt.
func (s *Store) FailStep(ctx context.Context, stepID int64, owner string, failure *core.StepError) (Failure, error) {
	var step, task *string
	var f Failure
	err := s.pool.QueryRow(ctx, qFailStep, stepID, owner, failure.Message, failure.Kind == core.Permanent,
		failure.RetryAfter.Milliseconds()).Scan(&step, &task, &f.RetryAt)
	if err != nil {
		return Failure{}, fmt.Errorf("fail step %d: %w", stepID, err)
	}
	f.StepStatus, f.TaskStatus = deref(step), deref(task)
	return f, nil
}

// ReleaseStep hands a claimed step back to the queue without charging the
// attempt, to run again after delay; false when owner no longer held the lease.
func (s *Store) ReleaseStep(ctx context.Context, stepID int64, owner, reason string, delay time.Duration) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, qReleaseStep, stepID, owner, reason, delay.Milliseconds()).Scan(&ok); err != nil {
		return false, fmt.Errorf("release step %d: %w", stepID, err)
	}
	return ok, nil
}

// ExtendLeases renews owner's leases on stepIDs and returns the ids it no
// longer holds.
func (s *Store) ExtendLeases(ctx context.Context, owner string, stepIDs []int64, lease time.Duration) ([]int64, error) {
	rows, err := s.pool.Query(ctx, qExtendLeases, owner, stepIDs, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("extend leases: %w", err)
	}
	lost, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("extend leases: %w", err)
	}
	return lost, nil
}

// ReapExpiredLeases returns up to limit steps whose lease expired to the queue.
func (s *Store) ReapExpiredLeases(ctx context.Context, limit int) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, qReapExpired, limit).Scan(&n); err != nil {
		return 0, fmt.Errorf("reap expired leases: %w", err)
	}
	return n, nil
}

// scanTask reads the task columns get_task.sql and list_tasks.sql share,
// then extra.
func scanTask(row pgx.Row, extra ...any) (core.Task, error) {
	var t core.Task
	err := row.Scan(append([]any{&t.TaskID, &t.Name, &t.Namespace, &t.Version, &t.Status, &t.Context, &t.Initiator,
		&t.Reason, &t.SourceSystem, &t.Tags, &t.CreatedAt, &t.UpdatedAt, &t.CompletedAt, &t.CorrelationID}, extra...)...)
	return t, err
}

// TaskFilter narrows ListTasks; empty fields match everything.
type TaskFilter struct {
	Status    string
	Namespace string
	Name      string
	Version   string
	// Tags: a task must carry every one of them.
	Tags []string
	// Sort is one of TaskSorts; empty means newest first.
	Sort   string
	Limit  int
	Offset int
}

// TaskSorts are the orders ListTasks knows; a leading '-' means descending.
var TaskSorts = []string{"task_id", "-task_id", "created_at", "-created_at", "updated_at", "-updated_at", "status", "-status"}

// ListTasks returns one page of matching tasks, without their steps, and
// the number of all matches.
func (s *Store) ListTasks(ctx context.Context, f TaskFilter) (tasks []core.Task, total int64, err error) {
	var tags []string
	if len(f.Tags) > 0 {
		tags = f.Tags
	}
	rows, err := s.pool.Query(ctx, qListTasks, nullable(f.Status), nullable(f.Namespace), nullable(f.Name),
		nullable(f.Version), tags, f.Sort, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	tasks, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.Task, error) { return scanTask(row, &total) })
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	if len(tasks) == 0 && f.Offset > 0 {
		// A page past the end has no row to carry the total: count from the start.
		first := f
		first.Limit, first.Offset = 1, 0
		_, total, err = s.ListTasks(ctx, first)
	}
	return tasks, total, err
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// jsonOrNil passes JSON as a jsonb parameter; an empty value becomes SQL null.
func jsonOrNil(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core"
)

// The diagnostics of migration 0005: read-only views of readiness, progress,
// health and performance, named after the original Tasker engine's SQL
// functions and with the same column names where they fit.

var (
	qDiagStepReadiness   = query("diag_step_readiness")
	qDiagTaskContext     = query("diag_task_execution_context")
	qDiagDependencyLevel = query("diag_dependency_levels")
	qDiagHealthCounts    = query("diag_system_health_counts")
	qDiagAnalytics       = query("diag_analytics_metrics")
	qDiagSlowestTasks    = query("diag_slowest_tasks")
	qDiagSlowestSteps    = query("diag_slowest_steps")
)

// StepReadiness is one step of tasker.step_readiness_status.
type StepReadiness struct {
	WorkflowStepID        int64      `db:"workflow_step_id" json:"workflow_step_id"`
	TaskID                int64      `db:"task_id" json:"task_id"`
	Name                  string     `db:"name" json:"name"`
	CurrentState          string     `db:"current_state" json:"current_state"`
	DependenciesSatisfied bool       `db:"dependencies_satisfied" json:"dependencies_satisfied"`
	RetryEligible         bool       `db:"retry_eligible" json:"retry_eligible"`
	ReadyForExecution     bool       `db:"ready_for_execution" json:"ready_for_execution"`
	LastFailureAt         *time.Time `db:"last_failure_at" json:"last_failure_at"`
	NextRetryAt           *time.Time `db:"next_retry_at" json:"next_retry_at"`
	TotalParents          int        `db:"total_parents" json:"total_parents"`
	CompletedParents      int        `db:"completed_parents" json:"completed_parents"`
	Attempts              int        `db:"attempts" json:"attempts"`
	RetryLimit            int        `db:"retry_limit" json:"retry_limit"`
	// BackoffRequestSeconds is the delay the last failure scheduled.
	BackoffRequestSeconds *float64   `db:"backoff_request_seconds" json:"backoff_request_seconds"`
	LastAttemptedAt       *time.Time `db:"last_attempted_at" json:"last_attempted_at"`
}

// TaskExecutionContext is tasker.task_execution_context: a task's steps
// counted by state and what should happen next.
type TaskExecutionContext struct {
	TaskID               int64   `db:"task_id" json:"task_id"`
	TemplateID           int64   `db:"template_id" json:"template_id"`
	Status               string  `db:"status" json:"status"`
	TotalSteps           int64   `db:"total_steps" json:"total_steps"`
	PendingSteps         int64   `db:"pending_steps" json:"pending_steps"`
	InProgressSteps      int64   `db:"in_progress_steps" json:"in_progress_steps"`
	CompletedSteps       int64   `db:"completed_steps" json:"completed_steps"`
	FailedSteps          int64   `db:"failed_steps" json:"failed_steps"`
	ReadySteps           int64   `db:"ready_steps" json:"ready_steps"`
	WaitingSteps         int64   `db:"waiting_steps" json:"waiting_steps"`
	CancelledSteps       int64   `db:"cancelled_steps" json:"cancelled_steps"`
	ExecutionStatus      string  `db:"execution_status" json:"execution_status"`
	RecommendedAction    string  `db:"recommended_action" json:"recommended_action"`
	CompletionPercentage float64 `db:"completion_percentage" json:"completion_percentage"`
	HealthStatus         string  `db:"health_status" json:"health_status"`
}

// DependencyLevel is one step of tasker.dependency_levels.
type DependencyLevel struct {
	WorkflowStepID  int64  `db:"workflow_step_id" json:"workflow_step_id"`
	Name            string `db:"name" json:"name"`
	DependencyLevel int    `db:"dependency_level" json:"dependency_level"`
}

// SystemHealthCounts is tasker.system_health_counts.
type SystemHealthCounts struct {
	TotalTasks           int64 `db:"total_tasks" json:"total_tasks"`
	PendingTasks         int64 `db:"pending_tasks" json:"pending_tasks"`
	InProgressTasks      int64 `db:"in_progress_tasks" json:"in_progress_tasks"`
	CompleteTasks        int64 `db:"complete_tasks" json:"complete_tasks"`
	ErrorTasks           int64 `db:"error_tasks" json:"error_tasks"`
	CancelledTasks       int64 `db:"cancelled_tasks" json:"cancelled_tasks"`
	ResolvedTasks        int64 `db:"resolved_tasks" json:"resolved_tasks"`
	TotalSteps           int64 `db:"total_steps" json:"total_steps"`
	PendingSteps         int64 `db:"pending_steps" json:"pending_steps"`
	InProgressSteps      int64 `db:"in_progress_steps" json:"in_progress_steps"`
	WaitingForRetrySteps int64 `db:"waiting_for_retry_steps" json:"waiting_for_retry_steps"`
	CompleteSteps        int64 `db:"complete_steps" json:"complete_steps"`
	ErrorSteps           int64 `db:"error_steps" json:"error_steps"`
	CancelledSteps       int64 `db:"cancelled_steps" json:"cancelled_steps"`
	ResolvedSteps        int64 `db:"resolved_steps" json:"resolved_steps"`
	RetryableErrorSteps  int64 `db:"retryable_error_steps" json:"retryable_error_steps"`
	ExhaustedRetrySteps  int64 `db:"exhausted_retry_steps" json:"exhausted_retry_steps"`
	InBackoffSteps       int64 `db:"in_backoff_steps" json:"in_backoff_steps"`
	ActiveConnections    int64 `db:"active_connections" json:"active_connections"`
	MaxConnections       int64 `db:"max_connections" json:"max_connections"`
}

// AnalyticsMetrics is tasker.analytics_metrics over the tasks created in a window.
type AnalyticsMetrics struct {
	ActiveTasksCount       int64     `db:"active_tasks_count" json:"active_tasks_count"`
	TotalNamespacesCount   int64     `db:"total_namespaces_count" json:"total_namespaces_count"`
	UniqueTaskTypesCount   int64     `db:"unique_task_types_count" json:"unique_task_types_count"`
	SystemHealthScore      float64   `db:"system_health_score" json:"system_health_score"`
	TaskThroughput         int64     `db:"task_throughput" json:"task_throughput"`
	CompletionCount        int64     `db:"completion_count" json:"completion_count"`
	ErrorCount             int64     `db:"error_count" json:"error_count"`
	CompletionRate         float64   `db:"completion_rate" json:"completion_rate"`
	ErrorRate              float64   `db:"error_rate" json:"error_rate"`
	AvgTaskDurationSeconds *float64  `db:"avg_task_duration_seconds" json:"avg_task_duration_seconds"`
	AvgStepDurationSeconds *float64  `db:"avg_step_duration_seconds" json:"avg_step_duration_seconds"`
	StepThroughput         int64     `db:"step_throughput" json:"step_throughput"`
	AnalysisPeriodStart    time.Time `db:"analysis_period_start" json:"analysis_period_start"`
	CalculatedAt           time.Time `db:"calculated_at" json:"calculated_at"`
}

// SlowestFilter narrows SlowestTasks and SlowestSteps; empty fields match
// everything, a zero Since means the last 24 hours and a zero Limit 10.
type SlowestFilter struct {
	Since     time.Time
	Limit     int
	Namespace string
	TaskName  string
	Version   string
}

// SlowTask is one row of tasker.slowest_tasks.
type SlowTask struct {
	TaskID          int64     `db:"task_id" json:"task_id"`
	TaskName        string    `db:"task_name" json:"task_name"`
	NamespaceName   string    `db:"namespace_name" json:"namespace_name"`
	Version         string    `db:"version" json:"version"`
	DurationSeconds float64   `db:"duration_seconds" json:"duration_seconds"`
	StepCount       int64     `db:"step_count" json:"step_count"`
	CompletedSteps  int64     `db:"completed_steps" json:"completed_steps"`
	ErrorSteps      int64     `db:"error_steps" json:"error_steps"`
	CreatedAt       time.Time `db:"created_at" json:"created_at"`
	CompletedAt     time.Time `db:"completed_at" json:"completed_at"`
	Initiator       *string   `db:"initiator" json:"initiator"`
	SourceSystem    *string   `db:"source_system" json:"source_system"`
	Status          string    `db:"status" json:"status"`
}

// SlowStep is one row of tasker.slowest_steps; its duration is the run time
// of its last attempt.
type SlowStep struct {
	WorkflowStepID  int64     `db:"workflow_step_id" json:"workflow_step_id"`
	TaskID          int64     `db:"task_id" json:"task_id"`
	StepName        string    `db:"step_name" json:"step_name"`
	TaskName        string    `db:"task_name" json:"task_name"`
	NamespaceName   string    `db:"namespace_name" json:"namespace_name"`
	Version         string    `db:"version" json:"version"`
	DurationSeconds float64   `db:"duration_seconds" json:"duration_seconds"`
	Attempts        int       `db:"attempts" json:"attempts"`
	RetryLimit      int       `db:"retry_limit" json:"retry_limit"`
	Retryable       bool      `db:"retryable" json:"retryable"`
	StepStatus      string    `db:"step_status" json:"step_status"`
	StartedAt       time.Time `db:"started_at" json:"started_at"`
	CompletedAt     time.Time `db:"completed_at" json:"completed_at"`
}

// StepReadiness returns the readiness of each step of a task, in step order;
// empty when the task does not exist.
func (s *Store) StepReadiness(ctx context.Context, taskID int64) ([]StepReadiness, error) {
	return diagCollect[StepReadiness](ctx, s, fmt.Sprintf("step readiness of task %d", taskID), qDiagStepReadiness, taskID)
}

// TaskExecutionContext returns a task's progress and the recommended next
// action; the error wraps core.ErrNotFound when there is no such task.
func (s *Store) TaskExecutionContext(ctx context.Context, taskID int64) (*TaskExecutionContext, error) {
	rows, err := diagCollect[TaskExecutionContext](ctx, s, fmt.Sprintf("execution context of task %d", taskID), qDiagTaskContext, taskID)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("task %d: %w", taskID, core.ErrNotFound)
	}
	return &rows[0], nil
}

// DependencyLevels returns each step of a task with its depth in the DAG,
// shallowest first.
func (s *Store) DependencyLevels(ctx context.Context, taskID int64) ([]DependencyLevel, error) {
	return diagCollect[DependencyLevel](ctx, s, fmt.Sprintf("dependency levels of task %d", taskID), qDiagDependencyLevel, taskID)
}

// SystemHealthCounts counts tasks and steps by state, and connections.
func (s *Store) SystemHealthCounts(ctx context.Context) (*SystemHealthCounts, error) {
	return diagOne[SystemHealthCounts](ctx, s, "system health counts", qDiagHealthCounts)
}

// AnalyticsMetrics returns throughput and health over the tasks created
// since since; a zero since means the last hour.
func (s *Store) AnalyticsMetrics(ctx context.Context, since time.Time) (*AnalyticsMetrics, error) {
	return diagOne[AnalyticsMetrics](ctx, s, "analytics metrics", qDiagAnalytics, diagTime(since))
}

// SlowestTasks returns the slowest finished tasks, slowest first.
func (s *Store) SlowestTasks(ctx context.Context, f SlowestFilter) ([]SlowTask, error) {
	return diagCollect[SlowTask](ctx, s, "slowest tasks", qDiagSlowestTasks, f.args()...)
}

// SlowestSteps returns the slowest completed steps, slowest first.
func (s *Store) SlowestSteps(ctx context.Context, f SlowestFilter) ([]SlowStep, error) {
	return diagCollect[SlowStep](ctx, s, "slowest steps", qDiagSlowestSteps, f.args()...)
}

func (f SlowestFilter) args() []any {
	limit := f.Limit
	if limit <= 0 {
		limit = 10
	}
	return []any{diagTime(f.Since), limit, nullable(f.Namespace), nullable(f.TaskName), nullable(f.Version)}
}

func diagCollect[T any](ctx context.Context, s *Store, what, sql string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func diagOne[T any](ctx context.Context, s *Store, what, sql string, args ...any) (*T, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[T])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &out, nil
}

func diagTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

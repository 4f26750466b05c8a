package client

import (
	"context"
	"net/http"

	"github.com/tasker-systems/tasker/core"
)

// BatchOutcome is one task's outcome of CreateTasks: the task's id and
// whether it is new (false: an existing task of the same identity), or the
// server's refusal of that task alone.
type BatchOutcome struct {
	TaskID  int64  `json:"task_id"`
	Created bool   `json:"created"`
	Err     *Error `json:"error"`
}

// CreateTasks creates many tasks in one request (POST /tasks/batch, at most
// 1,000), each as CreateTask would, and returns their outcomes in order. A
// malformed task refuses the whole request (an *Error, nothing created);
// after that, each task succeeds or fails on its own.
func (c *Client) CreateTasks(ctx context.Context, reqs []core.TaskRequest) ([]BatchOutcome, error) {
	var answer struct {
		Tasks []BatchOutcome `json:"tasks"`
	}
	body := struct {
		Tasks []core.TaskRequest `json:"tasks"`
	}{reqs}
	if _, err := c.do(ctx, http.MethodPost, "/tasks/batch", body, &answer); err != nil {
		return nil, err
	}
	return answer.Tasks, nil
}

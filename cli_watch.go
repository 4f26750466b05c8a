package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

// taskWatch follows a task's events over GET /events/stream: its history
// first, then live, until a final event.
func taskWatch(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "task watch ID [flags]", "Prints the events of a task as they happen, one line each (time, event, step, attempt,\n"+
		"error), from its first event; with --json, each event's JSON document on a line of its own.\n"+
		"Exits when the task finishes: 0 when it completed or was resolved, 7 when it ended in error\n"+
		"or cancelled. A dropped connection is resumed where it stopped.")
	f := addAPIFlags(fs)
	c, pos, code := clientCommand("task watch", fs, f, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer c.close()
	if !c.wantArgs(pos, 1, 1, "one task id") {
		return exitUsage
	}
	id, ok := c.taskID(pos[0])
	if !ok {
		return exitUsage
	}
	return c.watch(id)
}

// watchEnd stops the stream at a final event with the exit code it means.
type watchEnd struct{ code int }

func (watchEnd) Error() string { return "the task finished" }

// finalEvents are the events after which a task runs no more (unless an
// operator retries it), with the exit code each means.
var finalEvents = map[string]int{
	"task.completed": exitOK, "task.resolved": exitOK,
	"task.failed": exitTaskFailed, "task.cancelled": exitTaskFailed,
}

func (c *apiCmd) watch(id int64) int {
	var task core.Task
	if _, code := c.request(fmt.Sprintf("show task %d", id), http.MethodGet, client.TaskPath(id), nil, &task, false); code >= 0 {
		return code
	}
	finished := client.Finished(task.Status)
	if !c.json {
		fmt.Fprintf(c.stdout, "watching task %d: %s, %s\n", id, templateID(&task), task.Status)
	}
	opts := client.StreamOptions{TaskID: id}
	if finished {
		// Its history ends with the final event, unless retention pruned
		// it: then silence ends the watch.
		opts.IdleTimeout = 3 * time.Second
	}
	onEvent := func(ev client.StreamEvent) error {
		if c.json {
			b, err := json.Marshal(ev.Event)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, string(b))
		} else {
			fmt.Fprintln(c.stdout, eventLine(ev.Event))
		}
		code, final := finalEvents[ev.Name]
		if !final {
			return nil
		}
		// A final event of the history may have been followed by a retry:
		// the task's status says whether it is still the last word.
		var now core.Task
		if _, rc := c.request(fmt.Sprintf("show task %d", id), http.MethodGet, client.TaskPath(id), nil, &now, false); rc >= 0 {
			return watchEnd{rc}
		}
		if client.Finished(now.Status) {
			return watchEnd{code}
		}
		return nil
	}
	var failingSince time.Time
	backoff := 250 * time.Millisecond
	for {
		last, err := c.api.StreamEvents(c.ctx, opts, onEvent)
		if opts.After != last {
			failingSince, backoff = time.Time{}, 250*time.Millisecond // it made progress
		}
		opts.After = last
		var end watchEnd
		var apiErr *client.Error
		var connErr *client.ConnError
		switch {
		case errors.As(err, &end):
			return end.code
		case c.ctx.Err() != nil:
			return c.fail(fmt.Sprintf("watch task %d", id), c.ctx.Err())
		case errors.As(err, &apiErr):
			return c.fail(fmt.Sprintf("watch task %d", id), err)
		case finished && errors.Is(err, client.ErrStreamEnded):
			// Finished before the watch, and no final event was left to show.
			if task.Status == core.TaskStatusError || task.Status == core.TaskStatusCancelled {
				return exitTaskFailed
			}
			return exitOK
		case errors.Is(err, client.ErrStreamEnded), errors.As(err, &connErr):
			if failingSince.IsZero() {
				failingSince = time.Now()
			} else if time.Since(failingSince) > time.Minute {
				return c.fail(fmt.Sprintf("watch task %d", id), err)
			}
		default:
			return c.fail(fmt.Sprintf("watch task %d", id), err)
		}
		select {
		case <-c.ctx.Done():
			return c.fail(fmt.Sprintf("watch task %d", id), c.ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// eventLine is one event for people: time, name, step, attempt, error.
func eventLine(e core.Event) string {
	var p struct {
		StepName string `json:"step_name"`
		Attempt  int    `json:"attempt"`
		Error    string `json:"error"`
		Reason   string `json:"reason"`
		ToStatus string `json:"to_status"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	line := fmt.Sprintf("%s  %-21s", e.CreatedAt.Local().Format("15:04:05.000"), e.Name)
	if p.StepName != "" {
		line += "  " + p.StepName
		if p.Attempt > 0 {
			line += fmt.Sprintf("  attempt %d", p.Attempt)
		}
	}
	switch {
	case p.Error != "":
		line += "  " + oneLine(p.Error, 120)
	case e.StepID == 0 && p.Reason != "" && e.Name != "task.created":
		line += "  " + oneLine(p.Reason, 120)
	}
	return line
}

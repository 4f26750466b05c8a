package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

const taskUsage = `Usage: tasker task <command> [arguments] [flags]

Commands:
  create --name N [flags]   create a task from a template; --wait follows it until it finishes
  list [flags]              list tasks, newest first (--status, --namespace, --name, --tag, --limit ...)
  show ID                   a task and its steps
  watch ID                  follow a task's events live until it finishes (exit 7: error or cancelled)
  cancel ID [--reason R]    cancel a task: its unfinished steps are cancelled
  retry ID [--reason R]     retry a failed or cancelled task

` + clientFlagsHelp + "\nRun 'tasker task <command> -h' for the flags of a command.\n\n" + exitCodesHelp

func runTaskCmd(args []string, stdout, stderr io.Writer) int {
	return runGroup("task", taskUsage, map[string]func([]string, io.Writer, io.Writer) int{
		"create": taskCreate, "list": taskList, "show": taskShow, "watch": taskWatch, "cancel": taskCancel, "retry": taskRetry,
	}, args, stdout, stderr)
}

func taskCreate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "task create --name NAME [flags]", "Creates a task from a template and prints its id and status; with --wait, prints each step\n"+
		"as it changes until the task finishes, and exits 7 when it ends in error or cancelled (with\n"+
		"--json: only the final task document). --context takes JSON, @file.json or - (standard input).")
	f := addAPIFlags(fs)
	var req core.TaskRequest
	var tags, bypass repeatedFlag
	var contextArg string
	fs.StringVar(&req.Name, "name", "", "the task template's name (required)")
	fs.StringVar(&req.Namespace, "namespace", "", "its namespace (the server's default: default)")
	fs.StringVar(&req.Version, "version", "", "its version (default the highest registered)")
	fs.StringVar(&contextArg, "context", "", "the task's context: a JSON object, @file.json or - for standard input")
	fs.Var(&tags, "tag", "a tag of the task (repeatable)")
	fs.StringVar(&req.Reason, "reason", "", "why the task is created")
	fs.StringVar(&req.Initiator, "initiator", "", "who asks for it")
	fs.StringVar(&req.SourceSystem, "source-system", "", "the system it comes from")
	fs.StringVar(&req.IdempotencyKey, "idempotency-key", "", "a repeated request with this key returns the task it created")
	fs.Var(&bypass, "bypass", "a skippable step to resolve without running it (repeatable)")
	wait := fs.Bool("wait", false, "follow the task until it finishes; exit 7 when it ends in error or cancelled")
	c, pos, code := clientCommand("task create", fs, f, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer c.close()
	if !c.wantArgs(pos, 0, 0, "no arguments (the template is --name)") {
		return exitUsage
	}
	if req.Name == "" {
		return usageErr(stderr, c.name, "--name is required: the name of the task template to run")
	}
	ctxJSON, err := jsonArg("context", contextArg, true)
	if err != nil {
		return usageErr(stderr, c.name, "%v", err)
	}
	req.Context, req.Tags, req.BypassSteps = ctxJSON, tags, bypass

	var task core.Task
	status, code := c.request("create task", http.MethodPost, "/tasks", req, &task, !*wait)
	if code >= 0 {
		return code
	}
	if !*wait {
		word := "created"
		if status == http.StatusOK {
			word = "existing" // a task of the same identity: nothing new was created
		}
		fmt.Fprintf(stdout, "%s task %d: %s, %s\n", word, task.TaskID, templateID(&task), task.Status)
		return exitOK
	}
	return c.follow(&task, status == http.StatusCreated)
}

// follow waits for a task to finish, printing each step as it changes (or,
// with --json, only the final document), and exits by its final status.
func (c *apiCmd) follow(task *core.Task, created bool) int {
	started := time.Now()
	if !c.json {
		word := "created"
		if !created {
			word = "existing"
		}
		fmt.Fprintf(c.stdout, "%s task %d: %s, %s\n", word, task.TaskID, templateID(task), task.Status)
	}
	width := 0
	for _, s := range task.Steps {
		width = max(width, len(s.Name))
	}
	seen := map[string]string{}
	final, err := c.api.WaitTask(c.ctx, task.TaskID, func(t *core.Task) {
		if c.json {
			return
		}
		for _, s := range t.Steps {
			key := fmt.Sprintf("%s:%d", s.Status, s.Attempts)
			if seen[s.Name] == key || s.Status == core.StepStatusPending {
				continue
			}
			seen[s.Name] = key
			line := fmt.Sprintf("  %-*s  %-17s  attempt %d", width, s.Name, s.Status, s.Attempts)
			switch {
			case s.LastError != nil && s.Status != core.StepStatusComplete:
				line += "  " + oneLine(*s.LastError, 100)
			case s.Status == core.StepStatusComplete:
				line += "  " + truncate(compactJSON(s.Results), 100)
			}
			fmt.Fprintln(c.stdout, line)
		}
	})
	if err != nil {
		return c.fail(fmt.Sprintf("wait for task %d", task.TaskID), err)
	}
	if c.json {
		if _, code := c.request(fmt.Sprintf("show task %d", task.TaskID), http.MethodGet, client.TaskPath(task.TaskID), nil, nil, true); code > 0 {
			return code
		}
	} else {
		fmt.Fprintf(c.stdout, "  => task %d %s in %s\n", final.TaskID, strings.ToUpper(final.Status), time.Since(started).Round(time.Millisecond))
	}
	if final.Status == core.TaskStatusError || final.Status == core.TaskStatusCancelled {
		why := ""
		for _, s := range final.Steps {
			if s.Status == core.StepStatusError && s.LastError != nil {
				why = oneLine(fmt.Sprintf(": step %s failed: %s", s.Name, *s.LastError), 300)
				break
			}
		}
		fmt.Fprintf(c.stderr, "tasker: task %d ended %s%s\n", final.TaskID, final.Status, why)
		return exitTaskFailed
	}
	return exitOK
}

func taskList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "task list [flags]", "Lists tasks, newest first: a table, or the API's document with --json.")
	f := addAPIFlags(fs)
	var flt client.TaskFilter
	var tags repeatedFlag
	fs.StringVar(&flt.Status, "status", "", "only tasks in this status: pending, in_progress, complete, error, cancelled, resolved_manually")
	fs.StringVar(&flt.Namespace, "namespace", "", "only tasks of this namespace")
	fs.StringVar(&flt.Name, "name", "", "only tasks of this template name")
	fs.StringVar(&flt.Version, "version", "", "only tasks of this template version")
	fs.Var(&tags, "tag", "only tasks carrying this tag (repeatable: every tag given)")
	fs.StringVar(&flt.Sort, "sort", "", "order, as the API's sort parameter (default newest first)")
	fs.IntVar(&flt.Limit, "limit", 0, "at most this many tasks (default the server's, 50)")
	fs.IntVar(&flt.Offset, "offset", 0, "skip this many tasks")
	c, pos, code := clientCommand("task list", fs, f, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer c.close()
	if !c.wantArgs(pos, 0, 0, "no arguments") {
		return exitUsage
	}
	if flt.Limit < 0 || flt.Offset < 0 {
		return usageErr(stderr, c.name, "--limit and --offset must not be negative")
	}
	flt.Tags = tags
	var list client.TaskList
	if _, code := c.request("list tasks", http.MethodGet, flt.Path(), nil, &list, true); code >= 0 {
		return code
	}
	if len(list.Tasks) == 0 {
		fmt.Fprintf(stdout, "no tasks (%d match)\n", list.Total)
		return exitOK
	}
	withSteps := false // the list carries steps only if the server sends them
	for _, t := range list.Tasks {
		withSteps = withSteps || len(t.Steps) > 0
	}
	now := time.Now()
	tw := newTable(stdout)
	fmt.Fprint(tw, "ID\tTEMPLATE\tSTATUS\t")
	if withSteps {
		fmt.Fprint(tw, "STEPS\t")
	}
	fmt.Fprintln(tw, "CREATED\tTAGS")
	for _, t := range list.Tasks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t", t.TaskID, truncate(templateID(&t), 60), t.Status)
		if withSteps {
			fmt.Fprintf(tw, "%s\t", stepCount(t.Steps))
		}
		fmt.Fprintf(tw, "%s\t%s\n", ago(t.CreatedAt, now), truncate(dash(strings.Join(t.Tags, ",")), 40))
	}
	tw.Flush()
	first := list.Offset + 1
	fmt.Fprintf(stdout, "showing %d–%d of %d\n", first, list.Offset+len(list.Tasks), list.Total)
	return exitOK
}

func taskShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "task show ID [flags]", "Prints a task and a table of its steps, or the API's document with --json.")
	f := addAPIFlags(fs)
	c, pos, code := clientCommand("task show", fs, f, args, stdout, stderr)
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
	var t core.Task
	if _, code := c.request(fmt.Sprintf("show task %d", id), http.MethodGet, client.TaskPath(id), nil, &t, true); code >= 0 {
		return code
	}
	now := time.Now()
	tw := newTable(stdout)
	fmt.Fprintf(tw, "task\t%d\n", t.TaskID)
	fmt.Fprintf(tw, "template\t%s\n", templateID(&t))
	fmt.Fprintf(tw, "status\t%s\n", t.Status)
	fmt.Fprintf(tw, "created\t%s (%s)\n", stamp(t.CreatedAt), ago(t.CreatedAt, now))
	if t.CompletedAt != nil {
		fmt.Fprintf(tw, "completed\t%s (%s; took %s)\n", stamp(*t.CompletedAt), ago(*t.CompletedAt, now),
			t.CompletedAt.Sub(t.CreatedAt).Round(time.Millisecond))
	}
	for _, kv := range [][2]string{{"initiator", t.Initiator}, {"reason", t.Reason}, {"source system", t.SourceSystem},
		{"tags", strings.Join(t.Tags, ", ")}} {
		if kv[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", kv[0], oneLine(kv[1], 100))
		}
	}
	fmt.Fprintf(tw, "context\t%s\n", truncate(compactJSON(t.Context), 100))
	tw.Flush()
	fmt.Fprintln(stdout)
	tw = newTable(stdout)
	fmt.Fprintln(tw, "STEP\tHANDLER\tSTATUS\tATTEMPTS\tDEPENDS ON\tLAST ERROR")
	for _, s := range t.Steps {
		lastErr := "-"
		if s.LastError != nil && *s.LastError != "" {
			lastErr = oneLine(*s.LastError, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", s.Name, s.Handler, s.Status, s.Attempts, s.RetryLimit,
			truncate(dash(strings.Join(s.DependsOn, ",")), 40), lastErr)
	}
	tw.Flush()
	return exitOK
}

func taskCancel(args []string, stdout, stderr io.Writer) int {
	return taskAction(args, stdout, stderr, "cancel", http.MethodDelete, "",
		"Cancels a task: its steps that have not finished are cancelled, running handlers included.")
}

func taskRetry(args []string, stdout, stderr io.Writer) int {
	return taskAction(args, stdout, stderr, "retry", http.MethodPost, "/retry",
		"Retries a failed or cancelled task: its failed and cancelled steps run again with fresh attempts.")
}

// taskAction is task cancel and task retry: one request, one line.
func taskAction(args []string, stdout, stderr io.Writer, verb, method, suffix, about string) int {
	fs := newFlagSet(stderr, "task "+verb+" ID [flags]", about)
	f := addAPIFlags(fs)
	reason := fs.String("reason", "", "why, for the audit trail")
	c, pos, code := clientCommand("task "+verb, fs, f, args, stdout, stderr)
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
	var body any
	if *reason != "" {
		body = map[string]string{"reason": *reason}
	}
	var t core.Task
	if _, code := c.request(fmt.Sprintf("%s task %d", verb, id), method, client.TaskPath(id)+suffix, body, &t, true); code >= 0 {
		return code
	}
	done := map[string]string{"cancel": "cancelled", "retry": "retried"}[verb]
	fmt.Fprintf(stdout, "task %d %s: now %s\n", t.TaskID, done, t.Status)
	return exitOK
}

package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

const stepUsage = `Usage: tasker step <command> TASK_ID STEP [flags]

STEP is a step's id or its name within the task.

Commands:
  retry TASK_ID STEP [--reason R]                       retry a failed or cancelled step
  resolve TASK_ID STEP [--results JSON] [--reason R]    resolve a step by hand; its dependents proceed
                                                        (--results takes JSON, @file.json or -)

` + clientFlagsHelp + "\nRun 'tasker step <command> -h' for the flags of a command.\n\n" + exitCodesHelp

func runStepCmd(args []string, stdout, stderr io.Writer) int {
	return runGroup("step", stepUsage, map[string]func([]string, io.Writer, io.Writer) int{
		"retry": stepRetry, "resolve": stepResolve,
	}, args, stdout, stderr)
}

func stepRetry(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "step retry TASK_ID STEP [flags]", "Retries a failed or cancelled step with fresh attempts. STEP is a step id or a step name.")
	f := addAPIFlags(fs)
	reason := fs.String("reason", "", "why, for the audit trail")
	c, pos, code := clientCommand("step retry", fs, f, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer c.close()
	var body any
	if *reason != "" {
		body = map[string]string{"reason": *reason}
	}
	return c.stepAction(pos, "retry", body, "retried")
}

func stepResolve(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "step resolve TASK_ID STEP [flags]", "Resolves a step by hand: it counts as done and its dependents run, seeing --results as its\n"+
		"results. STEP is a step id or a step name. --results takes JSON, @file.json or - (standard input).")
	f := addAPIFlags(fs)
	results := fs.String("results", "", "the step's results: JSON, @file.json or - for standard input")
	reason := fs.String("reason", "", "why, for the audit trail")
	c, pos, code := clientCommand("step resolve", fs, f, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer c.close()
	raw, err := jsonArg("results", *results, false)
	if err != nil {
		return usageErr(stderr, c.name, "%v", err)
	}
	return c.stepAction(pos, "resolve", client.ResolveRequest{Results: raw, Reason: *reason}, "resolved by hand")
}

// stepAction finds the step TASK_ID STEP names, posts the action and says
// what the step's status is afterwards.
func (c *apiCmd) stepAction(pos []string, verb string, body any, done string) int {
	if !c.wantArgs(pos, 2, 2, "a task id and a step (its id or name)") {
		return exitUsage
	}
	taskID, ok := c.taskID(pos[0])
	if !ok {
		return exitUsage
	}
	step, code := c.findStep(taskID, pos[1])
	if code >= 0 {
		return code
	}
	var after core.StepDetail
	what := fmt.Sprintf("%s step %s of task %d", verb, step.Name, taskID)
	path := client.StepPath(taskID, step.StepID) + "/" + verb
	if _, code := c.request(what, http.MethodPost, path, body, &after, true); code >= 0 {
		return code
	}
	fmt.Fprintf(c.stdout, "step %d (%s) of task %d %s: now %s\n", after.StepID, after.Name, taskID, done, after.Status)
	return exitOK
}

// findStep resolves a step argument, an id or a name, through the task's
// steps; it returns the step and -1, or the exit code of the failure.
func (c *apiCmd) findStep(taskID int64, arg string) (*core.Step, int) {
	var list struct {
		Steps []core.Step `json:"workflow_steps"`
	}
	what := fmt.Sprintf("find step %s of task %d", arg, taskID)
	if _, code := c.request(what, http.MethodGet, client.TaskPath(taskID)+"/workflow_steps", nil, &list, false); code >= 0 {
		return nil, code
	}
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil {
		for i := range list.Steps {
			if list.Steps[i].StepID == id {
				return &list.Steps[i], -1
			}
		}
	}
	names := make([]string, 0, len(list.Steps))
	for i := range list.Steps {
		if list.Steps[i].Name == arg {
			return &list.Steps[i], -1
		}
		names = append(names, fmt.Sprintf("%s (%d)", list.Steps[i].Name, list.Steps[i].StepID))
	}
	fmt.Fprintf(c.stderr, "tasker: %s: task %d has no step with that id or name; its steps: %s\n",
		what, taskID, oneLine(strings.Join(names, ", "), 300))
	return nil, exitNotFound
}

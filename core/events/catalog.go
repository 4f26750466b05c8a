// Package events is tasker's event system: the catalog of built-in events
// (docs/EVENTS.md is generated from it), the dispatcher that delivers the
// event outbox (tasker.events) to durable subscribers at least once and in
// order, the log subscriber, and retention of old tasks and events.
//
// Events are written by the database in the same transaction as the change
// that causes them (sql/migrations/0008_events.sql), or by Go through
// core.EventPublisher (store.Store.PublishEvent) for events no state
// change causes. See Dispatcher for how to add a subscriber.
package events

import (
	"fmt"
	"sort"
	"strings"
)

// Field is one key of an event's payload.
type Field struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
}

// Spec describes one built-in event.
type Spec struct {
	Name string `json:"name"`
	// Source is what writes it: task, step (database triggers on
	// transitions), engine, plugin or registry (Go).
	Source      string  `json:"source"`
	Description string  `json:"description"`
	Fields      []Field `json:"fields"`
}

var (
	taskFields = []Field{
		{"task_id", "integer", "the task"},
		{"namespace", "string", "the task template's namespace"},
		{"task_name", "string", "the task template's name"},
		{"task_version", "string", "the task template's version"},
		{"from_status", "string", "the task's status before (absent for task.created)"},
		{"to_status", "string", "the task's status after"},
		{"reason", "string", "the transition's reason, e.g. 'all steps complete' or an operator's reason"},
		{"actor", "string", "who acted (api:<subject>, api:key:<name>), for operator actions"},
		{"details", "object", "the transition's metadata, e.g. failed_steps, cancelled_steps, steps_reset, updated"},
		{"transition_id", "integer", "the row of tasker.task_transitions this event reports"},
	}
	stepFields = []Field{
		{"task_id", "integer", "the step's task"},
		{"step_id", "integer", "the step"},
		{"step_name", "string", "the step's name in its template"},
		{"handler", "string", "the step's handler"},
		{"namespace", "string", "the task template's namespace"},
		{"task_name", "string", "the task template's name"},
		{"task_version", "string", "the task template's version"},
		{"from_status", "string", "the step's status before"},
		{"to_status", "string", "the step's status after"},
		{"attempt", "integer", "the attempt concerned (1 for the first run)"},
		{"reason", "string", "the transition's reason (for failures, the error)"},
		{"actor", "string", "who acted, for operator actions"},
		{"details", "object", "the transition's metadata, e.g. owner, permanent, retry_in_ms, updated"},
		{"transition_id", "integer", "the row of tasker.step_transitions this event reports"},
	}
	errorField   = Field{"error", "string", "the step's last error"}
	nextField    = Field{"next_attempt_at", "string (RFC 3339)", "when the step may run again"}
	resultsField = Field{"has_results", "boolean", "whether the step has results; read them with GET {prefix}/tasks/{task_id}/workflow_steps/{step_id} (results are not copied into events)"}
	stepCount    = Field{"step_count", "integer", "how many steps the task has (steps make no creation event of their own)"}
	customFields = []Field{
		{"task_id", "integer", "the task of the step whose handler published it"},
		{"step_id", "integer", "the step"},
		{"step_name", "string", "the step's name"},
		{"handler", "string", "the step's handler"},
		{"namespace", "string", "the task template's namespace"},
		{"task_name", "string", "the task template's name"},
		{"task_version", "string", "the task template's version"},
		{"attempt", "integer", "the attempt that published it"},
		{"data", "any", "the payload the handler published, valid against the declared schema"},
	}
	pluginFields = []Field{
		{"plugin", "string", "the plugin's name"},
		{"version", "string", "the plugin's version"},
	}
)

func with(base []Field, extra ...Field) []Field {
	return append(append([]Field{}, base...), extra...)
}

// Catalog lists every built-in event, in the order docs/EVENTS.md shows them.
var Catalog = []Spec{
	{"task.created", "task", "A task was created from a template (its steps are created with it, without events of their own).", with(taskFields, stepCount)},
	{"task.started", "task", "The first step of a task was claimed: pending -> in_progress.", taskFields},
	{"task.completed", "task", "Every step of the task is complete or resolved.", taskFields},
	{"task.failed", "task", "A step failed for good and nothing else can run: the task is in error. details.failed_steps names them.", taskFields},
	{"task.cancelled", "task", "The task was cancelled, by an operator or because its remaining steps were cancelled.", taskFields},
	{"task.resolved", "task", "The task was resolved by hand.", taskFields},
	{"task.retried", "task", "A task in error or cancelled went back to pending: an operator retried it, or a step of it, or resolved a failed step.", taskFields},
	{"task.updated", "task", "The task's metadata (reason, tags) was changed (PATCH); details.updated has the old and new values.", taskFields},

	{"step.started", "step", "A node claimed the step and runs its handler: -> in_progress. details.owner names the node.", stepFields},
	{"step.completed", "step", "The handler succeeded.", with(stepFields, resultsField)},
	{"step.retry_scheduled", "step", "The attempt failed and the step will run again: -> waiting_for_retry.", with(stepFields, errorField, nextField)},
	{"step.failed", "step", "The step failed for good (permanent error, not retryable, or attempts used up): -> error.", with(stepFields, errorField)},
	{"step.cancelled", "step", "The step was cancelled, with its task, by an operator, or because a step it depends on was cancelled (details.cascaded_from).", stepFields},
	{"step.resolved", "step", "The step was resolved by hand, or bypassed at the task's creation.", with(stepFields, resultsField)},
	{"step.released", "step", "A claimed step was handed back without charging the attempt (node shutting down, handler unavailable or at its concurrency limit).", with(stepFields, nextField)},
	{"step.retried", "step", "A step in error or cancelled was reset to pending by an operator (details.last_error, details.attempts).", stepFields},
	{"step.updated", "step", "The step's retry_limit or inputs were changed (PATCH); details.updated has the old and new values.", stepFields},

	{"engine.started", "engine", "A node's orchestration loop started.", []Field{
		{"owner", "string", "the node's name in step leases"}, {"workers", "integer", "steps it runs at once"}}},
	{"engine.stopped", "engine", "A node's orchestration loop stopped (running steps finished or were handed back).", []Field{
		{"owner", "string", "the node's name in step leases"}}},

	{"plugin.loaded", "plugin", "A plugin was launched and registered its handlers.", with(pluginFields,
		Field{"path", "string", "the plugin's executable"}, Field{"handlers", "array of string", "the handlers it serves"})},
	{"plugin.crashed", "plugin", "A plugin process died or stopped answering; its in-flight steps are retried.", with(pluginFields,
		Field{"error", "string", "what was seen"})},
	{"plugin.restarted", "plugin", "A plugin that had died was launched again.", with(pluginFields,
		Field{"restarts", "integer", "how many times it was restarted since the node started"})},
	{"plugin.unhealthy", "plugin", "A plugin could not be restarted; calls are refused (its steps wait) until the backoff ends.", with(pluginFields,
		Field{"error", "string", "why the restart failed"}, Field{"retry_in_ms", "integer", "when it will be tried again"})},

	{"template.registered", "registry", "A node loaded a task template and registered it in the database.", []Field{
		{"namespace", "string", "the template's namespace"}, {"name", "string", "its name"}, {"version", "string", "its version"},
		{"template_id", "integer", "its row in tasker.task_templates"}, {"steps", "integer", "how many steps it has"},
		{"origin", "string", "the file or plugin it came from"}}},
	{"handler.registered", "registry", "A node registered a handler of a loaded plugin.", []Field{
		{"handler", "string", "the handler's name"}, {"plugin", "string", "the plugin providing it"},
		{"version", "string", "the plugin's version"}}},
}

// CustomFields are the payload fields of every custom event a handler
// publishes; data carries what the handler gave.
var CustomFields = customFields

var byName = func() map[string]Spec {
	m := map[string]Spec{}
	for _, s := range Catalog {
		m[s.Name] = s
	}
	return m
}()

// Lookup returns the built-in event called name.
func Lookup(name string) (Spec, bool) {
	s, ok := byName[name]
	return s, ok
}

// Reserved reports whether name is a built-in event or in a namespace the
// built-in events use (task., step., engine., plugin., template.,
// handler.), which custom events may not take.
func Reserved(name string) bool {
	if _, ok := byName[name]; ok {
		return true
	}
	prefix, _, _ := strings.Cut(name, ".")
	for _, s := range Catalog {
		if p, _, _ := strings.Cut(s.Name, "."); p == prefix {
			return true
		}
	}
	return false
}

// Markdown renders the catalog as docs/EVENTS.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# Events

<!-- Generated from core/events/catalog.go by ` + "`go test ./core/events -update`" + `; do not edit by hand. -->

Every lifecycle event of tasks, steps, the orchestration loop, plugins and the registry is written
to the outbox table ` + "`tasker.events`" + `: task and step events by the database, in the same transaction
as the state change that causes them (so an event exists exactly when its change committed), the
others by the node that sees them. ` + "`GET {prefix}/events/catalog`" + ` returns this catalog with the custom
events of every registered template.

Every event has: ` + "`event_id`" + `, ` + "`name`" + `, ` + "`task_id`" + ` and ` + "`step_id`" + ` (when it concerns one),
` + "`correlation_id`" + ` (the task's, from the X-Correlation-ID of the request that created it),
` + "`created_at`" + ` and a JSON ` + "`payload`" + ` whose fields are listed below. Fields without a value are left
out of the payload.

Delivery: durable subscribers (the log today) receive events at least once, in the order their
transactions committed (so in order per task), each from a cursor of its own that survives
restarts; see ` + "`core/events`" + ` (` + "`Subscriber`" + `, ` + "`Dispatcher`" + `). Claims of steps are reported by
` + "`step.started`" + ` per step, not per claim batch (batches are too frequent to be useful events).
Step creation makes no event: ` + "`task.created`" + ` carries ` + "`step_count`" + `.

Plugin subscriptions: a plugin lists subscriptions (` + "`pluginsdk.Subscribe(name, globs, fn)`" + `) in
` + "`Plugin.Subscriptions`" + `; each is a durable subscriber named ` + "`plugin:<plugin>:<subscription>`" + ` that
receives the events whose names match its globs over the plugin protocol, in batches, at least once
(deduplicate by ` + "`Event.ID`" + `): an error, a crash of the plugin or ` + "`plugins.call_timeout`" + ` means the
batch is delivered again. Of several loaded versions of a plugin, the highest one declaring the
subscription receives the events, and the cursor survives upgrades. A new subscription starts after
the events already written; one first declared by a plugin that a reload (SIGHUP) brings in starts
at the next start of tasker. See [HANDLERS.md](HANDLERS.md).

Streams: ` + "`GET {prefix}/events/stream`" + ` (permission ` + "`tasker.event:index`" + `) follows events live as
server-sent events, in the same order: ` + "`retry: 2000`" + ` first, then per event ` + "`id: <cursor>`" + `,
` + "`event: <name>`" + ` and ` + "`data: <the event as one line of JSON>`" + `, and a ` + "`: heartbeat`" + ` comment every
15 s when idle. ` + "`?task_id=N`" + ` keeps one task's events and starts at its first (history, then
live); ` + "`?events=task.*,step.failed`" + ` keeps names matching the globs; otherwise a stream starts at
the current end. The id is an opaque cursor: reconnecting with it as ` + "`Last-Event-ID`" + ` (or
` + "`?after=`" + `) resumes exactly after that event. Streams share one LISTEN connection per node, are
limited by ` + "`api.max_streams`" + ` (100; more get 503) and end when the node shuts down.
` + "`tasker task watch ID`" + ` prints one task's stream until it finishes.

Retention: finished tasks (with their steps and transitions) and delivered events older than
` + "`retention.tasks`" + ` and ` + "`retention.events`" + ` (a week by default) are deleted in batches.

`)
	b.WriteString(webhooksMarkdown())
	sources := []struct{ key, title string }{{"task", "Tasks"}, {"step", "Steps"}, {"engine", "The orchestration loop"},
		{"plugin", "Plugins"}, {"registry", "The registry"}}
	for _, src := range sources {
		fmt.Fprintf(&b, "## %s\n\n", src.title)
		for _, s := range Catalog {
			if s.Source != src.key {
				continue
			}
			fmt.Fprintf(&b, "### `%s`\n\n%s\n\n| field | type | meaning |\n|---|---|---|\n", s.Name, s.Description)
			for _, f := range s.Fields {
				fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, f.Type, f.Description)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString(`## Custom events

A template may declare events its handlers publish:

` + "```yaml" + `
events:
  - name: order.shipped          # <lowercase>.<lowercase>, not a built-in name or namespace
    description: The parcel left the warehouse.
    schema:                      # optional JSON Schema of the payload
      type: object
      required: [carrier]
      properties:
        carrier: {type: string}
` + "```" + `

A handler publishes one with ` + "`pluginsdk.Publish(ctx, name, payload)`" + ` (see docs/HANDLERS.md). The
engine writes the events a successful attempt published in the same transaction as the step's
completion, just before ` + "`step.completed`" + `; a failed attempt writes none. An attempt that publishes an
undeclared name, or a payload its schema refuses, fails for good with a message naming the event.
Their payload:

| field | type | meaning |
|---|---|---|
`)
	for _, f := range customFields {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, f.Type, f.Description)
	}
	return b.String()
}

// Names returns the built-in event names, sorted.
func Names() []string {
	out := make([]string, 0, len(Catalog))
	for _, s := range Catalog {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

package core_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

const evTemplate = `
name: ship
version: 1.0.0
events:
  - name: order.shipped
    description: the parcel left
    schema: {type: object, required: [carrier], properties: {carrier: {type: string}}}
  - name: order.noted
step_templates:
  - {name: pack, handler: pack}
`

func TestTemplateEvents(t *testing.T) {
	t.Parallel()
	tpl, err := core.ParseTemplate(core.TemplateSource{Origin: "t", YAML: []byte(evTemplate)})
	require.NoError(t, err)
	require.Len(t, tpl.Events, 2)
	def, _, err := tpl.Definition()
	require.NoError(t, err)
	require.Contains(t, string(def), `"order.shipped"`, "declared events are part of the stored definition")

	require.NoError(t, tpl.CheckPublishedEvents([]core.PublishedEvent{
		{Name: "order.shipped", Payload: json.RawMessage(`{"carrier":"ups"}`)}, {Name: "order.noted"}}))
	err = tpl.CheckPublishedEvents([]core.PublishedEvent{{Name: "order.lost", Payload: json.RawMessage(`{}`)}})
	require.ErrorContains(t, err, `the handler published event "order.lost", which task template default/ship@1.0.0 does not declare`)
	err = tpl.CheckPublishedEvents([]core.PublishedEvent{{Name: "order.shipped", Payload: json.RawMessage(`{"carrier":1}`)}})
	require.ErrorContains(t, err, `event "order.shipped": payload does not match its declared schema: /carrier:`)
}

func TestTemplateEventsRefused(t *testing.T) {
	t.Parallel()
	for yaml, want := range map[string]string{
		"events: [{name: Order.Shipped}]":           `events[0]: name "Order.Shipped" must be <lowercase>.<lowercase>`,
		"events: [{name: shipped}]":                 `events[0]: name "shipped" must be <lowercase>.<lowercase>`,
		"events: [{name: task.done}]":               `event "task.done": the namespace task. belongs to tasker's built-in events`,
		"events: [{name: step.completed}]":          `event "step.completed": the namespace step. belongs`,
		"events: [{name: a.b}, {name: a.b}]":        `event "a.b" is declared twice`,
		"events: [{name: a.b, schema: {type: 12}}]": `event "a.b": schema is not a valid JSON Schema`,
		"events: [{name: a.b, colour: red}]":        `field colour not found`,
	} {
		_, err := core.ParseTemplate(core.TemplateSource{Origin: "t", YAML: []byte("name: x\nversion: 1.0.0\n" + yaml +
			"\nstep_templates: [{name: s, handler: h}]\n")})
		require.ErrorContains(t, err, want, yaml)
	}
}

func TestPublishEventNeedsASink(t *testing.T) {
	t.Parallel()
	require.ErrorIs(t, core.PublishEvent(t.Context(), "a.b", nil), core.ErrNoEventSink)
	ctx, got := core.WithEventSink(t.Context())
	require.NoError(t, core.PublishEvent(ctx, "a.b", json.RawMessage(`{"x":1}`)))
	require.Error(t, core.PublishEvent(ctx, "a.c", json.RawMessage(`{`)))
	require.Equal(t, []core.PublishedEvent{{Name: "a.b", Payload: json.RawMessage(`{"x":1}`)}}, got())
}

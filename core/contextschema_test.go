package core

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

const withSchema = `
name: orders
version: 1.0.0
schema:
  type: object
  required: [order_id, customer]
  properties:
    order_id: {type: integer, minimum: 1}
    currency: {type: string, default: EUR}
    customer:
      type: object
      required: [email]
      properties:
        email: {type: string}
        tier: {type: string, enum: [basic, gold], default: basic}
step_templates:
  - {name: a, handler: h}
`

func compile(t *testing.T, doc string) (*Template, *ContextSchema) {
	t.Helper()
	tpl, err := parse(t, doc)
	require.NoError(t, err)
	cs, err := tpl.CompileSchema()
	require.NoError(t, err)
	return tpl, cs
}

func TestContextSchemaInsertsDefaults(t *testing.T) {
	t.Parallel()
	tpl, cs := compile(t, withSchema)
	out, err := cs.Apply(tpl.Key(), json.RawMessage(`{"order_id": 5, "customer": {"email": "a@b.c"}}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"order_id": 5, "currency": "EUR", "customer": {"email": "a@b.c", "tier": "basic"}}`, string(out))

	out, err = cs.Apply(tpl.Key(), json.RawMessage(`{"order_id": 5, "currency": "USD", "customer": {"email": "a@b.c", "tier": "gold"}}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"order_id": 5, "currency": "USD", "customer": {"email": "a@b.c", "tier": "gold"}}`, string(out), "given values win")
}

func TestContextSchemaListsEveryViolation(t *testing.T) {
	t.Parallel()
	tpl, cs := compile(t, withSchema)
	_, err := cs.Apply(tpl.Key(), json.RawMessage(`{"order_id": 0, "customer": {"tier": "platinum"}}`))
	var ce *ContextError
	require.True(t, errors.As(err, &ce), "got %v", err)
	paths := map[string]string{}
	for _, v := range ce.Violations {
		paths[v.Path] = v.Message
	}
	require.Contains(t, paths, "/order_id")
	require.Contains(t, paths["/order_id"], "minimum")
	require.Contains(t, paths, "/customer")
	require.Contains(t, paths["/customer"], "email")
	require.Contains(t, paths, "/customer/tier")
	require.ErrorContains(t, err, "context does not match the schema of task template default/orders@1.0.0")

	_, err = cs.Apply(tpl.Key(), nil)
	require.True(t, errors.As(err, &ce))
	require.Equal(t, "", ce.Violations[0].Path, "an absent context is an empty object missing its required fields")
}

func TestTemplateWithInvalidSchemaIsRefused(t *testing.T) {
	t.Parallel()
	_, err := parse(t, `
name: t
version: 1.0.0
schema: {type: nonsense}
step_templates: [{name: a, handler: h}]`)
	require.ErrorContains(t, err, "schema is not a valid JSON Schema")
}

func TestTaskIdentity(t *testing.T) {
	t.Parallel()
	tpl, err := parse(t, `
name: t
version: 1.0.0
identity: {strategy: strict, window_seconds: 60}
step_templates: [{name: a, handler: h}]`)
	require.NoError(t, err)
	a, err := tpl.TaskIdentity(json.RawMessage(`{"b": 1, "a": [1, 2]}`), "")
	require.NoError(t, err)
	b, err := tpl.TaskIdentity(json.RawMessage(`{ "a": [1,2], "b": 1 }`), "")
	require.NoError(t, err)
	require.Equal(t, a, b, "key order and spacing do not change the identity")
	c, err := tpl.TaskIdentity(json.RawMessage(`{"a": [2, 1], "b": 1}`), "")
	require.NoError(t, err)
	require.NotEqual(t, a, c)
	k, err := tpl.TaskIdentity(json.RawMessage(`{"b": 1, "a": [1, 2]}`), "order-7")
	require.NoError(t, err)
	require.NotEqual(t, a, k, "an idempotency key wins over the strategy")

	tpl.Identity.Strategy = IdentityCallerProvided
	_, err = tpl.TaskIdentity(nil, "")
	require.ErrorContains(t, err, "requires an idempotency_key")

	tpl.Identity.Strategy = ""
	none, err := tpl.TaskIdentity(json.RawMessage(`{}`), "")
	require.NoError(t, err)
	require.Empty(t, none, "always_unique by default")

	_, err = parse(t, `
name: t
version: 1.0.0
identity: {strategy: sometimes}
step_templates: [{name: a, handler: h}]`)
	require.ErrorContains(t, err, `identity strategy "sometimes"`)
}

package core

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGraph(t *testing.T) {
	t.Parallel()
	tpl, err := parse(t, diamond)
	require.NoError(t, err)
	g := tpl.Graph()
	require.Equal(t, []string{"start", "left", "right", "join"}, g.Nodes)
	require.Equal(t, []Edge{{"start", "left"}, {"start", "right"}, {"left", "join"}, {"right", "join"}}, g.Edges)
	require.Equal(t, []string{"start", "left", "right", "join"}, g.ExecutionOrder)
	require.Equal(t, map[string]int{"start": 0, "left": 1, "right": 1, "join": 2}, g.Levels)

	// Listed out of order: the execution order still respects dependencies.
	tpl, err = parse(t, `
name: t
version: 1.0.0
step_templates:
  - {name: c, handler: h, depends_on_steps: [a, b]}
  - {name: b, handler: h, depends_on_step: a}
  - {name: a, handler: h}`)
	require.NoError(t, err)
	g = tpl.Graph()
	require.Equal(t, []string{"a", "b", "c"}, g.ExecutionOrder)
	require.Equal(t, map[string]int{"a": 0, "b": 1, "c": 2}, g.Levels)
}

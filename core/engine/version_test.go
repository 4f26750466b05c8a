package engine_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
)

// versionHandler returns the plugin version it stands for.
func versionHandler(version string) core.Handler {
	return handlerFunc(func(context.Context, core.StepRequest) (json.RawMessage, error) {
		return json.RawMessage(`{"version": "` + version + `"}`), nil
	})
}

func TestEngineRunsPinnedHandlerVersion(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{}, handlersForPipeline())
	require.NoError(t, b.reg.AddHandlers("stamp", "1.0.0", map[string]core.Handler{"stamp": versionHandler("1.0.0")}))
	require.NoError(t, b.reg.AddHandlers("stamp", "1.1.0", map[string]core.Handler{"stamp": versionHandler("1.1.0")}))
	require.NoError(t, b.engine.LoadTemplates(b.ctx, []core.TemplateSource{{Origin: "versions.yaml", YAML: []byte(`
name: versions
version: 1.0.0
step_templates:
  - {name: pinned, handler: stamp, handler_version: "1.0.0"}
  - {name: caret, handler: stamp, handler_version: "^1"}
  - {name: unpinned, handler: stamp}
`)}}))
	err := b.engine.LoadTemplates(b.ctx, []core.TemplateSource{{Origin: "future.yaml", YAML: []byte(`
name: future
version: 1.0.0
step_templates: [{name: a, handler: stamp, handler_version: ">=2"}]`)}})
	require.ErrorContains(t, err, `step "a": handler "stamp" has no loaded version satisfying ">=2" (loaded: plugin stamp v1.0.0, v1.1.0)`)

	b.run(t)
	id, _, err := b.engine.CreateTask(b.ctx, core.TaskRequest{Name: "versions"})
	require.NoError(t, err)
	task := b.waitFor(t, id, core.TaskStatusComplete)
	got := map[string]string{}
	for _, s := range task.Steps {
		got[s.Name] = string(s.Results)
	}
	require.JSONEq(t, `{"version": "1.0.0"}`, got["pinned"])
	require.JSONEq(t, `{"version": "1.1.0"}`, got["caret"])
	require.JSONEq(t, `{"version": "1.1.0"}`, got["unpinned"])
	require.Contains(t, b.logs.String(), `"handler_version":"1.0.0"`)
}

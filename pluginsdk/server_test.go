package pluginsdk

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
)

func testServer(t *testing.T) *server {
	t.Helper()
	srv, err := newServer(Plugin{
		Name:    "demo",
		Version: "1.2.3-rc.1",
		Handlers: map[string]Handler{
			"echo": func(ctx context.Context, req Request) (any, error) {
				var dep map[string]any
				if err := req.DecodeResult("prev", &dep); err != nil {
					return nil, err
				}
				return map[string]any{"attempt": req.Attempt, "task": req.TaskID, "ctx": req.Context, "dep": dep}, nil
			},
			"nothing": func(context.Context, Request) (any, error) { return nil, nil },
			"slow": func(context.Context, Request) (any, error) {
				return nil, RetryAfter(3*time.Second, errors.New("busy"))
			},
			"panics": func(context.Context, Request) (any, error) { panic("kaboom") },
			"bad":    func(context.Context, Request) (any, error) { return func() {}, nil },
		},
		MaxConcurrency: map[string]int{"slow": 2},
		Templates: fstest.MapFS{
			"a.yaml":       {Data: []byte("name: a\n")},
			"sub/b.yml":    {Data: []byte("name: b\n")},
			"README.md":    {Data: []byte("not a template")},
			"sub/c.yaml.x": {Data: []byte("no")},
		},
	})
	require.NoError(t, err)
	return srv
}

func TestServerInfo(t *testing.T) {
	t.Parallel()
	info, err := testServer(t).Info(context.Background(), &pluginv1.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, "demo", info.GetName())
	require.Equal(t, "1.2.3-rc.1", info.GetVersion())
	var names []string
	limits := map[string]int32{}
	for _, h := range info.GetHandlers() {
		names = append(names, h.GetName())
		limits[h.GetName()] = h.GetMaxConcurrency()
	}
	require.Equal(t, []string{"bad", "echo", "nothing", "panics", "slow"}, names)
	require.Equal(t, int32(2), limits["slow"])
	require.Equal(t, int32(0), limits["echo"], "no limit unless set")
	require.Len(t, info.GetTemplates(), 2)
	require.Equal(t, "a.yaml", info.GetTemplates()[0].GetFileName())
	require.Equal(t, "sub/b.yml", info.GetTemplates()[1].GetFileName())
	require.Equal(t, "name: b\n", string(info.GetTemplates()[1].GetYaml()))
}

func TestServerExecute(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	ctx := context.Background()

	resp, err := srv.Execute(ctx, &pluginv1.ExecuteRequest{
		TaskId: 9, Handler: "echo", Attempt: 2,
		ContextJson:           []byte(`{"k":1}`),
		DependencyResultsJson: map[string][]byte{"prev": []byte(`{"ok":true}`)},
	})
	require.NoError(t, err)
	require.Nil(t, resp.GetError())
	require.JSONEq(t, `{"attempt":2,"task":9,"ctx":{"k":1},"dep":{"ok":true}}`, string(resp.GetResultsJson()))

	resp, err = srv.Execute(ctx, &pluginv1.ExecuteRequest{Handler: "nothing"})
	require.NoError(t, err)
	require.Equal(t, "null", string(resp.GetResultsJson()))

	resp, err = srv.Execute(ctx, &pluginv1.ExecuteRequest{Handler: "slow"})
	require.NoError(t, err)
	require.Equal(t, pluginv1.StepError_KIND_RETRYABLE, resp.GetError().GetKind())
	require.Equal(t, int64(3000), resp.GetError().GetRetryAfterMs())
	require.Equal(t, "busy", resp.GetError().GetMessage())

	resp, err = srv.Execute(ctx, &pluginv1.ExecuteRequest{Handler: "echo", StepName: "s"})
	require.NoError(t, err, "handler failures travel in the response, not as a gRPC error")
	require.Equal(t, pluginv1.StepError_KIND_PERMANENT, resp.GetError().GetKind())
	require.Contains(t, resp.GetError().GetMessage(), `no result from dependency step "prev"`)

	resp, err = srv.Execute(ctx, &pluginv1.ExecuteRequest{Handler: "panics"})
	require.NoError(t, err)
	require.Equal(t, pluginv1.StepError_KIND_RETRYABLE, resp.GetError().GetKind())
	require.Equal(t, `handler "panics" panicked: kaboom`, resp.GetError().GetMessage())

	resp, err = srv.Execute(ctx, &pluginv1.ExecuteRequest{Handler: "bad"})
	require.NoError(t, err)
	require.Equal(t, pluginv1.StepError_KIND_PERMANENT, resp.GetError().GetKind())
	require.Contains(t, resp.GetError().GetMessage(), "encoding its results as JSON")

	resp, err = srv.Execute(ctx, &pluginv1.ExecuteRequest{Handler: "missing"})
	require.NoError(t, err)
	require.Equal(t, pluginv1.StepError_KIND_PERMANENT, resp.GetError().GetKind())
	require.Equal(t, `plugin demo v1.2.3-rc.1 has no handler "missing" (it has: bad, echo, nothing, panics, slow)`, resp.GetError().GetMessage())
}

func TestRequestFromProtoDefaultsToNull(t *testing.T) {
	t.Parallel()
	req := requestFromProto(&pluginv1.ExecuteRequest{})
	require.Equal(t, json.RawMessage("null"), req.Context)
	require.Equal(t, json.RawMessage("null"), req.HandlerConfig)
	require.NotNil(t, req.DependencyResults)
}

func TestPluginValidation(t *testing.T) {
	t.Parallel()
	ok := func(context.Context, Request) (any, error) { return nil, nil }
	_, err := newServer(Plugin{Name: "Orders", Version: "v1.0.0", Handlers: map[string]Handler{"x": ok}})
	require.ErrorContains(t, err, `plugin name "Orders"`)
	require.ErrorContains(t, err, `version "v1.0.0" is not a semantic version`)
	_, err = newServer(Plugin{Name: "orders", Version: "1.0.0"})
	require.ErrorContains(t, err, "has no handlers")
	_, err = newServer(Plugin{Name: "orders", Version: "1.0.0", Handlers: map[string]Handler{"x": nil}})
	require.ErrorContains(t, err, `handler "x" is nil`)
	_, err = newServer(Plugin{Name: "orders", Version: "1.0.0", Handlers: map[string]Handler{"x": ok},
		MaxConcurrency: map[string]int{"x": 0, "y": 1}})
	require.ErrorContains(t, err, `MaxConcurrency of handler "x" is 0`)
	require.ErrorContains(t, err, `MaxConcurrency names handler "y", which it does not have`)
}

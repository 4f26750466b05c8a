package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/web"
	"github.com/tasker-systems/tasker/web/client"
)

// gateHandler completes a step once its gate opens.
type gateHandler struct{ gate chan struct{} }

func (g gateHandler) Execute(ctx context.Context, _ core.StepRequest) (json.RawMessage, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return json.RawMessage(`{"ok": true}`), nil
}

type streamEnv struct {
	pool   *pgxpool.Pool
	api    *web.Server
	srv    *httptest.Server
	client *client.Client
	gate   chan struct{}
}

// newStreamEnv runs an engine over a fresh database, with the pipeline
// template whose charge step waits for env.gate, and serves the API.
func newStreamEnv(t *testing.T, cfg web.Config) *streamEnv {
	t.Helper()
	pool := pgtest.New(t)
	st := store.New(pool)
	gate := make(chan struct{})
	reg := registry.New()
	require.NoError(t, reg.AddUnversioned(map[string]core.Handler{"work": workHandler{}, "gated": gateHandler{gate}}))
	logger := slog.New(slog.DiscardHandler)
	eng := engine.New(st, reg, logger, engine.Config{Workers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, eng.LoadTemplates(ctx, []core.TemplateSource{{Origin: "test",
		YAML: []byte(strings.Replace(patchTemplate, "{name: charge, handler: work", "{name: charge, handler: gated", 1))}}))
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	cfg.Store, cfg.Tasks, cfg.Registry, cfg.Logger = st, eng, reg, logger
	if cfg.StreamPoll == 0 {
		cfg.StreamPoll = 5 * time.Second // notifications must do the work
	}
	api := web.New(cfg)
	api.MarkReady()
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		api.MarkStopping()
		srv.Close()
		cancel()
		<-done
	})
	c := client.New(srv.URL + "/tasker")
	return &streamEnv{pool: pool, api: api, srv: srv, client: c, gate: gate}
}

func (e *streamEnv) newTask(t *testing.T) int64 {
	t.Helper()
	task, err := e.client.CreateTask(context.Background(), core.TaskRequest{Name: "pipeline", Namespace: "shop"})
	require.NoError(t, err)
	return task.TaskID
}

// sseEvent is one event as it came over the wire.
type sseEvent struct {
	id, name string
	event    core.Event
}

// sseStream reads a raw event stream.
type sseStream struct {
	resp  *http.Response
	sc    *bufio.Scanner
	retry string
}

func openStream(t *testing.T, url string, headers map[string]string) *sseStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return &sseStream{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next event, failing the test after a while.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	timer := time.AfterFunc(20*time.Second, func() { s.resp.Body.Close() })
	defer timer.Stop()
	var ev sseEvent
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "" && ev.name != "":
			return ev
		case strings.HasPrefix(line, "retry: "):
			s.retry = strings.TrimPrefix(line, "retry: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.event))
		}
	}
	t.Fatalf("the stream ended: %v", s.sc.Err())
	return ev
}

// nextOr is next for other goroutines: a zero event when the stream ends
// or nothing came in time.
func (s *sseStream) nextOr(wait time.Duration) sseEvent {
	timer := time.AfterFunc(wait, func() { s.resp.Body.Close() })
	defer timer.Stop()
	var ev sseEvent
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "" && ev.name != "":
			return ev
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.event)
		}
	}
	return sseEvent{}
}

// until reads events up to and including the one named name.
func (s *sseStream) until(t *testing.T, name string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for {
		ev := s.next(t)
		out = append(out, ev)
		if ev.name == name {
			return out
		}
	}
}

func names(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.name)
	}
	return out
}

func TestEventStreamShowsAWorkflowFromStartToEnd(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, web.Config{})
	id := e.newTask(t)
	s := openStream(t, fmt.Sprintf("%s/tasker/events/stream?task_id=%d", e.srv.URL, id), nil)

	// The history first: created, started, fetch done, charge running (its gate is shut).
	first := s.until(t, "step.started")
	require.Equal(t, "2000", s.retry)
	require.Equal(t, "task.created", first[0].name)
	var live []sseEvent
	for {
		ev := s.next(t)
		first = append(first, ev)
		if ev.name == "step.started" && strings.Contains(string(ev.event.Payload), `"step_name":"charge"`) {
			break
		}
	}
	close(e.gate) // charge completes now, live
	live = s.until(t, "task.completed")
	all := append(first, live...)
	require.Equal(t, []string{"task.created", "task.started", "step.started", "step.completed",
		"step.started", "step.completed", "step.started", "step.completed", "task.completed"}, names(all))
	seen := map[string]bool{}
	for _, ev := range all {
		require.Equal(t, id, ev.event.TaskID)
		require.Equal(t, ev.name, ev.event.Name)
		require.NotEmpty(t, ev.id)
		require.False(t, seen[ev.id], "ids are unique")
		seen[ev.id] = true
	}

	// Resuming after the fourth event yields exactly the events after it.
	var resumed []string
	last, err := e.client.StreamEvents(context.Background(), client.StreamOptions{TaskID: id, After: all[3].id},
		func(ev client.StreamEvent) error {
			resumed = append(resumed, ev.Name)
			if ev.Name == "task.completed" {
				return io.EOF
			}
			return nil
		})
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, names(all[4:]), resumed)
	require.Equal(t, all[len(all)-2].id, last, "the last id is the last event handled in full")
	// The header, sent raw.
	r := openStream(t, fmt.Sprintf("%s/tasker/events/stream?task_id=%d", e.srv.URL, id), map[string]string{"Last-Event-ID": all[6].id})
	require.Equal(t, names(all[7:]), names(r.until(t, "task.completed")))

	// Filtered by globs.
	f := openStream(t, fmt.Sprintf("%s/tasker/events/stream?task_id=%d&events=task.*", e.srv.URL, id), nil)
	require.Equal(t, []string{"task.created", "task.started", "task.completed"}, names(f.until(t, "task.completed")))
	f = openStream(t, fmt.Sprintf("%s/tasker/events/stream?task_id=%d&events=step.completed,task.completed", e.srv.URL, id), nil)
	require.Equal(t, []string{"step.completed", "step.completed", "step.completed", "task.completed"}, names(f.until(t, "task.completed")))
}

func TestEventStreamRefusals(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, web.Config{MaxStreams: 2})
	for path, want := range map[string]int{
		"?task_id=424242": 404, "?task_id=x": 400, "?task_id=-1": 400, "?after=1": 400, "?events=a[": 400,
	} {
		resp, err := http.Get(e.srv.URL + "/tasker/events/stream" + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}
	openStream(t, e.srv.URL+"/tasker/events/stream", nil)
	openStream(t, e.srv.URL+"/tasker/events/stream", nil)
	resp, err := http.Get(e.srv.URL + "/tasker/events/stream")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "beyond api.max_streams")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

func TestEventStreamsShareOneListenConnection(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, web.Config{})
	const n = 12
	streams := make([]*sseStream, n)
	for i := range streams {
		streams[i] = openStream(t, e.srv.URL+"/tasker/events/stream?events=task.created", nil) // from the current end
	}
	require.Eventually(t, func() bool { return e.api.OpenStreams() == n && e.api.StreamListeners() == 1 }, 10*time.Second, 20*time.Millisecond)
	var listening int
	require.NoError(t, e.pool.QueryRow(context.Background(), `select count(*) from pg_stat_activity
		where datname = current_database() and query ilike 'listen %tasker_events%'`).Scan(&listening))
	require.Equal(t, 1, listening, "one LISTEN tasker_events session for every stream")

	// Every stream receives a new task's creation, woken by the notification.
	id := e.newTask(t)
	got := make([]sseEvent, n)
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Go(func() { got[i] = s.nextOr(20 * time.Second) })
	}
	wg.Wait()
	for _, ev := range got {
		require.Equal(t, "task.created", ev.name)
		require.Equal(t, id, ev.event.TaskID)
	}

	// Shutting down ends every stream, and the listener with the last one.
	e.api.MarkStopping()
	for _, s := range streams {
		_, err := io.Copy(io.Discard, s.resp.Body)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return e.api.OpenStreams() == 0 && e.api.StreamListeners() == 0 }, 10*time.Second, 20*time.Millisecond)
	close(e.gate)
}

package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/events"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

const eventsDoc = "../../docs/EVENTS.md"

var update = flag.Bool("update", false, "rewrite docs/EVENTS.md from the catalog")

func TestMain(m *testing.M) {
	flag.Parse()
	// Here, not in the test: pgtest drops root privileges process-wide, and
	// the unprivileged user may not write the checkout's files.
	if *update {
		if err := os.WriteFile(eventsDoc, []byte(events.Markdown()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "rewrite %s: %v\n", eventsDoc, err)
			os.Exit(1)
		}
	}
	pgtest.Main(m)
}

func TestEventsDocIsTheCatalog(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile(eventsDoc)
	require.NoError(t, err)
	require.Equal(t, events.Markdown(), string(got), "docs/EVENTS.md is stale: run go test ./core/events -update")
}

func TestCatalogNamesAreWellFormedAndReserved(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range events.Catalog {
		require.Regexp(t, core.EventNameRe, s.Name)
		require.False(t, seen[s.Name], "%s twice", s.Name)
		seen[s.Name] = true
		ns, _, _ := strings.Cut(s.Name, ".")
		require.Contains(t, core.ReservedEventNamespaces, ns, "custom events must not be able to take %s", s.Name)
		require.True(t, events.Reserved(s.Name))
		require.NotEmpty(t, s.Fields, s.Name)
	}
	require.False(t, events.Reserved("order.shipped"))
}

type env struct {
	ctx  context.Context
	pool *pgxpool.Pool
	st   *store.Store
	log  *slog.Logger
}

func setup(t *testing.T) env {
	t.Helper()
	pool := pgtest.New(t)
	return env{ctx: context.Background(), pool: pool, st: store.New(pool), log: slog.New(slog.DiscardHandler)}
}

func (e env) publish(t *testing.T, n int, name string) {
	t.Helper()
	for i := range n {
		require.NoError(t, e.st.PublishEvent(e.ctx, name, 0, 0, map[string]int{"i": i}))
	}
}

// recorder is a subscriber that records what it is given and can fail.
type recorder struct {
	name  string
	mu    sync.Mutex
	got   []core.Event
	calls atomic.Int32
	fail  atomic.Bool
	block chan struct{} // when set, Deliver waits on it
	only  string
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Wants(e events.Event) bool {
	return r.only == "" || e.Name == r.only
}
func (r *recorder) Deliver(ctx context.Context, batch []events.Event) error {
	r.calls.Add(1)
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.fail.Load() {
		return errors.New("endpoint down")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, batch...)
	return nil
}
func (r *recorder) events() []core.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]core.Event(nil), r.got...)
}

func ids(evs []core.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func run(t *testing.T, d *events.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func TestDispatcherDeliversInOrderFromTheEnd(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.publish(t, 3, "test.before") // a new subscriber starts after these
	d := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: 20 * time.Millisecond})
	rec := &recorder{name: "rec"}
	all := &recorder{name: "all"}
	filtered := &recorder{name: "filtered", only: "test.b"}
	require.NoError(t, d.Add(e.ctx, rec, events.Options{BatchSize: 7}))
	require.NoError(t, d.Add(e.ctx, all, events.Options{Start: events.FromStart}))
	require.NoError(t, d.Add(e.ctx, filtered, events.Options{}))
	require.Error(t, d.Add(e.ctx, &recorder{name: "rec"}, events.Options{}), "names are unique")
	run(t, d)
	e.publish(t, 20, "test.a")
	e.publish(t, 2, "test.b")

	require.Eventually(t, func() bool { return len(rec.events()) == 22 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(all.events()) == 25 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(filtered.events()) == 2 }, 10*time.Second, 10*time.Millisecond)
	got := rec.events()
	require.IsIncreasing(t, ids(got))
	require.Equal(t, "test.a", got[0].Name)
	require.JSONEq(t, `{"i":0}`, string(got[0].Payload))
	require.IsIncreasing(t, ids(all.events()))
	require.Equal(t, "test.before", all.events()[0].Name)
	for _, ev := range filtered.events() {
		require.Equal(t, "test.b", ev.Name)
	}
	// Cursors moved past every event, wanted or not.
	for _, name := range []string{"rec", "all", "filtered"} {
		require.Eventually(t, func() bool {
			c, err := e.st.GetCursor(e.ctx, name)
			require.NoError(t, err)
			return c.EventID == got[len(got)-1].ID
		}, 5*time.Second, 10*time.Millisecond, name)
	}
}

// skipper is a recorder that leaves out names with some prefixes.
type skipper struct {
	*recorder
	skip []string
}

func (s skipper) Skip() []string { return s.skip }

// TestDispatcherSkipsWhatASkipperLeavesOut: a subscriber that skips "test.a"
// gets only the other events, in order, with their payloads; its cursor
// still passes the skipped ones, also at the end of the outbox and across
// windows of its batch size that hold nothing it wants.
func TestDispatcherSkipsWhatASkipperLeavesOut(t *testing.T) {
	t.Parallel()
	e := setup(t)
	d := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: 20 * time.Millisecond})
	sk := skipper{recorder: &recorder{name: "skipper"}, skip: []string{"test.a", "te_t.c"}}
	require.NoError(t, d.Add(e.ctx, sk, events.Options{BatchSize: 4}))
	run(t, d)
	e.publish(t, 2, "test.b")
	e.publish(t, 9, "test.a")
	e.publish(t, 1, "test.b")
	e.publish(t, 1, "test.c") // "_" is not a wildcard
	e.publish(t, 5, "test.a")

	require.Eventually(t, func() bool { return len(sk.events()) == 4 }, 10*time.Second, 10*time.Millisecond)
	got := sk.events()
	require.IsIncreasing(t, ids(got))
	require.Equal(t, []string{"test.b", "test.b", "test.b", "test.c"},
		[]string{got[0].Name, got[1].Name, got[2].Name, got[3].Name})
	for i, want := range []string{`{"i":0}`, `{"i":1}`, `{"i":0}`, `{"i":0}`} {
		require.JSONEq(t, want, string(got[i].Payload), "event %d keeps its own payload", i)
	}
	var last int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select max(event_id) from tasker.events`).Scan(&last))
	require.Eventually(t, func() bool {
		c, err := e.st.GetCursor(e.ctx, "skipper")
		require.NoError(t, err)
		return c.EventID == last
	}, 5*time.Second, 10*time.Millisecond, "the cursor passes the skipped events at the end")
	time.Sleep(100 * time.Millisecond)
	require.Len(t, sk.events(), 4, "nothing delivered twice")
}

// TestLogSkipsStepEventsBelowDebug: at info the log leaves step events in
// the database; at debug, where it logs them, it reads them.
func TestLogSkipsStepEventsBelowDebug(t *testing.T) {
	t.Parallel()
	info := events.LogSubscriber{Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	debug := events.LogSubscriber{Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	require.Equal(t, []string{"step."}, info.Skip())
	require.Empty(t, debug.Skip())
}

// TestDispatcherGathersABurstIntoOneDelivery: events committed one by one,
// each with its notification, within the subscriber's gather time arrive
// in one delivery, not one per commit (two at most: on a loaded machine the
// burst may outlast the gather time; without gathering there are ten).
func TestDispatcherGathersABurstIntoOneDelivery(t *testing.T) {
	t.Parallel()
	e := setup(t)
	d := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: time.Hour, Gather: 3 * time.Second})
	rec := &recorder{name: "rec"}
	require.NoError(t, d.Add(e.ctx, rec, events.Options{}))
	run(t, d)
	require.Eventually(t, func() bool { // the dispatcher listens
		var n int
		require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from pg_stat_activity
			where datname = current_database() and query like 'listen %tasker_events%'`).Scan(&n))
		return n > 0
	}, 10*time.Second, 10*time.Millisecond)
	for range 10 { // 20 ms apart: without gathering, each is delivered alone
		e.publish(t, 1, "test.burst")
		time.Sleep(20 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(rec.events()) == 10 }, 10*time.Second, 10*time.Millisecond)
	require.LessOrEqual(t, rec.calls.Load(), int32(2), "ten commits, gathered")
}

func TestDispatcherResumesAfterARestartWithoutLoss(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rec := &recorder{name: "durable"}
	d := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, d.Add(e.ctx, rec, events.Options{BatchSize: 5}))
	stop := run(t, d)
	e.publish(t, 12, "test.a")
	require.Eventually(t, func() bool { return len(rec.events()) == 12 }, 10*time.Second, 10*time.Millisecond)
	stop()

	e.publish(t, 8, "test.b") // written while no dispatcher runs
	rec2 := &recorder{name: "durable"}
	d2 := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, d2.Add(e.ctx, rec2, events.Options{BatchSize: 5}))
	run(t, d2)
	require.Eventually(t, func() bool { return len(rec2.events()) == 8 }, 10*time.Second, 10*time.Millisecond)
	for _, ev := range rec2.events() {
		require.Equal(t, "test.b", ev.Name, "the cursor resumed where it was")
	}
	require.Greater(t, rec2.events()[0].ID, rec.events()[11].ID)
}

func TestFailingSubscriberIsRetriedAndHoldsItsCursor(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bad := &recorder{name: "bad"}
	bad.fail.Store(true)
	good := &recorder{name: "good"}
	d := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, d.Add(e.ctx, bad, events.Options{MaxBackoff: 50 * time.Millisecond}))
	require.NoError(t, d.Add(e.ctx, good, events.Options{}))
	start, err := e.st.GetCursor(e.ctx, "bad")
	require.NoError(t, err)
	run(t, d)
	e.publish(t, 4, "test.a")

	require.Eventually(t, func() bool { return len(good.events()) == 4 }, 10*time.Second, 10*time.Millisecond,
		"a failing subscriber holds back only itself")
	require.Eventually(t, func() bool { return bad.calls.Load() >= 3 }, 10*time.Second, 10*time.Millisecond, "retried")
	c, err := e.st.GetCursor(e.ctx, "bad")
	require.NoError(t, err)
	require.Equal(t, start, c, "the cursor does not move while delivery fails")

	bad.fail.Store(false)
	require.Eventually(t, func() bool { return len(bad.events()) == 4 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, ids(good.events()), ids(bad.events()))
}

func TestTwoDispatchersDoNotDeliverTheSameBatchAtOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var inFlight, maxInFlight atomic.Int32
	var mu sync.Mutex
	var delivered []int64
	mk := func() *concurrent {
		return &concurrent{inFlight: &inFlight, max: &maxInFlight, mu: &mu, delivered: &delivered}
	}
	var stops []func()
	for range 2 {
		d := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: 10 * time.Millisecond})
		require.NoError(t, d.Add(e.ctx, mk(), events.Options{BatchSize: 3}))
		stops = append(stops, run(t, d))
	}
	e.publish(t, 30, "test.a")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) >= 30
	}, 20*time.Second, 10*time.Millisecond)
	for _, s := range stops {
		s()
	}
	require.EqualValues(t, 1, maxInFlight.Load(), "one node at a time per subscriber")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, delivered, 30, "no batch delivered twice")
	require.IsIncreasing(t, delivered)
}

type concurrent struct {
	inFlight, max *atomic.Int32
	mu            *sync.Mutex
	delivered     *[]int64
}

func (c *concurrent) Name() string            { return "shared" }
func (c *concurrent) Wants(events.Event) bool { return true }
func (c *concurrent) Deliver(_ context.Context, batch []events.Event) error {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		m := c.max.Load()
		if n <= m || c.max.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond) // long enough for the other node to try
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.delivered = append(*c.delivered, ids(batch)...)
	return nil
}

func TestUncommittedEventsAreNotPassedOver(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rec := &recorder{name: "order"}
	d := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: 10 * time.Millisecond})
	require.NoError(t, d.Add(e.ctx, rec, events.Options{}))
	run(t, d)

	// A transaction takes an event id, then commits after a later one.
	tx, err := e.pool.Begin(e.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(e.ctx, `select tasker.publish_event('test.slow', null, null, '{}')`)
	require.NoError(t, err)
	e.publish(t, 1, "test.fast")
	time.Sleep(200 * time.Millisecond)
	require.Empty(t, rec.events(), "nothing is delivered while an older transaction may still add events")
	require.NoError(t, tx.Commit(e.ctx))
	require.Eventually(t, func() bool { return len(rec.events()) == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "test.slow", rec.events()[0].Name)
}

func TestLogSubscriberLogs(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	l := events.LogSubscriber{Logger: slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	require.NoError(t, l.Deliver(context.Background(), []events.Event{
		{ID: 1, Name: "task.completed", TaskID: 7, CorrelationID: "c-1", Payload: json.RawMessage(`{}`)},
		{ID: 2, Name: "step.started", TaskID: 7, StepID: 9, Payload: json.RawMessage(`{}`)},
	}))
	out := b.String()
	require.Contains(t, out, `"event":"task.completed"`)
	require.Contains(t, out, `"correlation_id":"c-1"`)
	require.NotContains(t, out, "step.started", "step events are debug")
}

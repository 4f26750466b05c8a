package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// slowSubscriber loads the slow plugin and returns its "record" subscriber.
func slowSubscriber(t *testing.T, opts Options) (*Host, *EventSubscriber) {
	t.Helper()
	h, logs, _ := optionsHost(t, opts, func(dir string) { copyFile(t, slowBinary, dir, slowFile, 0o755) })
	subs := h.Subscribers()
	require.Len(t, subs, 1, logs.String())
	require.Equal(t, "plugin:slow:record", subs[0].Name())
	require.Equal(t, []Subscription{{Name: "record", Events: []string{"test.*"}}}, h.Plugins()[0].Subscriptions)
	return h, subs[0]
}

// recordEvents makes events named names, whose payloads ask the record
// subscription to append them to file (plus extra fields, if any).
func recordEvents(file string, firstID int64, extra map[string]any, names ...string) []core.Event {
	var out []core.Event
	for i, name := range names {
		p := map[string]any{"file": file}
		for k, v := range extra {
			p[k] = v
		}
		data, _ := json.Marshal(p)
		out = append(out, core.Event{ID: firstID + int64(i), Name: name, TaskID: 9, Payload: data, CreatedAt: time.Now()})
	}
	return out
}

// deliverWanted delivers what s wants of evs, as the dispatcher does.
func deliverWanted(ctx context.Context, s *EventSubscriber, evs []core.Event) error {
	var batch []core.Event
	for _, e := range evs {
		if s.Wants(e) {
			batch = append(batch, e)
		}
	}
	return s.Deliver(ctx, batch)
}

func recorded(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(data)
}

func TestSubscriptionReceivesMatchingEventsInOrder(t *testing.T) {
	t.Parallel()
	_, s := slowSubscriber(t, Options{})
	file := filepath.Join(t.TempDir(), "events")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs := recordEvents(file, 10, nil, "test.one", "task.completed", "test.two", "order.shipped", "test.three")
	require.NoError(t, deliverWanted(ctx, s, evs))
	require.Equal(t, "10 test.one\n12 test.two\n14 test.three\n", recorded(t, file), "in order, filtered by the globs")
}

func TestSubscriptionBatchesAreSplitByThePayloadLimit(t *testing.T) {
	t.Parallel()
	_, s := slowSubscriber(t, Options{MaxPayloadBytes: 200})
	file := filepath.Join(t.TempDir(), "events")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := map[string]any{"pad": strings.Repeat("x", 150)} // one event per call
	require.NoError(t, s.Deliver(ctx, recordEvents(file, 1, big, "test.a", "test.b", "test.c")))
	require.Equal(t, "1 test.a\n2 test.b\n3 test.c\n", recorded(t, file))
}

func TestSubscriptionErrorMeansDeliverAgain(t *testing.T) {
	t.Parallel()
	_, s := slowSubscriber(t, Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, "events")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch := recordEvents(file, 1, map[string]any{"fail_once": filepath.Join(dir, "failed")}, "test.a", "test.b")
	err := s.Deliver(ctx, batch)
	require.ErrorContains(t, err, "failing once as asked")
	require.Empty(t, recorded(t, file), "nothing delivered")
	require.NoError(t, s.Deliver(ctx, batch), "the same batch, again")
	require.Equal(t, "1 test.a\n2 test.b\n", recorded(t, file))
}

func TestSubscriptionCrashIsRedeliveredAfterTheRestart(t *testing.T) {
	t.Parallel()
	h, s := slowSubscriber(t, Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, "events")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch := recordEvents(file, 1, map[string]any{"crash_once": filepath.Join(dir, "crashed")}, "test.a", "test.b")
	err := s.Deliver(ctx, batch)
	require.Error(t, err)
	require.Contains(t, err.Error(), "plugin process exited")
	require.NoError(t, s.Deliver(ctx, batch), "delivered by the relaunched process")
	require.Equal(t, "1 test.a\n2 test.b\n", recorded(t, file))
	require.Equal(t, 1, h.Plugins()[0].Restarts)
}

func TestSubscriptionCallTimeout(t *testing.T) {
	t.Parallel()
	_, s := slowSubscriber(t, Options{CallTimeout: time.Nanosecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.Deliver(ctx, recordEvents(filepath.Join(t.TempDir(), "events"), 1, nil, "test.a"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "plugins.call_timeout")
}

func TestPluginsWithoutSubscriptionsHaveNoSubscribers(t *testing.T) {
	t.Parallel()
	// The example plugin's build has a subscription; testdata/versioned,
	// built like a plugin that predates subscriptions, declares none and
	// still loads and runs its steps.
	h, logs, _ := versionedHost(t, "tasker-handler-versioned_v1.0.0")
	require.Len(t, h.Plugins(), 1, logs.String())
	require.Empty(t, h.Subscribers())
	require.Empty(t, h.Plugins()[0].Subscriptions)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.Handlers()["version"].Execute(ctx, stepRequest("version", 1, nil, nil))
	require.NoError(t, err)
	require.JSONEq(t, `{"plugin": "versioned", "version": "1.0.0"}`, string(out))
}

func TestSubscriberOfAnUnloadedPlugin(t *testing.T) {
	t.Parallel()
	h, s := slowSubscriber(t, Options{})
	h.Close()
	require.False(t, s.Wants(core.Event{Name: "test.a"}))
	err := s.Deliver(context.Background(), []core.Event{{ID: 1, Name: "test.a"}})
	require.ErrorContains(t, err, fmt.Sprintf("plugin %s with subscription %q is not loaded", "slow", "record"))
}

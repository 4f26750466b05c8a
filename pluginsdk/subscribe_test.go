package pluginsdk

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
)

func TestSubscriptionMatches(t *testing.T) {
	t.Parallel()
	s := Subscribe("s", []string{"task.*", "order.shipped"}, func(context.Context, []Event) error { return nil })
	require.True(t, s.Matches("task.completed"))
	require.True(t, s.Matches("order.shipped"))
	require.False(t, s.Matches("order.packed"))
	require.False(t, s.Matches("step.completed"))
	require.True(t, Subscribe("all", nil, s.Handle).Matches("anything.at_all"))
}

func TestSubscriptionValidation(t *testing.T) {
	t.Parallel()
	fn := func(context.Context, []Event) error { return nil }
	_, err := newServer(Plugin{Name: "watcher", Version: "1.0.0",
		Subscriptions: []Subscription{Subscribe("audit", nil, fn)}})
	require.NoError(t, err, "a plugin with subscriptions only is valid")
	_, err = newServer(Plugin{Name: "watcher", Version: "1.0.0", Subscriptions: []Subscription{
		Subscribe("Audit", nil, fn), Subscribe("a", []string{"task.["}, fn), Subscribe("b", nil, nil),
		Subscribe("c", nil, fn), Subscribe("c", nil, fn),
	}})
	require.ErrorContains(t, err, `subscription name "Audit"`)
	require.ErrorContains(t, err, `"task.[" is not a valid glob`)
	require.ErrorContains(t, err, `subscription "b" has no function`)
	require.ErrorContains(t, err, `two subscriptions are named "c"`)
}

func TestServerDeliversEvents(t *testing.T) {
	t.Parallel()
	var got [][]Event
	fail := true
	srv, err := newServer(Plugin{Name: "watcher", Version: "1.0.0", Subscriptions: []Subscription{
		Subscribe("audit", []string{"task.*"}, func(ctx context.Context, evs []Event) error {
			got = append(got, evs)
			Logger(ctx).Info("received", "n", len(evs))
			return nil
		}),
		Subscribe("flaky", nil, func(context.Context, []Event) error {
			if fail {
				fail = false
				return errors.New("database down")
			}
			return nil
		}),
		Subscribe("panics", nil, func(context.Context, []Event) error { panic("kaboom") }),
	}})
	require.NoError(t, err)

	info, err := srv.Info(context.Background(), &pluginv1.InfoRequest{})
	require.NoError(t, err)
	require.Len(t, info.GetSubscriptions(), 3)
	require.Equal(t, "audit", info.GetSubscriptions()[0].GetName())
	require.Equal(t, []string{"task.*"}, info.GetSubscriptions()[0].GetEvents())

	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	req := &pluginv1.DeliverEventsRequest{Subscription: "audit", Events: []*pluginv1.Event{
		{Id: 7, Name: "task.created", TaskId: 1, CorrelationId: "c-1", PayloadJson: []byte(`{"a":1}`), CreatedAt: timestamppb.New(at)},
		{Id: 9, Name: "task.completed", TaskId: 1, StepId: 0},
	}}
	_, err = srv.DeliverEvents(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, [][]Event{{
		{ID: 7, Name: "task.created", TaskID: 1, CorrelationID: "c-1", Payload: json.RawMessage(`{"a":1}`), CreatedAt: at},
		{ID: 9, Name: "task.completed", TaskID: 1, Payload: json.RawMessage("null")},
	}}, got)

	req.Subscription = "flaky"
	_, err = srv.DeliverEvents(context.Background(), req)
	require.Equal(t, codes.Aborted, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "database down")
	_, err = srv.DeliverEvents(context.Background(), req)
	require.NoError(t, err, "delivered on the retry")

	req.Subscription = "panics"
	_, err = srv.DeliverEvents(context.Background(), req)
	require.Equal(t, codes.Aborted, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), `subscription "panics" panicked: kaboom`)

	req.Subscription = "missing"
	_, err = srv.DeliverEvents(context.Background(), req)
	require.Equal(t, codes.NotFound, status.Code(err))
}

func TestDeliverFiltersLikeTheHost(t *testing.T) {
	t.Parallel()
	var got []string
	s := Subscribe("s", []string{"order.*"}, func(_ context.Context, evs []Event) error {
		for _, e := range evs {
			got = append(got, e.Name)
		}
		return nil
	})
	require.NoError(t, Deliver(context.Background(), s, []Event{{Name: "order.packed"}, {Name: "task.completed"}, {Name: "order.shipped"}}))
	require.Equal(t, []string{"order.packed", "order.shipped"}, got)
	got = nil
	require.NoError(t, Deliver(context.Background(), s, []Event{{Name: "task.completed"}}))
	require.Nil(t, got, "no call without a matching event")
}

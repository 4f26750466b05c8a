package plugintest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tasker-systems/tasker/pluginsdk"
	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// lastEventID numbers the events NewEvent makes.
var lastEventID atomic.Int64

// NewEvent returns an event as tasker delivers it to a subscription: name,
// payload encoded as JSON (nil is JSON null; a value that cannot be
// encoded fails the test), a fresh ID (increasing within the test binary)
// and CreatedAt now. Set TaskID, StepID or CorrelationID on the result
// when the subscription reads them.
func NewEvent(t testing.TB, name string, payload any) pluginsdk.Event {
	t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		t.Fatalf("plugintest: encoding the payload of event %s: %v", name, err)
	}
	return pluginsdk.Event{ID: lastEventID.Add(1), Name: name, Payload: data, CreatedAt: time.Now()}
}

// Deliver hands events to sub in the test's process, as a plugin built
// with pluginsdk.Serve does when tasker delivers them: those sub does not
// match are left out (tasker filters them), the rest go in one batch, and
// a panic becomes an error. A nil error means delivered; an error means
// tasker would deliver the same batch again later. The context is
// t.Context().
func Deliver(t testing.TB, sub pluginsdk.Subscription, events ...pluginsdk.Event) error {
	t.Helper()
	if sub.Handle == nil {
		t.Fatalf("plugintest: Deliver to subscription %q: it has no function", sub.Name)
	}
	return pluginsdk.Deliver(t.Context(), sub, events)
}

// Deliver hands events to the plugin's subscription named subscription
// over gRPC, as the host does: the events its globs do not match are left
// out (the call is not made when none is left) and the rest go in one
// batch. A nil error means delivered; an error (the subscription's, or a
// crash) means the host would deliver the batch again later. An unknown
// subscription fails the test.
func (p *Plugin) Deliver(ctx context.Context, subscription string, events ...pluginsdk.Event) error {
	p.t.Helper()
	globs, ok := p.info.Subscriptions[subscription]
	if !ok {
		p.t.Fatalf("plugintest: plugin %s declares no subscription %q", p.label, subscription)
	}
	req := &pluginv1.DeliverEventsRequest{Subscription: subscription}
	for _, e := range events {
		if !wire.MatchEvent(globs, e.Name) {
			continue
		}
		pe := &pluginv1.Event{Id: e.ID, Name: e.Name, TaskId: e.TaskID, StepId: e.StepID,
			CorrelationId: e.CorrelationID, PayloadJson: e.Payload}
		if !e.CreatedAt.IsZero() {
			pe.CreatedAt = timestamppb.New(e.CreatedAt)
		}
		req.Events = append(req.Events, pe)
	}
	if len(req.Events) == 0 {
		return nil
	}
	if _, err := p.rpc.DeliverEvents(ctx, req); err != nil {
		return fmt.Errorf("plugin %s: subscription %q: %s", p.label, subscription, status.Convert(err).Message())
	}
	return nil
}

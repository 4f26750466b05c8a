package pluginsdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Event is an event of tasker: a custom event a handler published with
// Publish (only Name and Payload are set), or one of the events tasker
// delivers to a Subscription (docs/EVENTS.md lists the built-in ones).
type Event struct {
	// ID identifies the event (unique, never reused); subscriptions
	// receive events at least once and deduplicate by it.
	ID   int64
	Name string
	// TaskID and StepID are 0 for events not about a task or step.
	TaskID int64
	StepID int64
	// CorrelationID is the task's correlation id ("" when it has none).
	CorrelationID string
	// Payload is JSON.
	Payload   json.RawMessage
	CreatedAt time.Time
}

type eventsKey struct{}

type eventList struct {
	mu     sync.Mutex
	events []Event
}

// ErrNotInHandler is returned by Publish when ctx is not a handler's.
var ErrNotInHandler = errors.New("pluginsdk.Publish: ctx is not the context of a running handler")

// Publish publishes a custom event from a handler: name must be declared
// under events: in the task's template (order.shipped), and payload (any
// value encoding/json can encode; nil is JSON null) must match the schema
// declared there. Events are recorded only if the attempt succeeds: tasker
// writes them in the same transaction as the step's completion, just
// before its step.completed event, in the order they were published. An
// undeclared name or a payload its schema refuses fails the attempt for
// good, naming the event. ctx must be the one the handler was given.
func Publish(ctx context.Context, name string, payload any) error {
	l, ok := ctx.Value(eventsKey{}).(*eventList)
	if !ok {
		return ErrNotInHandler
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("pluginsdk.Publish %s: encoding the payload as JSON: %w", name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, Event{Name: name, Payload: data})
	return nil
}

func withEvents(ctx context.Context) (context.Context, *eventList) {
	l := &eventList{}
	return context.WithValue(ctx, eventsKey{}, l), l
}

func (l *eventList) list() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

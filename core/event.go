package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
)

// Event is one row of the event outbox (tasker.events): a lifecycle event
// of a task, a step, the engine, a plugin or the registry, or a custom
// event a handler published. The catalog of built-in events and their
// payloads is package core/events (docs/EVENTS.md).
type Event struct {
	// ID orders events of one transaction; across transactions the order is
	// (TxID, ID), the order in which their changes became visible.
	ID   int64  `json:"event_id"`
	Name string `json:"name"`
	// TaskID and StepID are 0 for events not about a task or step.
	TaskID int64 `json:"task_id,omitempty"`
	StepID int64 `json:"step_id,omitempty"`
	// CorrelationID is the task's correlation id ("" when it has none).
	CorrelationID string          `json:"correlation_id,omitempty"`
	Payload       json.RawMessage `json:"payload"`
	CreatedAt     time.Time       `json:"created_at"`
	// TxID is the id of the transaction that wrote the event.
	TxID uint64 `json:"-"`
}

// PublishedEvent is a custom event a handler published while running a
// step; the engine writes it in the transaction that records the step's
// completion (and drops it when the attempt fails).
type PublishedEvent struct {
	Name    string
	Payload json.RawMessage
}

// EventPublisher writes an event that no state change causes (the
// engine, plugins, the registry). taskID and stepID are 0 when the event is
// about neither; payload is encoded as JSON.
type EventPublisher interface {
	PublishEvent(ctx context.Context, name string, taskID, stepID int64, payload any) error
}

// EventNameRe is the form of event names, built-in and custom:
// <lowercase>.<lowercase>, such as order.shipped or task.completed.
var EventNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

type eventSinkKey struct{}

type eventSink struct {
	mu     sync.Mutex
	events []PublishedEvent
}

// WithEventSink returns a context in which PublishEvent collects events,
// and a function that returns what was published. The engine gives one to
// each step attempt.
func WithEventSink(ctx context.Context) (context.Context, func() []PublishedEvent) {
	s := &eventSink{}
	return context.WithValue(ctx, eventSinkKey{}, s), func() []PublishedEvent {
		s.mu.Lock()
		defer s.mu.Unlock()
		return append([]PublishedEvent(nil), s.events...)
	}
}

// ErrNoEventSink is returned by PublishEvent outside a step attempt.
var ErrNoEventSink = errors.New("events can only be published by a handler running a step")

// PublishEvent records a custom event of the step the context runs; the
// engine writes it when the attempt completes. payload must be JSON
// (empty means null). The template of the task must declare name.
func PublishEvent(ctx context.Context, name string, payload json.RawMessage) error {
	s, ok := ctx.Value(eventSinkKey{}).(*eventSink)
	if !ok {
		return ErrNoEventSink
	}
	if len(payload) > 0 && !json.Valid(payload) {
		return fmt.Errorf("event %s: payload is not valid JSON", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, PublishedEvent{Name: name, Payload: append(json.RawMessage(nil), payload...)})
	return nil
}

package pluginsdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// SubscriptionFunc receives one batch of events of a subscription, in the
// order tasker wrote them (never an empty batch). Returning nil
// acknowledges the batch; returning an error (or panicking) means "not
// delivered": tasker delivers the same batch again later, with a backoff.
//
// Delivery is at least once: a batch may arrive again after a crash or a
// restart of the plugin or of tasker, so deduplicate by Event.ID.
//
// ctx is cancelled when the host gives up on the call (plugins.call_timeout,
// shutdown).
type SubscriptionFunc func(ctx context.Context, events []Event) error

// Subscription is a durable subscription of a plugin to tasker's events
// (docs/EVENTS.md): tasker delivers each event whose name matches Events
// to Handle, in order, at least once. Build one with Subscribe.
type Subscription struct {
	// Name identifies the subscription within the plugin: lowercase
	// letters, digits, '-' and '_'. tasker keeps its delivery cursor under
	// "plugin:<plugin name>:<Name>", so it survives upgrades of the
	// plugin: keep the name to resume where the previous version stopped,
	// change it to start afresh (from the events written after it loads).
	Name string
	// Events are globs on event names (path.Match syntax: "task.*",
	// "order.shipped"); empty means every event.
	Events []string
	// Handle receives the batches.
	Handle SubscriptionFunc
}

// Subscribe returns a subscription named name to the events whose names
// match one of the globs of events (all events when empty), delivered to
// fn; list it in Plugin.Subscriptions:
//
//	pluginsdk.Serve(pluginsdk.Plugin{
//		...
//		Subscriptions: []pluginsdk.Subscription{
//			pluginsdk.Subscribe("audit", []string{"task.completed", "order.*"}, audit),
//		},
//	})
func Subscribe(name string, events []string, fn SubscriptionFunc) Subscription {
	return Subscription{Name: name, Events: append([]string(nil), events...), Handle: fn}
}

// Matches reports whether the subscription wants an event called name.
func (s Subscription) Matches(name string) bool { return wire.MatchEvent(s.Events, name) }

// validate checks a subscription's name, globs and function.
func (s Subscription) validate(plugin string) error {
	var errs []error
	if !wire.ValidName(s.Name) {
		errs = append(errs, fmt.Errorf("plugin %s: subscription name %q must be lowercase letters, digits, '-' and '_'", plugin, s.Name))
	}
	if s.Handle == nil {
		errs = append(errs, fmt.Errorf("plugin %s: subscription %q has no function", plugin, s.Name))
	}
	for _, g := range s.Events {
		if !wire.ValidEventGlob(g) {
			errs = append(errs, fmt.Errorf("plugin %s: subscription %q: %q is not a valid glob on event names", plugin, s.Name, g))
		}
	}
	return errors.Join(errs...)
}

// Deliver hands one batch to s exactly as Serve does when tasker delivers
// it: events that do not match s.Events are left out (tasker filters them
// before sending), Logger(ctx) carries the subscription, and a panic is
// recovered and returned as an error. A nil error means delivered. It
// exists for tests and tools, such as package plugintest.
func Deliver(ctx context.Context, s Subscription, events []Event) error {
	var batch []Event
	for _, e := range events {
		if s.Matches(e.Name) {
			batch = append(batch, e)
		}
	}
	if len(batch) == 0 {
		return nil
	}
	return deliverBatch(ctx, s, batch)
}

// deliverBatch calls s.Handle, turning a panic into an error.
func deliverBatch(ctx context.Context, s Subscription, batch []Event) (err error) {
	ctx = context.WithValue(ctx, subscriptionKey{}, s.Name)
	log := Logger(ctx)
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			log.Error("subscription panicked", slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("subscription %q panicked: %v", s.Name, v)
		}
		if err != nil {
			log.Debug("delivery failed", elapsedMS(start), slog.Int("events", len(batch)), slog.String("error", err.Error()))
		}
	}()
	return s.Handle(ctx, batch)
}

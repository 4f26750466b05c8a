package plugins

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// Subscription is an event subscription a plugin declared
// (pluginsdk.Subscribe).
type Subscription struct {
	Name string `json:"name"`
	// Events are globs on event names; empty means every event.
	Events []string `json:"events,omitempty"`
}

// readSubscriptions checks and converts the subscriptions of an Info
// answer.
func readSubscriptions(label string, in []*pluginv1.Subscription) ([]Subscription, error) {
	var out []Subscription
	for _, s := range in {
		name := s.GetName()
		if !wire.ValidName(name) || slices.ContainsFunc(out, func(o Subscription) bool { return o.Name == name }) {
			return nil, fmt.Errorf("refused: plugin %s declares an invalid or duplicate subscription name %q", label, name)
		}
		for _, g := range s.GetEvents() {
			if !wire.ValidEventGlob(g) {
				return nil, fmt.Errorf("refused: subscription %q of plugin %s has an invalid event glob %q", name, label, g)
			}
		}
		out = append(out, Subscription{Name: name, Events: slices.Clone(s.GetEvents())})
	}
	slices.SortFunc(out, func(a, b Subscription) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// EventSubscriber delivers outbox events to one subscription of one
// plugin; it implements the Subscriber of core/events (Name, Wants,
// Deliver). Whatever versions of the plugin are loaded, the events go to
// the highest one that declares the subscription, looked up at each call,
// so a plugin upgraded by a reload takes the subscription over, cursor
// and all.
type EventSubscriber struct {
	h            *Host
	plugin, name string
}

// SubscriberName is the durable cursor name of a plugin's subscription:
// "plugin:<plugin>:<subscription>".
func SubscriberName(plugin, subscription string) string {
	return "plugin:" + plugin + ":" + subscription
}

// Subscribers returns one EventSubscriber per (plugin name, subscription
// name) declared by the loaded plugins, sorted by Name.
func (h *Host) Subscribers() []*EventSubscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*EventSubscriber
	for _, p := range h.procs {
		for _, s := range p.info.Subscriptions {
			if !slices.ContainsFunc(out, func(o *EventSubscriber) bool { return o.plugin == p.info.Name && o.name == s.Name }) {
				out = append(out, &EventSubscriber{h: h, plugin: p.info.Name, name: s.Name})
			}
		}
	}
	slices.SortFunc(out, func(a, b *EventSubscriber) int { return cmp.Compare(a.Name(), b.Name()) })
	return out
}

// Name is SubscriberName(plugin, subscription).
func (s *EventSubscriber) Name() string { return SubscriberName(s.plugin, s.name) }

// Plugin and Subscription name what s delivers to.
func (s *EventSubscriber) Plugin() string       { return s.plugin }
func (s *EventSubscriber) Subscription() string { return s.name }

// target returns the highest loaded version of the plugin that declares
// the subscription, with its globs; nil when none is loaded.
func (s *EventSubscriber) target() (*proc, []string) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	var best *proc
	var globs []string
	for _, p := range h.procs {
		if p.info.Name != s.plugin {
			continue
		}
		i := slices.IndexFunc(p.info.Subscriptions, func(o Subscription) bool { return o.Name == s.name })
		if i >= 0 && (best == nil || compareVersions(p.info.Version, best.info.Version) > 0) {
			best, globs = p, p.info.Subscriptions[i].Events
		}
	}
	return best, globs
}

// Wants reports whether the subscription's globs match the event's name.
func (s *EventSubscriber) Wants(e core.Event) bool {
	p, globs := s.target()
	return p != nil && wire.MatchEvent(globs, e.Name)
}

// Deliver sends the batch to the plugin, in calls of at most
// Options.MaxPayloadBytes of payloads each (an event larger than that
// goes alone), each bounded by Options.CallTimeout. It returns nil once
// the plugin acknowledged every call. An error (the subscription's own,
// a crash, a timeout, a plugin restarting or no longer loaded) means the
// batch must be delivered again; a crashed plugin is relaunched as for
// Execute.
func (s *EventSubscriber) Deliver(ctx context.Context, batch []core.Event) error {
	p, _ := s.target()
	if p == nil {
		return fmt.Errorf("plugin %s with subscription %q is not loaded", s.plugin, s.name)
	}
	limit := p.host.opts.MaxPayloadBytes
	for len(batch) > 0 {
		n, size := 0, 0
		for n < len(batch) && (n == 0 || size+len(batch[n].Payload) <= limit) {
			size += len(batch[n].Payload)
			n++
		}
		if err := s.call(ctx, p, batch[:n]); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// call makes one DeliverEvents call.
func (s *EventSubscriber) call(ctx context.Context, p *proc, batch []core.Event) error {
	label := "subscription " + s.name
	callCtx := ctx
	if t := p.host.opts.CallTimeout; t > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeoutCause(ctx, t, errCallTimeout)
		defer cancel()
	}
	client, rpc, err := p.acquire(callCtx, label)
	if err != nil {
		return err
	}
	req := &pluginv1.DeliverEventsRequest{Subscription: s.name, Events: make([]*pluginv1.Event, 0, len(batch))}
	for _, e := range batch {
		req.Events = append(req.Events, &pluginv1.Event{
			Id: e.ID, Name: e.Name, TaskId: e.TaskID, StepId: e.StepID, CorrelationId: e.CorrelationID,
			PayloadJson: e.Payload, CreatedAt: timestamppb.New(e.CreatedAt),
		})
	}
	start := time.Now()
	_, err = rpc.DeliverEvents(wire.InjectTrace(callCtx), req)
	if err == nil {
		return nil
	}
	if ctxErr := ended(ctx); ctxErr != nil {
		return fmt.Errorf("plugin %s: delivery to %s abandoned: %w", p.label, label, ctxErr)
	}
	if context.Cause(callCtx) == errCallTimeout {
		return fmt.Errorf("plugin %s did not acknowledge %d events within %s (plugins.call_timeout) for %s",
			p.label, len(batch), time.Since(start).Round(time.Millisecond), label)
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.Aborted, codes.NotFound: // the subscription's own failure, or it is gone
		return fmt.Errorf("plugin %s, %s: %s", p.label, label, st.Message())
	}
	msg := fmt.Sprintf("plugin %s failed during the delivery to %s: %s: %s", p.label, label, st.Code(), st.Message())
	return p.brokenCall(ctx, client, st.Code(), msg)
}

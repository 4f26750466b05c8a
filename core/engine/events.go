package engine

import (
	"context"
	"time"

	"github.com/tasker-systems/tasker/core"
)

// publish writes an event no state change causes (engine, registry),
// best effort: a failure is logged, never stops the node.
func (e *Engine) publish(ctx context.Context, name string, payload any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.store.PublishEvent(ctx, name, 0, 0, payload); err != nil {
		e.log.Warn("could not write an event", "event", name, "error", err)
	}
}

// checkEvents checks the custom events an attempt published against its
// template's declarations; a violation fails the attempt for good.
func (e *Engine) checkEvents(s core.StepRequest, published []core.PublishedEvent) *core.StepError {
	if len(published) == 0 {
		return nil
	}
	entry, err := e.reg.Lookup(s.Namespace, s.TaskName, s.TaskVersion)
	if err != nil {
		return &core.StepError{Kind: core.Retryable, Message: "check published events: " + err.Error()}
	}
	if err := entry.Template.CheckPublishedEvents(published); err != nil {
		return &core.StepError{Kind: core.Permanent, Message: err.Error()}
	}
	return nil
}

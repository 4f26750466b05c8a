package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tasker-systems/tasker/core/config"
	"github.com/tasker-systems/tasker/core/events"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/plugins"
)

// startEvents starts the event dispatcher with its subscribers (the log)
// and retention; the returned function stops both and waits for them.
// Subscribers of later features are added here, with d.Add before d.Run.
func startEvents(ctx context.Context, st *store.Store, log *slog.Logger, o config.Config, host *plugins.Host,
	hooks *events.Webhooks) (stop func(), err error) {
	evLog := log.With("component", "events")
	d := events.NewDispatcher(st, evLog, events.Config{NoListen: o.Engine.NoListen})
	if err := d.Add(ctx, events.LogSubscriber{Logger: evLog}, events.Options{}); err != nil {
		return nil, err
	}
	// Webhooks: one durable subscriber (webhook:<name>) each.
	if err := hooks.AddTo(ctx, d); err != nil {
		return nil, err
	}
	if err := addPluginSubscribers(ctx, d, host, evLog); err != nil {
		return nil, err
	}
	// A subscriber holds a connection (its advisory lock) while it reads
	// and advances its cursor on another: with all of them busy, fewer
	// connections than that would wait on each other for good.
	if need := d.Len() + 4; int(st.MaxConns()) < need {
		return nil, fmt.Errorf("database.max_conns is %d, too few for %d event subscribers (the log, %d webhooks, plugin "+
			"subscriptions): they need one connection each while they deliver, and the engine and the API four more; "+
			"raise database.max_conns to at least %d", st.MaxConns(), d.Len(), len(o.Events.Webhooks), need)
	}
	ret := events.NewRetention(st, log.With("component", "retention"), events.RetentionConfig{
		Tasks: o.Retention.Tasks, Events: o.Retention.Events, Interval: o.Retention.Interval, Batch: o.Retention.Batch})
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(runCtx) })
	wg.Go(func() { _ = ret.Run(runCtx) })
	return func() { cancel(); wg.Wait() }, nil
}

// addPluginSubscribers registers one durable subscriber per (plugin name,
// subscription name) the loaded plugins declare, named
// "plugin:<plugin>:<subscription>": its cursor survives upgrades of the
// plugin, and with several versions loaded the highest one declaring the
// subscription receives the events. A new subscription starts after the
// events already written. Subscriptions first declared by a plugin that a
// reload (SIGHUP) brings in are registered at the next start.
func addPluginSubscribers(ctx context.Context, d *events.Dispatcher, host *plugins.Host, log *slog.Logger) error {
	if host == nil {
		return nil
	}
	for _, s := range host.Subscribers() {
		if err := d.Add(ctx, s, events.Options{}); err != nil {
			return err
		}
		log.Info("plugin subscription registered", "subscriber", s.Name())
	}
	return nil
}

// pluginEvents is the plugin host's Options.Events: lifecycle events of
// plugins go to the outbox, written in the background (the host calls it
// with its locks held); pending writes are bounded by a timeout.
func pluginEvents(st *store.Store, log *slog.Logger) func(name string, payload map[string]any) {
	return func(name string, payload map[string]any) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := st.PublishEvent(ctx, name, 0, 0, payload); err != nil {
				log.Debug("could not write a plugin event", "event", name, "error", err)
			}
		}()
	}
}

// publishHandlers writes handler.registered for each handler of a plugin.
func publishHandlers(ctx context.Context, st *store.Store, log *slog.Logger, plugin, version string, handlers []string) {
	for _, h := range handlers {
		if err := st.PublishEvent(ctx, "handler.registered", 0, 0,
			map[string]any{"handler": h, "plugin": plugin, "version": version}); err != nil {
			log.Warn("could not write an event", "event", "handler.registered", "error", err)
			return
		}
	}
}

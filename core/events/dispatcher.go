package events

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// Event is one event of the outbox; see core.Event.
type Event = core.Event

// Subscriber receives events. The dispatcher gives it, in order, every
// event after its cursor that it Wants, in batches, and advances its cursor
// once Deliver returns nil; on an error it delivers the same batch again
// after a backoff, and the cursor stays. Delivery is therefore at least
// once: a node that stops between Deliver and the cursor update delivers
// that batch again after its restart, so Deliver should be idempotent
// (Event.ID identifies an event).
//
// Each subscriber has a durable cursor of its own (tasker.event_cursors,
// keyed by Name): a subscriber that fails holds back only itself. On
// several nodes sharing one database, one node at a time delivers to a
// subscriber of a given name (an advisory lock), so a subscriber that must
// see each event once per cluster (a webhook) is registered under the same
// name on every node (the log subscriber is one such: each event is logged
// once, by whichever node delivers it); one that must see every event on
// every node needs a name of its own per node.
type Subscriber interface {
	// Name identifies the subscriber's cursor; it must stay the same across
	// restarts (a new name starts a new cursor).
	Name() string
	// Wants filters events; those it does not want are skipped (the cursor
	// moves past them). It must be cheap and must not block.
	Wants(e Event) bool
	// Deliver hands over a batch (never empty) in order. It should return
	// once the events are safe where they go; ctx ends when the node stops.
	Deliver(ctx context.Context, events []Event) error
}

// Skipper is a Subscriber that never wants the events whose names start
// with one of Skip's prefixes: the dispatcher leaves them in the database
// (their payloads are not sent) and only moves the cursor past them. The
// log, at info, skips "step." this way: during a burn-down most events are
// step events, and reading them for nothing cost 2-12% of its steps/s.
type Skipper interface {
	Skip() []string
}

// StartFrom says where a subscriber without a cursor begins.
type StartFrom int

const (
	// FromEnd (the default) begins after the events already written: a new
	// subscriber does not receive the past.
	FromEnd StartFrom = iota
	// FromStart begins before the oldest event still kept (see retention).
	FromStart
)

// Options tune one subscription.
type Options struct {
	Start StartFrom
	// BatchSize is the most events read (and delivered) at once (100).
	BatchSize int
	// MaxBackoff caps the wait between failed deliveries, which starts at
	// 1s and doubles (1m).
	MaxBackoff time.Duration
}

// Config tunes a Dispatcher. Zero values take the defaults in parentheses.
type Config struct {
	// PollInterval is how often subscribers look for events when no
	// notification wakes them (1s).
	PollInterval time.Duration
	// Gather is how long a subscriber woken by a notification waits for
	// more events before it reads (10ms): on a busy node every commit
	// notifies, and reading, delivering and advancing the cursor once per
	// commit cost the database more than the events themselves. Negative
	// means no wait.
	Gather time.Duration
	// NoListen turns LISTEN on tasker_events off (behind a transaction
	// pooler), leaving polling alone.
	NoListen bool
}

// Dispatcher delivers the outbox to subscribers. Create it with
// NewDispatcher, Add subscribers, then Run; Add after Run starts is an error.
//
//	d := events.NewDispatcher(st, log, events.Config{})
//	_ = d.Add(ctx, mySubscriber, events.Options{})
//	go d.Run(ctx) // returns once ctx ends and every delivery in flight returned
type Dispatcher struct {
	st      *store.Store
	log     *slog.Logger
	cfg     Config
	mu      sync.Mutex
	started bool
	subs    []*subscription
}

type subscription struct {
	sub  Subscriber
	opts Options
	wake chan struct{}
}

// NewDispatcher returns a dispatcher reading st's outbox.
func NewDispatcher(st *store.Store, logger *slog.Logger, cfg Config) *Dispatcher {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Gather == 0 {
		cfg.Gather = 10 * time.Millisecond
	}
	return &Dispatcher{st: st, log: logger, cfg: cfg}
}

// Add registers a subscriber and creates its cursor if it has none (where
// opts.Start says). Names must be unique.
func (d *Dispatcher) Add(ctx context.Context, s Subscriber, opts Options) error {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return fmt.Errorf("events: subscriber %s added after the dispatcher started", s.Name())
	}
	for _, o := range d.subs {
		if o.sub.Name() == s.Name() {
			return fmt.Errorf("events: subscriber %s added twice", s.Name())
		}
	}
	if err := d.st.EnsureCursor(ctx, s.Name(), opts.Start == FromStart); err != nil {
		return err
	}
	d.subs = append(d.subs, &subscription{sub: s, opts: opts, wake: make(chan struct{}, 1)})
	return nil
}

// Len is the number of subscribers added.
func (d *Dispatcher) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs)
}

// Wake makes every subscriber look for events now.
func (d *Dispatcher) Wake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.subs {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx ends, then waits for deliveries in flight (their
// context is ctx, so a subscriber should return promptly once it ends).
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	d.started = true
	subs := append([]*subscription(nil), d.subs...)
	d.mu.Unlock()
	d.log.Info("event dispatcher started", "subscribers", len(subs))
	var wg sync.WaitGroup
	if !d.cfg.NoListen {
		wg.Go(func() { d.listen(ctx) })
	}
	for _, s := range subs {
		wg.Go(func() { d.runSubscriber(ctx, s) })
	}
	wg.Wait()
	d.log.Info("event dispatcher stopped")
	return nil
}

func (d *Dispatcher) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := d.st.Listen(ctx, []string{store.ChannelEvents}, func() { backoff = 100 * time.Millisecond },
			func(string, string) { d.Wake() })
		if err == nil || ctx.Err() != nil {
			return
		}
		d.log.Warn("listening for event notifications failed; polling meanwhile", "error", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (d *Dispatcher) runSubscriber(ctx context.Context, s *subscription) {
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	backoff := time.Duration(0)
	for {
		err := d.drain(ctx, s)
		wait := d.cfg.PollInterval
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			backoff = min(max(2*backoff, time.Second), s.opts.MaxBackoff)
			wait = backoff
			d.log.Warn("delivering events failed; the batch will be delivered again", "subscriber", s.sub.Name(),
				"error", err, "retry_in", backoff.String())
		default:
			backoff = 0
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			if d.cfg.Gather > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d.cfg.Gather):
				}
			}
		case <-poll.C:
		}
	}
}

// drain delivers batches until none is left, holding the subscriber's
// lock; another node holding it means there is nothing to do here.
func (d *Dispatcher) drain(ctx context.Context, s *subscription) error {
	name := s.sub.Name()
	_, err := d.st.WithSubscriberLock(ctx, name, func(ctx context.Context) error {
		// While this node holds the lock, nobody else moves the cursor.
		cur, err := d.st.GetCursor(ctx, name)
		if err != nil {
			return err
		}
		var skip []string
		if sk, ok := s.sub.(Skipper); ok {
			skip = sk.Skip()
		}
		for ctx.Err() == nil {
			batch, next, scanned, err := d.st.EventsAfterSkipping(ctx, cur, s.opts.BatchSize, skip)
			if err != nil || scanned == 0 {
				return err
			}
			wanted := make([]Event, 0, len(batch))
			for _, e := range batch {
				if s.sub.Wants(e) {
					wanted = append(wanted, e)
				}
			}
			if len(wanted) > 0 {
				if err := deliver(ctx, s.sub, wanted); err != nil {
					return err
				}
			}
			cur = next
			// Recorded even when ctx ended during Deliver: the batch was delivered.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err = d.st.AdvanceCursor(actx, name, cur)
			cancel()
			if err != nil || scanned < s.opts.BatchSize {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// deliver calls Deliver, turning a panic into an error so that one bad
// subscriber cannot stop the node.
func deliver(ctx context.Context, s Subscriber, batch []Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("subscriber %s panicked: %v", s.Name(), r)
		}
	}()
	return s.Deliver(ctx, batch)
}

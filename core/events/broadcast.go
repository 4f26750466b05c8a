package events

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasker-systems/tasker/core/store"
)

// Broadcaster fans the tasker_events notification out to any number of
// in-process readers (the API's event streams) over one LISTEN connection:
// it listens while it has subscribers and closes the connection when the
// last one leaves. A reader should still poll (notifications are lost while
// the connection is down, and NoListen turns them off).
type Broadcaster struct {
	st       *store.Store
	log      *slog.Logger
	noListen bool

	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	cancel context.CancelFunc // of the running listener, nil when none
	wg     sync.WaitGroup
	conns  atomic.Int32 // LISTEN connections open (0 or 1, briefly 2 while one closes)
}

// NewBroadcaster returns a broadcaster of st's event notifications; with
// noListen it never listens and subscribers are never woken.
func NewBroadcaster(st *store.Store, logger *slog.Logger, noListen bool) *Broadcaster {
	return &Broadcaster{st: st, log: logger, noListen: noListen, subs: map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives a value (coalesced) whenever
// events were written, and the function that ends the subscription.
func (b *Broadcaster) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	if b.cancel == nil && !b.noListen {
		ctx, cancel := context.WithCancel(context.Background())
		b.cancel = cancel
		b.wg.Go(func() { b.listen(ctx) })
	}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			delete(b.subs, ch)
			if len(b.subs) == 0 && b.cancel != nil {
				b.cancel()
				b.cancel = nil
			}
		})
	}
}

// Subscribers returns how many subscriptions are open.
func (b *Broadcaster) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Connections returns how many LISTEN connections are open.
func (b *Broadcaster) Connections() int { return int(b.conns.Load()) }

// Wait waits for listeners whose subscribers all left to close.
func (b *Broadcaster) Wait() { b.wg.Wait() }

func (b *Broadcaster) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (b *Broadcaster) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		listening := false
		err := b.st.Listen(ctx, []string{store.ChannelEvents}, func() {
			listening = true
			b.conns.Add(1)
			backoff = 100 * time.Millisecond
			b.notify() // anything written while not listening
		}, func(string, string) { b.notify() })
		if listening { // Listen has closed its connection
			b.conns.Add(-1)
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		b.log.Warn("listening for event notifications for streams failed; polling meanwhile", "error", err,
			"retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

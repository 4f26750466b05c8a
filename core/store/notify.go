package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	qDeferNotify = query("defer_notify")
	qNotify      = query("notify")
)

// sendDeferred sends the queued statements in one round trip, run by
// PostgreSQL as one implicit transaction that leaves its notifications to
// the notifier, and returns their results (the first statement's, which
// defers the notifications, already read). The caller sends the
// notifications once it has read the results.
func (s *Store) sendDeferred(ctx context.Context, queue func(*pgx.Batch)) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	b.Queue(qDeferNotify)
	queue(b)
	br := s.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	return br, nil
}

// notifier sends, after their commits, the notifications of the hot
// path's transactions, which leave them out of the commit: PostgreSQL
// serialises the commits of transactions that notify, flush and all. It
// sends what is pending in one statement from a transaction without
// writes, and whatever piles up while that runs goes with the next one, so
// an idle node notifies at once and a busy one a few times per commit
// round. A notification lost to a crash between the commit and the send
// only delays the listeners until their next poll.
type notifier struct {
	pool    *pgxpool.Pool
	mu      sync.Mutex
	pending map[[2]string]bool // channel, payload
	running bool
}

// add queues a notification and starts a send unless one is under way.
func (n *notifier) add(channel, payload string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pending == nil {
		n.pending = map[[2]string]bool{}
	}
	n.pending[[2]string{channel, payload}] = true
	if !n.running {
		n.running = true
		go n.send()
	}
}

func (n *notifier) send() {
	for {
		n.mu.Lock()
		batch := n.pending
		n.pending = nil
		if len(batch) == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		channels := make([]string, 0, len(batch))
		payloads := make([]string, 0, len(batch))
		for k := range batch {
			channels, payloads = append(channels, k[0]), append(payloads, k[1])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// Errors (the pool closing, the database away) leave the listeners to their polling.
		_, _ = n.pool.Exec(ctx, qNotify, channels, payloads)
		cancel()
	}
}

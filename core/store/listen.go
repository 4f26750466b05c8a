package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Channels the orchestration functions notify.
const (
	// ChannelWork is notified whenever steps became ready at once: with an
	// empty payload, or with the owner name of the node whose recorded
	// batch made them ready and which claimed what it could with it (that
	// node need not wake).
	ChannelWork = "tasker_work"
	// ChannelCancel carries "task:<id>" or "step:<id>" when an operator
	// cancelled running work, so that the node running it stops the handler.
	ChannelCancel = "tasker_cancel"
)

// Listen holds a dedicated connection that listens on channels and calls fn
// for each notification, until ctx ends (nil) or the connection fails (the
// error; the caller decides whether to listen again). ready, when not nil,
// is called once the connection is listening.
func (s *Store) Listen(ctx context.Context, channels []string, ready func(), fn func(channel, payload string)) error {
	// Its own connection, not the pool's: a LISTEN belongs to one session
	// and must not go back to the pool with other users' queries.
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("listen: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "listen "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listen on %s: %w", ch, err)
		}
	}
	if ready != nil {
		ready()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		fn(n.Channel, n.Payload)
	}
}

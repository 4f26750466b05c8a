package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasker-systems/tasker/core/config"
)

// tuneSessions applies the database section to the pool: its size, unless
// the URL sets pool_max_conns, and synchronous_commit on every session.
func tuneSessions(pc *pgxpool.Config, dbURL string, db config.Database) {
	if !strings.Contains(dbURL, "pool_max_conns") { // URL or key=value form
		pc.MaxConns = int32(db.MaxConns)
	}
	if !db.SynchronousCommit {
		pc.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	}
}

// reportDurability reads synchronous_commit back from a session, so the log
// says what PostgreSQL actually does, and warns when commits do not wait
// for the disk.
func reportDurability(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	var mode string
	if err := pool.QueryRow(ctx, "show synchronous_commit").Scan(&mode); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if mode == "off" {
		log.Warn("commits do not wait for the disk: a crash of PostgreSQL or of the machine loses the changes of its last moments "+
			"(created tasks, recorded step results; steps whose results are lost run again). Set database.synchronous_commit: true for full durability",
			"synchronous_commit", mode)
		return nil
	}
	log.Debug("commits wait for the disk", "synchronous_commit", mode)
	return nil
}

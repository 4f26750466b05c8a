// Package backup exports tasker's own tables to a portable archive and
// restores them, while tasker serves (backup) or with the engine stopped
// (restore). It needs no pg_dump: the archive is a gzip'd tar of one
// PostgreSQL COPY text file per table plus a manifest, so it moves between
// PostgreSQL majors and between the embedded and an external database.
//
// Archive layout (format "tasker-backup", version 1):
//
//	data/NN_<table>.copy    COPY text of one table, parents before children
//	manifest.json           format, versions, migrations, tables with row
//	                        counts, sizes and SHA-256 of each data file
//	manifest.json.sha256    SHA-256 of manifest.json
//
// A backup reads every table in one REPEATABLE READ, READ ONLY transaction,
// so it is one consistent snapshot however busy the node is. A restore
// verifies the whole archive before it touches the database, then in one
// transaction rebuilds the schema up to the archive's migration, loads the
// tables and moves the identity sequences past the restored rows.
package backup

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed queries/*.sql
var queries embed.FS

func query(name string) string {
	b, err := queries.ReadFile("queries/" + name + ".sql")
	if err != nil {
		panic(fmt.Sprintf("backup: missing embedded query %s: %v", name, err)) // a build defect, caught by any test
	}
	return string(b)
}

var (
	qTables         = query("tables")
	qColumns        = query("columns")
	qForeignKeys    = query("foreign_keys")
	qMigrations     = query("migrations")
	qSchemaExists   = query("schema_exists")
	qOtherSessions  = query("other_sessions")
	qLock           = query("lock")
	qBookkeeping    = query("bookkeeping")
	qRecordMigr     = query("record_migration")
	qSequences      = query("sequences")
	qIsSuperuser    = query("is_superuser")
	tmplCopyTo      = query("copy_to")
	tmplCopyFrom    = query("copy_from")
	tmplTruncate    = query("truncate")
	tmplSetval      = query("setval")
	tmplCountRows   = query("count_rows")
	errNoTaskerData = errors.New("the database has no tasker schema (tasker.schema_migrations is missing): nothing to back up")
)

// Format names the archive format; FormatVersion is the newest this tasker
// writes and reads.
const (
	Format        = "tasker-backup"
	FormatVersion = 1
	manifestName  = "manifest.json"
	manifestSum   = "manifest.json.sha256"
)

// Manifest describes an archive.
type Manifest struct {
	Format          string      `json:"format"`
	FormatVersion   int         `json:"format_version"`
	CreatedAt       time.Time   `json:"created_at"`
	TaskerVersion   string      `json:"tasker_version"`
	PostgresVersion string      `json:"postgres_version"`
	Migration       int         `json:"migration"` // highest applied schema migration
	Migrations      []Migration `json:"migrations"`
	Tables          []Table     `json:"tables"`
}

// Migration is one applied schema migration as the database recorded it.
type Migration struct {
	Version  int    `json:"version"`
	Name     string `json:"name"`
	Checksum string `json:"checksum"`
}

// Table is one table's data file in the archive.
type Table struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"`
	File    string   `json:"file"`
	Bytes   int64    `json:"bytes"`
	SHA256  string   `json:"sha256"`
}

// Options of Backup.
type Options struct {
	TaskerVersion string // recorded in the manifest
	TempDir       string // where table data is spooled before it enters the archive; "" = os.TempDir()
}

// Backup writes an archive of tasker's tables to w. conn must not be in a
// transaction; Backup reads in its own read-only snapshot.
func Backup(ctx context.Context, conn *pgx.Conn, w io.Writer, opts Options) (Manifest, error) {
	m := Manifest{Format: Format, FormatVersion: FormatVersion, CreatedAt: time.Now().UTC(), TaskerVersion: opts.TaskerVersion}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return m, fmt.Errorf("backup: begin snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only

	var hasSchema bool
	if err := tx.QueryRow(ctx, qSchemaExists).Scan(&hasSchema); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if !hasSchema {
		return m, errNoTaskerData
	}
	if err := tx.QueryRow(ctx, "show server_version").Scan(&m.PostgresVersion); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if m.Migrations, err = readMigrations(ctx, tx); err != nil {
		return m, err
	}
	if len(m.Migrations) == 0 {
		return m, errNoTaskerData
	}
	m.Migration = m.Migrations[len(m.Migrations)-1].Version
	tables, err := orderedTables(ctx, tx)
	if err != nil {
		return m, err
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for i, name := range tables {
		cols, err := columns(ctx, tx, name)
		if err != nil {
			return m, err
		}
		t := Table{Name: name, Columns: cols, File: fmt.Sprintf("data/%02d_%s.copy", i+1, name)}
		if err := copyTable(ctx, tx, tw, &t, opts.TempDir, m.CreatedAt); err != nil {
			return m, err
		}
		m.Tables = append(m.Tables, t)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	raw = append(raw, '\n')
	sum := sha256.Sum256(raw)
	for _, f := range []struct {
		name string
		data []byte
	}{{manifestName, raw}, {manifestSum, []byte(hex.EncodeToString(sum[:]) + "  " + manifestName + "\n")}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: m.CreatedAt, Format: tar.FormatPAX}); err != nil {
			return m, fmt.Errorf("backup: write archive: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return m, fmt.Errorf("backup: write archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return m, fmt.Errorf("backup: write archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return m, fmt.Errorf("backup: write archive: %w", err)
	}
	return m, tx.Commit(ctx)
}

// copyTable spools one table's COPY output to a temporary file (a tar entry
// needs its size first), hashing it on the way, then appends it to tw.
func copyTable(ctx context.Context, tx pgx.Tx, tw *tar.Writer, t *Table, tempDir string, mtime time.Time) error {
	spool, err := os.CreateTemp(tempDir, "tasker-backup-*.copy")
	if err != nil {
		return fmt.Errorf("backup: spool table %s: %w", t.Name, err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(spool, h), 1<<16)
	tag, err := tx.Conn().PgConn().CopyTo(ctx, bw, fmt.Sprintf(tmplCopyTo, ident(t.Name), idents(t.Columns)))
	if err != nil {
		return fmt.Errorf("backup: copy table %s: %w", t.Name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup: spool table %s: %w", t.Name, err)
	}
	t.Rows = tag.RowsAffected()
	t.SHA256 = hex.EncodeToString(h.Sum(nil))
	if t.Bytes, err = spool.Seek(0, io.SeekCurrent); err != nil {
		return err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: t.File, Mode: 0o644, Size: t.Bytes, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("backup: write archive: %w", err)
	}
	if _, err := io.Copy(tw, spool); err != nil {
		return fmt.Errorf("backup: write archive: %w", err)
	}
	return nil
}

func readMigrations(ctx context.Context, q pgx.Tx) ([]Migration, error) {
	rows, err := q.Query(ctx, qMigrations)
	if err != nil {
		return nil, fmt.Errorf("backup: read schema migrations: %w", err)
	}
	var out []Migration
	var m Migration
	_, err = pgx.ForEachRow(rows, []any{&m.Version, &m.Name, &m.Checksum}, func() error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: read schema migrations: %w", err)
	}
	return out, nil
}

// orderedTables lists tasker's tables with every table after the tables its
// foreign keys reference (ties by name, so the order is stable).
func orderedTables(ctx context.Context, q pgx.Tx) ([]string, error) {
	rows, err := q.Query(ctx, qTables)
	if err != nil {
		return nil, fmt.Errorf("backup: list tables: %w", err)
	}
	var names []string
	var name, kind string
	_, err = pgx.ForEachRow(rows, []any{&name, &kind}, func() error {
		if kind != "r" {
			return fmt.Errorf("table tasker.%s is partitioned, which this backup format does not handle", name)
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: list tables: %w", err)
	}
	parents := map[string][]string{}
	rows, err = q.Query(ctx, qForeignKeys)
	if err != nil {
		return nil, fmt.Errorf("backup: list foreign keys: %w", err)
	}
	var child, parent string
	_, err = pgx.ForEachRow(rows, []any{&child, &parent}, func() error {
		if child != parent {
			parents[child] = append(parents[child], parent)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: list foreign keys: %w", err)
	}
	sort.Strings(names)
	var out []string
	done := map[string]bool{}
	for len(out) < len(names) {
		progress := false
		for _, n := range names {
			if done[n] {
				continue
			}
			ready := true
			for _, p := range parents[n] {
				if !done[p] && slices.Contains(names, p) {
					ready = false
				}
			}
			if ready {
				out, done[n], progress = append(out, n), true, true
			}
		}
		if !progress {
			return nil, fmt.Errorf("backup: the foreign keys between tasker's tables form a cycle; no load order exists")
		}
	}
	return out, nil
}

func columns(ctx context.Context, q pgx.Tx, table string) ([]string, error) {
	rows, err := q.Query(ctx, qColumns, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	return cols, nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func idents(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = ident(n)
	}
	return strings.Join(out, ", ")
}

package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SchemaMigration is one migration the restoring tasker embeds (package sql).
type SchemaMigration struct {
	Version  int
	Name     string
	Checksum string
	SQL      string
}

// RestoreOptions of Restore.
type RestoreOptions struct {
	// Schema is every migration this tasker embeds, in order.
	Schema []SchemaMigration
	// Force replaces a database that already holds tasker data, and goes
	// ahead although other clients are connected to it.
	Force bool
}

// ErrNotEmpty is returned (wrapped) when the target already holds tasker
// data and RestoreOptions.Force is not set.
var ErrNotEmpty = errors.New("the database already holds tasker data")

// Verify reads a whole archive and checks its manifest, the manifest's
// checksum and every data file's size and SHA-256, without a database.
func Verify(r io.Reader) (Manifest, error) {
	var m Manifest
	gz, err := gzip.NewReader(r)
	if err != nil {
		return m, fmt.Errorf("not a tasker backup (gzip): %w", err)
	}
	tr := tar.NewReader(gz)
	type seen struct {
		bytes int64
		sum   string
	}
	files := map[string]seen{}
	var raw []byte
	var wantSum string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("archive is damaged or truncated: %w", err)
		}
		switch {
		case h.Name == manifestName:
			if raw, err = io.ReadAll(io.LimitReader(tr, 64<<20)); err != nil {
				return m, fmt.Errorf("archive is damaged: %w", err)
			}
		case h.Name == manifestSum:
			b, err := io.ReadAll(io.LimitReader(tr, 1024))
			if err != nil {
				return m, fmt.Errorf("archive is damaged: %w", err)
			}
			wantSum, _, _ = strings.Cut(strings.TrimSpace(string(b)), " ")
		case isDataFile(h.Name):
			hash := sha256.New()
			n, err := io.Copy(hash, tr)
			if err != nil {
				return m, fmt.Errorf("archive is damaged or truncated in %s: %w", h.Name, err)
			}
			files[h.Name] = seen{n, hex.EncodeToString(hash.Sum(nil))}
		default:
			return m, fmt.Errorf("archive holds an unexpected entry %q: not a tasker backup", h.Name)
		}
	}
	// gzip checks its CRC at the end of the stream.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return m, fmt.Errorf("archive is damaged or truncated: %w", err)
	}
	if raw == nil || wantSum == "" {
		return m, fmt.Errorf("archive has no %s and %s: not a tasker backup, or truncated", manifestName, manifestSum)
	}
	if got := sha256.Sum256(raw); hex.EncodeToString(got[:]) != wantSum {
		return m, fmt.Errorf("archive's %s does not match its checksum: the archive is damaged", manifestName)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("archive's %s: %w", manifestName, err)
	}
	if m.Format != Format {
		return m, fmt.Errorf("archive format is %q, not %q", m.Format, Format)
	}
	if m.FormatVersion < 1 || m.FormatVersion > FormatVersion {
		return m, fmt.Errorf("archive format version %d is newer than this tasker reads (%d): restore it with the tasker that wrote it (%s) or a newer one",
			m.FormatVersion, FormatVersion, m.TaskerVersion)
	}
	listed := map[string]bool{}
	for _, t := range m.Tables {
		f, ok := files[t.File]
		if !ok {
			return m, fmt.Errorf("archive lacks %s (table %s): the archive is damaged", t.File, t.Name)
		}
		if f.bytes != t.Bytes || f.sum != t.SHA256 {
			return m, fmt.Errorf("%s (table %s) does not match its checksum in the manifest: the archive is damaged", t.File, t.Name)
		}
		if len(t.Columns) == 0 {
			return m, fmt.Errorf("manifest lists table %s without columns", t.Name)
		}
		listed[t.File] = true
	}
	for f := range files {
		if !listed[f] {
			return m, fmt.Errorf("archive holds %s, which its manifest does not list: the archive is damaged", f)
		}
	}
	return m, nil
}

func isDataFile(name string) bool {
	return path.Dir(name) == "data" && strings.HasSuffix(name, ".copy") && path.Clean(name) == name
}

// Restore replaces tasker's schema in the database conn is connected to with
// the archive's contents, in one transaction: nothing changes unless all of
// it succeeds. open is called twice (verify, then load), each time for a
// fresh reader of the same archive. The database is left at the archive's
// migration; the caller migrates it to the newest (sql.Migrate), as
// `tasker serve` would.
func Restore(ctx context.Context, conn *pgx.Conn, open func() (io.ReadCloser, error), opts RestoreOptions) (Manifest, error) {
	r, err := open()
	if err != nil {
		return Manifest{}, err
	}
	m, err := Verify(r)
	r.Close()
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	apply, err := checkMigrations(m, opts.Schema)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		return m, fmt.Errorf("restore: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit a no-op
	if _, err := tx.Exec(ctx, qLock); err != nil {
		return m, fmt.Errorf("restore: take the migration lock: %w", err)
	}
	if err := checkTarget(ctx, tx, opts.Force); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if _, err := tx.Exec(ctx, "drop schema if exists tasker cascade"); err != nil {
		return m, fmt.Errorf("restore: drop the existing schema: %w", err)
	}
	// Triggers (and the foreign-key checks, themselves triggers) would judge
	// rows that were consistent when the snapshot was taken; the replica
	// role loads them as they are. Only a superuser may set it; elsewhere
	// the parents-first order satisfies the foreign keys.
	var super bool
	if err := tx.QueryRow(ctx, qIsSuperuser).Scan(&super); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if super {
		if _, err := tx.Exec(ctx, "set local session_replication_role = replica"); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, qBookkeeping); err != nil {
		return m, fmt.Errorf("restore: create the schema: %w", err)
	}
	for _, s := range apply {
		if _, err := tx.Exec(ctx, s.SQL); err != nil {
			return m, fmt.Errorf("restore: apply migration %04d_%s: %w", s.Version, s.Name, err)
		}
		if _, err := tx.Exec(ctx, qRecordMigr, s.Version, s.Name, s.Checksum); err != nil {
			return m, fmt.Errorf("restore: record migration %04d_%s: %w", s.Version, s.Name, err)
		}
	}
	targets, err := orderedTables(ctx, tx)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if len(targets) > 0 {
		list := make([]string, len(targets))
		for i, t := range targets {
			list[i] = "tasker." + ident(t)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(tmplTruncate, strings.Join(list, ", "))); err != nil {
			return m, fmt.Errorf("restore: empty the seeded tables: %w", err)
		}
	}
	byFile := map[string]Table{}
	for _, t := range m.Tables {
		cols, err := columns(ctx, tx, t.Name)
		if err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
		for _, c := range t.Columns {
			if !containsString(cols, c) {
				return m, fmt.Errorf("restore: table %s has no column %s at migration %d: the archive does not match the schema", t.Name, c, m.Migration)
			}
		}
		byFile[t.File] = t
	}
	if err := load(ctx, tx, open, byFile); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if err := resetSequences(ctx, tx); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	// Event order and cursors are (txid, event_id) (0008_events.sql), and the
	// archive's transaction ids mean nothing in this database: restored
	// events and cursors go to txid 0, before every event written from now on.
	if _, err := tx.Exec(ctx, `do $$ begin
		if to_regclass('tasker.events') is not null then
			update tasker.events set txid = '0';
			update tasker.event_cursors set last_txid = '0';
		end if; end $$`); err != nil {
		return m, fmt.Errorf("restore: reset event transaction ids: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return m, fmt.Errorf("restore: commit: %w", err)
	}
	return m, nil
}

// checkMigrations returns the embedded migrations up to the archive's, after
// checking that the archive's history is a prefix of this tasker's.
func checkMigrations(m Manifest, schema []SchemaMigration) ([]SchemaMigration, error) {
	if len(schema) == 0 {
		return nil, errors.New("no schema migrations given")
	}
	newest := schema[len(schema)-1].Version
	if m.Migration > newest {
		return nil, fmt.Errorf("the archive comes from a newer tasker (%s, schema migration %d); this tasker knows migrations up to %d: "+
			"restore it with that tasker version or a newer one", m.TaskerVersion, m.Migration, newest)
	}
	recorded := map[int]Migration{}
	for _, a := range m.Migrations {
		recorded[a.Version] = a
	}
	var apply []SchemaMigration
	for _, s := range schema {
		if s.Version > m.Migration {
			break
		}
		a, ok := recorded[s.Version]
		if !ok {
			return nil, fmt.Errorf("the archive's database lacks migration %04d_%s that this tasker applies before %d: it was not made by a tasker release", s.Version, s.Name, m.Migration)
		}
		if a.Checksum != "" && a.Checksum != s.Checksum {
			return nil, fmt.Errorf("the archive's migration %04d_%s differs from the one this tasker embeds (a development build made it): restore it with the tasker build that wrote it", s.Version, s.Name)
		}
		apply = append(apply, s)
	}
	return apply, nil
}

// checkTarget refuses a database that holds tasker data or has other
// clients, unless forced.
func checkTarget(ctx context.Context, tx pgx.Tx, force bool) error {
	var others int
	var who string
	if err := tx.QueryRow(ctx, qOtherSessions).Scan(&others, &who); err != nil {
		return err
	}
	if others > 0 && !force {
		return fmt.Errorf("%d other client session(s) are connected to the database (%s): stop every tasker node using it first, or pass --force", others, who)
	}
	var exists bool
	if err := tx.QueryRow(ctx, qSchemaExists).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return nil
	}
	tables, err := orderedTables(ctx, tx)
	if err != nil {
		return err
	}
	var held []string
	for _, t := range tables {
		var n int64
		if err := tx.QueryRow(ctx, fmt.Sprintf(tmplCountRows, ident(t))).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			held = append(held, fmt.Sprintf("%s: %d", t, n))
		}
	}
	if len(held) > 0 && !force {
		return fmt.Errorf("%w (%s): restore into a fresh data directory or database, or pass --force to replace it", ErrNotEmpty, strings.Join(held, ", "))
	}
	return nil
}

// load streams each data file of the archive into its table with COPY,
// checking the rows and the checksum again (the file may have changed since
// Verify read it).
func load(ctx context.Context, tx pgx.Tx, open func() (io.ReadCloser, error), byFile map[string]Table) error {
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	loaded := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		t, ok := byFile[h.Name]
		if !ok {
			continue // the manifest and its checksum
		}
		hash := sha256.New()
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, io.TeeReader(tr, hash), fmt.Sprintf(tmplCopyFrom, ident(t.Name), idents(t.Columns)))
		if err != nil {
			return fmt.Errorf("load table %s: %w", t.Name, err)
		}
		if tag.RowsAffected() != t.Rows || hex.EncodeToString(hash.Sum(nil)) != t.SHA256 {
			return fmt.Errorf("table %s: loaded %d rows, the manifest says %d, or the archive changed while restoring", t.Name, tag.RowsAffected(), t.Rows)
		}
		loaded++
	}
	if loaded != len(byFile) {
		return fmt.Errorf("loaded %d tables of %d: the archive changed while restoring", loaded, len(byFile))
	}
	return nil
}

func resetSequences(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, qSequences)
	if err != nil {
		return fmt.Errorf("list sequences: %w", err)
	}
	type seq struct{ table, column, name string }
	var seqs []seq
	var s seq
	if _, err := pgx.ForEachRow(rows, []any{&s.table, &s.column, &s.name}, func() error {
		seqs = append(seqs, s)
		return nil
	}); err != nil {
		return fmt.Errorf("list sequences: %w", err)
	}
	for _, s := range seqs {
		if _, err := tx.Exec(ctx, fmt.Sprintf(tmplSetval, ident(s.table), ident(s.column)), s.name); err != nil {
			return fmt.Errorf("reset sequence %s: %w", s.name, err)
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

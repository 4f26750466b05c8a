// Package sql holds tasker's database schema and the orchestration functions
// that decide readiness, retries and state, as numbered migration files
// embedded into the binary. Migrate applies the ones a database lacks, under
// an advisory lock so that several nodes starting at once apply each exactly once.
package sql

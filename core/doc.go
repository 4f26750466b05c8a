// Package core is tasker's domain: the contract between the engine and step
// handlers, and task templates with their validation. The sub-packages hold
// the store (PostgreSQL through pgx), the registry of templates and handlers,
// and the engine loop. Nothing in core knows about HTTP or plugin processes.
package core

// Package web is tasker's HTTP face: the REST API under a configurable prefix
// (default /tasker, as the seed mounts it), health endpoints and, later, the
// dashboard. Errors are RFC 9457 problem details that name the problem.
package web

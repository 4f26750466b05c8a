package web

import (
	"encoding/json"
	"net/http"

	"github.com/tasker-systems/tasker/core"
)

// Problem is an RFC 9457 problem details body, the one shape of every error.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
	// Errors lists each failing field of a request body, for a 400 about its content.
	Errors []core.Violation `json:"errors,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	writeProblemDoc(w, Problem{Status: status, Detail: detail, Instance: r.URL.Path})
}

func writeProblemDoc(w http.ResponseWriter, p Problem) {
	p = p.complete()
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// complete fills the fields that follow from the status.
func (p Problem) complete() Problem {
	p.Type, p.Title = "about:blank", http.StatusText(p.Status)
	return p
}

// Starting answers every request of a node that is still starting (its
// database, migrations, plugins): 503 with Retry-After, so that health
// checks and clients wait. tasker serve puts it on the listen address
// before the API exists.
var Starting http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	writeProblem(w, r, http.StatusServiceUnavailable, "tasker is starting")
})

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

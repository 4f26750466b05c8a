package web

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/tasker-systems/tasker/core"
)

// The handlers routes mirror the seed's handler discovery: namespaces, the
// task templates in each, and one template with its dependency graph.

type namespaceSummary struct {
	Name         string `json:"name"`
	HandlerCount int    `json:"handler_count"`
}

type templateSummary struct {
	Name        string   `json:"name"`
	Namespace   string   `json:"namespace"`
	Versions    []string `json:"versions"`
	Description string   `json:"description,omitempty"`
}

type templateDetail struct {
	ID              string              `json:"id"`
	Namespace       string              `json:"namespace"`
	Version         string              `json:"version"`
	Description     string              `json:"description,omitempty"`
	StepTemplates   []core.StepTemplate `json:"step_templates"`
	DependencyGraph core.Graph          `json:"dependency_graph"`
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request) {
	counts := map[string]map[string]bool{}
	for _, e := range s.cfg.Registry.Templates() {
		if counts[e.Template.Namespace] == nil {
			counts[e.Template.Namespace] = map[string]bool{}
		}
		counts[e.Template.Namespace][e.Template.Name] = true
	}
	out := []namespaceSummary{}
	for ns, names := range counts {
		out = append(out, namespaceSummary{Name: ns, HandlerCount: len(names)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": out})
}

func (s *Server) listNamespace(w http.ResponseWriter, r *http.Request) {
	ns, ok := pathIdent(w, r, "namespace")
	if !ok {
		return
	}
	byName := map[string]*templateSummary{}
	var names []string
	for _, e := range s.cfg.Registry.Templates() { // sorted by key, so versions come in order
		t := e.Template
		if t.Namespace != ns {
			continue
		}
		if byName[t.Name] == nil {
			byName[t.Name] = &templateSummary{Name: t.Name, Namespace: ns}
			names = append(names, t.Name)
		}
		byName[t.Name].Versions = append(byName[t.Name].Versions, t.Version)
		byName[t.Name].Description = t.Description
	}
	if len(names) == 0 {
		writeProblem(w, r, http.StatusNotFound, fmt.Sprintf("namespace %q has no task templates", ns))
		return
	}
	out := make([]templateSummary, 0, len(names))
	for _, n := range names {
		out = append(out, *byName[n])
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespace": ns, "handlers": out})
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request) {
	ns, ok := pathIdent(w, r, "namespace")
	if !ok {
		return
	}
	name, ok := pathIdent(w, r, "name")
	if !ok {
		return
	}
	version := r.URL.Query().Get("version")
	if version != "" {
		if err := checkVersion("query parameter version", version); err != nil {
			writeProblem(w, r, http.StatusBadRequest, err.Error())
			return
		}
	}
	e, err := s.cfg.Registry.Lookup(ns, name, version)
	if s.storeError(w, r, err) {
		return
	}
	t := e.Template
	writeJSON(w, http.StatusOK, templateDetail{ID: t.Name, Namespace: t.Namespace, Version: t.Version,
		Description: t.Description, StepTemplates: t.Steps, DependencyGraph: t.Graph()})
}

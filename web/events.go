package web

import (
	"net/http"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/events"
)

// eventCatalog is the answer of GET {prefix}/events/catalog.
type eventCatalog struct {
	// Events are the built-in events (docs/EVENTS.md).
	Events []events.Spec `json:"events"`
	// CustomFields are the payload fields every custom event carries
	// (the handler's payload is under data).
	CustomFields []events.Field `json:"custom_fields"`
	// Custom lists the events each registered template declares.
	Custom []templateEvents `json:"custom"`
}

type templateEvents struct {
	Namespace string                  `json:"namespace"`
	Name      string                  `json:"name"`
	Version   string                  `json:"version"`
	Events    []core.EventDeclaration `json:"events"`
}

func (s *Server) eventCatalog(w http.ResponseWriter, _ *http.Request) {
	out := eventCatalog{Events: events.Catalog, CustomFields: events.CustomFields, Custom: []templateEvents{}}
	if s.cfg.Registry != nil {
		for _, e := range s.cfg.Registry.Templates() {
			t := e.Template
			if len(t.Events) > 0 {
				out.Custom = append(out.Custom, templateEvents{t.Namespace, t.Name, t.Version, t.Events})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/tasker-systems/tasker/core/store"
)

// statusDoc is the body of health/status.
type statusDoc struct {
	Status      string                    `json:"status"`
	GeneratedAt time.Time                 `json:"generated_at"`
	Counts      *store.SystemHealthCounts `json:"counts"`
	Plugins     any                       `json:"plugins"`
	Templates   int                       `json:"templates"`
}

// statusCache keeps the last status document for a while, so a dashboard
// polling many times a second costs one query per period.
type statusCache struct {
	mu      sync.Mutex
	doc     *statusDoc
	expires time.Time
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	s.statusCache.mu.Lock()
	defer s.statusCache.mu.Unlock()
	if s.statusCache.doc == nil || time.Now().After(s.statusCache.expires) {
		counts, err := s.cfg.Store.SystemHealthCounts(r.Context())
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		doc := &statusDoc{Status: "healthy", GeneratedAt: time.Now().UTC(), Counts: counts,
			Templates: len(s.cfg.Registry.Templates())}
		if s.cfg.Plugins != nil {
			doc.Plugins = s.cfg.Plugins()
		}
		if s.stopping.Load() {
			doc.Status = "shutting_down"
		}
		s.statusCache.doc, s.statusCache.expires = doc, time.Now().Add(s.cfg.StatusCacheTTL)
	}
	writeJSON(w, http.StatusOK, s.statusCache.doc)
}

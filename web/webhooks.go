package web

import (
	"net/http"

	"github.com/tasker-systems/tasker/core/events"
)

// webhookList is the answer of GET {prefix}/events/webhooks.
type webhookList struct {
	Webhooks []events.WebhookStatus `json:"webhooks"`
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Webhooks.Status(r.Context())
	if s.storeError(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, webhookList{Webhooks: list})
}

// deadLetterList is the answer of GET {prefix}/events/webhooks/{name}/dead_letters.
type deadLetterList struct {
	Webhook     string              `json:"webhook"`
	DeadLetters []events.DeadLetter `json:"dead_letters"`
	Limit       int                 `json:"limit"`
	Offset      int                 `json:"offset"`
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	limit, ok := intParam(w, r, "limit", 50, 1, 1000)
	if !ok {
		return
	}
	offset, ok := intParam(w, r, "offset", 0, 0, 1<<30)
	if !ok {
		return
	}
	list, err := s.cfg.Webhooks.DeadLetters(r.Context(), name, limit, offset)
	if s.storeError(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, deadLetterList{Webhook: name, DeadLetters: list, Limit: limit, Offset: offset})
}

func (s *Server) retryDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "event_id", "event")
	if !ok {
		return
	}
	var body actionBody
	if !s.optionalBody(w, r, &body) {
		return
	}
	res, err := s.cfg.Webhooks.Retry(r.Context(), r.PathValue("name"), id)
	if s.storeError(w, r, err) {
		return
	}
	s.cfg.Logger.Info("dead letter redelivered by an operator", "webhook", r.PathValue("name"), "event_id", id,
		"delivered", res.Delivered, "actor", actor(r), "reason", body.Reason)
	writeJSON(w, http.StatusOK, res)
}

package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tasker-systems/tasker/core/auth"
)

// statusPermission guards health/status, which StatusRequiresAuth may open.
const statusPermission = "tasker.health_status:index"

type principalKey struct{}

// guard wraps a route's handler with its permission check when
// authentication is on. Open routes (Permission "") are served as they are.
func (s *Server) guard(rt Route) http.HandlerFunc {
	if s.cfg.Auth == nil || rt.Permission == "" || (rt.Permission == statusPermission && !s.cfg.StatusRequiresAuth) {
		return rt.handler
	}
	return func(w http.ResponseWriter, r *http.Request) {
		token, err := credential(r)
		var p *auth.Principal
		if err == nil {
			p, err = s.cfg.Auth.Authenticate(token)
		}
		switch {
		case errors.Is(err, auth.ErrNoCredentials):
			s.denied(r, "", "no credentials")
			w.Header().Set("WWW-Authenticate", `Bearer realm="tasker"`)
			writeProblem(w, r, http.StatusUnauthorized, "authentication required: send Authorization: Bearer <JWT or API key>, or X-API-Key: <API key>")
			return
		case err != nil:
			s.denied(r, "", err.Error())
			w.Header().Set("WWW-Authenticate", `Bearer realm="tasker", error="invalid_token", error_description="`+quotable(err.Error())+`"`)
			writeProblem(w, r, http.StatusUnauthorized, "invalid credentials: "+err.Error())
			return
		case !p.Can(rt.Permission):
			s.denied(r, p.Subject, "lacks "+rt.Permission)
			w.Header().Set("WWW-Authenticate", `Bearer realm="tasker", error="insufficient_scope", scope="`+rt.Permission+`"`)
			writeProblem(w, r, http.StatusForbidden, fmt.Sprintf("%q (%s) lacks the permission %s, which %s %s requires",
				p.Subject, p.Via, rt.Permission, rt.Method, s.cfg.Prefix+rt.Path))
			return
		}
		rt.handler(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// credential reads the caller's token: Authorization: Bearer <token> (a JWT
// or an API key), else X-API-Key: <API key>. No credential is "", nil.
func credential(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", fmt.Errorf("the Authorization scheme must be Bearer, not %s", quotable(scheme))
		}
		if strings.TrimSpace(token) == "" {
			return "", errors.New("the Authorization header holds no bearer token")
		}
		return token, nil
	}
	if key := strings.TrimSpace(r.Header.Get("X-API-Key")); key != "" {
		if !strings.HasPrefix(key, auth.KeyPrefix) {
			return "", fmt.Errorf("X-API-Key must hold a tasker API key (%s...); send a JWT as Authorization: Bearer", auth.KeyPrefix)
		}
		return key, nil
	}
	return "", nil
}

// denied logs a refused request; never the credential itself.
func (s *Server) denied(r *http.Request, subject, reason string) {
	if subject == "" {
		subject = "(unauthenticated)"
	}
	s.cfg.Logger.Info("request denied", "method", r.Method, "path", r.URL.Path, "subject", subject, "reason", reason,
		"correlation_id", CorrelationID(r.Context()))
}

// actor names who acts in the audit trail: "api:<subject>" for a JWT,
// "api:key:<name>" for an API key, "api" when authentication is off.
func actor(r *http.Request) string {
	p, _ := r.Context().Value(principalKey{}).(*auth.Principal)
	switch {
	case p == nil:
		return "api"
	case p.APIKeyName() != "":
		return "api:key:" + p.APIKeyName()
	}
	return "api:" + p.Subject
}

// quotable keeps what an RFC 6750 error_description may hold: printable
// ASCII without '"' and '\'.
func quotable(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\'')
		case c >= 0x20 && c <= 0x7e:
			b.WriteRune(c)
		}
	}
	return b.String()
}

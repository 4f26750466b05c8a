package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// CorrelationHeader carries a request's correlation id, in both directions.
const CorrelationHeader = "X-Correlation-ID"

type correlationKey struct{}

// withCorrelation takes the request's correlation id from its
// X-Correlation-ID header (1..128 characters of A-Z a-z 0-9 . _ : -) or
// generates one (32 hex digits), echoes it in the response header and puts
// it in the request's context, together with the caller's W3C trace
// context when tracing is on (the global propagator is a no-op otherwise).
// An invalid header is refused with false after a 400 was written.
func withCorrelation(w http.ResponseWriter, r *http.Request) (*http.Request, string, bool) {
	id := r.Header.Get(CorrelationHeader)
	if _, sent := r.Header[http.CanonicalHeaderKey(CorrelationHeader)]; sent && !validCorrelationID(id) {
		writeProblem(w, r, http.StatusBadRequest,
			"header "+CorrelationHeader+" must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
		return r, "", false
	}
	if id == "" {
		id = newCorrelationID()
	}
	w.Header().Set(CorrelationHeader, id)
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	return r.WithContext(context.WithValue(ctx, correlationKey{}, id)), id, true
}

// CorrelationID returns the correlation id of a request's context ("" outside one).
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

func validCorrelationID(id string) bool {
	if len(id) < 1 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

func newCorrelationID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

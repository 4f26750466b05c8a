package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook request headers.
const (
	HeaderEvent     = "X-Tasker-Event"
	HeaderEventID   = "X-Tasker-Event-Id"
	HeaderAttempt   = "X-Tasker-Delivery-Attempt"
	HeaderTimestamp = "X-Tasker-Timestamp"
	HeaderSignature = "X-Tasker-Signature"
	HeaderWebhook   = "X-Tasker-Webhook"
)

// Sign returns the X-Tasker-Signature of a request: "sha256=" and the hex
// HMAC-SHA256, keyed by the secret, of timestamp + "." + body.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether signature (the X-Tasker-Signature
// header) signs timestamp and body with secret, in constant time.
func VerifySignature(secret []byte, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

// post makes one attempt; the error says why it is not delivered (an
// answer other than 2xx, or none). code is the answer's status, 0 for none.
func (w *Webhooks) post(ctx context.Context, h *webhook, e Event, attempt int) (code int, err error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encode event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tasker-webhook")
	req.Header.Set(HeaderWebhook, h.cfg.Name)
	req.Header.Set(HeaderEvent, e.Name)
	req.Header.Set(HeaderEventID, strconv.FormatInt(e.ID, 10))
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(h.secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := "the receiver answered " + resp.Status
		if s := strings.TrimSpace(string(snippet)); s != "" {
			msg += ": " + strings.ToValidUTF8(s, "?")
		}
		return resp.StatusCode, errors.New(msg)
	}
	return resp.StatusCode, nil
}

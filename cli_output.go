package main

// Output and input helpers of the client commands: tables, truncation,
// times, repeatable flags and JSON given as text, @file or - (stdin).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/tasker-systems/tasker/core"
)

// newTable is a tabwriter for a table of columns separated by \t.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// indentJSON writes a JSON document indented by two spaces, keys in the
// order they came, and a final newline.
func indentJSON(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(data), "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// truncate shortens s to at most n runes, ending in … when it cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// oneLine joins the lines of s with spaces and truncates it to n runes,
// so that a table cell or an error message stays one line.
func oneLine(s string, n int) string {
	return truncate(strings.Join(strings.Fields(s), " "), n)
}

// compactJSON is raw JSON on one line ("-" when absent or null).
func compactJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(raw)) == 0 || json.Compact(&buf, raw) != nil || buf.String() == "null" {
		return "-"
	}
	return buf.String()
}

// ago says how long before now t was, coarsely ("12s ago", "5m ago",
// "3h ago", "2d ago"), or its date when more than a week ago.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "-"
	case d < 0:
		return t.Local().Format(time.RFC3339)
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	case d < 7*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
	return t.Local().Format("2006-01-02")
}

// stamp is a time in RFC 3339, in the local zone.
func stamp(t time.Time) string { return t.Local().Format(time.RFC3339) }

// repeatedFlag is a flag that may be given several times.
type repeatedFlag []string

func (l *repeatedFlag) String() string { return strings.Join(*l, ",") }

func (l *repeatedFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// jsonArg reads the JSON value of a flag: the text itself, @file for a
// file's content, or - for standard input. "" gives nil. With object, the
// value must be a JSON object.
func jsonArg(flagName, v string, object bool) (json.RawMessage, error) {
	if v == "" {
		return nil, nil
	}
	data, from := []byte(v), ""
	switch {
	case v == "-":
		b, err := io.ReadAll(cliStdin)
		if err != nil {
			return nil, fmt.Errorf("--%s -: read standard input: %w", flagName, err)
		}
		data, from = b, " (from standard input)"
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagName, err)
		}
		data, from = b, " (from "+v[1:]+")"
	}
	data = bytes.TrimSpace(data)
	var val any
	if err := json.Unmarshal(data, &val); err != nil {
		return nil, fmt.Errorf("--%s: invalid JSON%s: %v", flagName, from, err)
	}
	if _, ok := val.(map[string]any); object && !ok {
		return nil, fmt.Errorf("--%s: want a JSON object%s, such as {\"order_id\": 42}", flagName, from)
	}
	return json.RawMessage(data), nil
}

// templateID is namespace/name@version.
func templateID(t *core.Task) string { return t.Namespace + "/" + t.Name + "@" + t.Version }

// stepCount is "finished/total" steps, finished meaning complete or resolved by hand.
func stepCount(steps []core.Step) string {
	done := 0
	for _, s := range steps {
		if s.Status == core.StepStatusComplete || s.Status == core.StepStatusResolvedManually {
			done++
		}
	}
	return fmt.Sprintf("%d/%d", done, len(steps))
}

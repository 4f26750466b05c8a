package bench

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Target is a goal of the issue for a figure: Op is "<=" or ">=".
type Target struct {
	Op    string  `json:"op"`
	Value float64 `json:"value"`
}

func (t *Target) String() string {
	if t == nil {
		return ""
	}
	return fmt.Sprintf("%s %s", t.Op, formatNum(t.Value))
}

// Figure is one measured quantity over the runs.
type Figure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
	Target *Target   `json:"target,omitempty"`
	// Met says whether the median meets Target (absent without a target).
	Met *bool `json:"met,omitempty"`
}

// Result is one scenario's figures.
type Result struct {
	Scenario    string   `json:"scenario"`
	Description string   `json:"description"`
	Figures     []Figure `json:"figures"`
	Notes       []string `json:"notes,omitempty"`
	Error       string   `json:"error,omitempty"`
	Seconds     float64  `json:"seconds"`
}

// Add records one run's value of a figure, creating the figure on first use.
func (r *Result) Add(name, unit string, target *Target, v float64) {
	for i := range r.Figures {
		if r.Figures[i].Name == name {
			r.Figures[i].Runs = append(r.Figures[i].Runs, v)
			return
		}
	}
	r.Figures = append(r.Figures, Figure{Name: name, Unit: unit, Target: target, Runs: []float64{v}})
}

// Note adds a line of explanation, once.
func (r *Result) Note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !slices.Contains(r.Notes, n) {
		r.Notes = append(r.Notes, n)
	}
}

// finish computes medians, extremes and targets.
func (r *Result) finish() {
	for i := range r.Figures {
		f := &r.Figures[i]
		s := slices.Clone(f.Runs)
		sort.Float64s(s)
		if len(s) == 0 {
			continue
		}
		f.Min, f.Max, f.Median = s[0], s[len(s)-1], median(s)
		if f.Target != nil {
			met := (f.Target.Op == "<=" && f.Median <= f.Target.Value) || (f.Target.Op == ">=" && f.Median >= f.Target.Value)
			f.Met = &met
		}
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func le(v float64) *Target { return &Target{"<=", v} }
func ge(v float64) *Target { return &Target{">=", v} }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func formatNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 1000:
		return strings.TrimSuffix(fmt.Sprintf("%.0f", v), ".")
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// TargetLE is the target "at most v".
func TargetLE(v float64) *Target { return le(v) }

// Finished computes the medians, extremes and targets of a result filled
// outside Run (the launcher's startup figures) and returns it.
func Finished(r *Result) *Result { r.finish(); return r }

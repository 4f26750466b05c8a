package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is what `tasker bench` writes: every scenario's figures with the
// machine, the versions and the method.
type Report struct {
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Machine  Machine           `json:"machine"`
	Versions map[string]string `json:"versions"`
	Runs     int               `json:"runs"`
	Sizes    Sizes             `json:"sizes"`
	// Setup says how the tasker under test was started (or that it was given).
	Setup []string `json:"setup"`
	// Comment is the --comment of the run: anything a reader of the figures should know.
	Comment string    `json:"comment,omitempty"`
	Results []*Result `json:"results"`
}

// Machine describes the host the figures were taken on.
type Machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemoryMB int    `json:"memory_mb"`
	Kernel   string `json:"kernel"`
	OS       string `json:"os"`
	// LoadBefore and LoadAfter are the 1-minute load averages around the
	// run: a load near or above Cores before it means other work shared the CPUs.
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

// ThisMachine reads the CPU model, memory and kernel (Linux; fields stay
// empty elsewhere).
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadBefore: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := strconv.Atoi(strings.TrimSuffix(field(string(b), "MemTotal"), " kB")); err == nil {
			m.MemoryMB = kb / 1024
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Finish records the load after the run and the duration.
func (r *Report) Finish() {
	for _, res := range r.Results {
		res.finish()
	}
	r.Machine.LoadAfter = loadAvg()
	r.Seconds = time.Since(r.Started).Seconds()
}

// JSON is the report as indented JSON.
func (r *Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Markdown is the report as docs/BENCHMARKS.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `tasker bench` (`make bench`) on %s; the same figures are in `benchmarks.json`. ", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	w("Every figure is the median of %d runs (unless its notes say otherwise), with the smallest and largest run beside it. ", r.Runs)
	w("Targets are the goals of issue 7; *met* compares the median with them.\n\n")
	if r.Comment != "" {
		w("%s\n\n", r.Comment)
	}
	w("## Machine\n\n| | |\n|---|---|\n")
	w("| CPU | %s |\n| cores | %d |\n| memory | %d MB |\n| kernel | %s (%s) |\n", r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryMB, r.Machine.Kernel, r.Machine.OS)
	w("| load average (1, 5, 15 min) before / after | %s / %s |\n\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	w("## Versions\n\n| | |\n|---|---|\n")
	for _, k := range []string{"tasker", "commit", "go", "postgresql"} {
		if v, ok := r.Versions[k]; ok {
			w("| %s | %s |\n", k, v)
		}
	}
	w("\n## Method\n\n")
	for _, s := range r.Setup {
		w("- %s\n", s)
	}
	w("- Tasks come from the no-op plugin `examples/bench` (handler `noop` returns `{}` at once) over the REST API, ")
	w("so the figures are tasker's own cost: HTTP, engine, SQL, the plugin call over gRPC.\n")
	w("- Latencies are taken from the database's timestamps (`created_at`, `completed_at`, step transitions: ")
	w("transaction start times), so the client's polling does not add to them; API request latencies are the client's.\n")
	w("- Percentiles are nearest-rank over every task of a run.\n")
	w("- Sizes (the flags of `tasker bench`): `%s`\n", sizesLine(r.Sizes))
	w("- Changes made from profiles, with their figures before and after, and the hot spots left: ")
	w("[ARCHITECTURE.md, Performance](ARCHITECTURE.md#performance).\n")
	w("- The whole run took %s.\n", time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
	for _, res := range r.Results {
		w("\n## %s\n\n%s\n\n", res.Scenario, res.Description)
		if res.Error != "" {
			w("**Failed:** %s\n\n", res.Error)
		}
		if len(res.Figures) > 0 {
			w("| figure | median | min | max | unit | target | met |\n|---|---:|---:|---:|---|---|---|\n")
			for _, f := range res.Figures {
				met := ""
				if f.Met != nil {
					met = map[bool]string{true: "met", false: "**not met**"}[*f.Met]
				}
				w("| %s | %s | %s | %s | %s | %s | %s |\n", f.Name, formatNum(f.Median), formatNum(f.Min), formatNum(f.Max), f.Unit, f.Target.String(), met)
			}
			w("\n")
		}
		for _, n := range res.Notes {
			w("- %s\n", n)
		}
		w("- took %s\n", time.Duration(res.Seconds*float64(time.Second)).Round(time.Second))
	}
	return b.String()
}

func sizesLine(s Sizes) string {
	return fmt.Sprintf("--burn-tasks %d --burn-clients %d --burn-batch %d --load-rates %s --load-duration %s --load-clients %d "+
		"--latency-tasks %d --chain-template %s --chain-tasks %d --scale-wide=%t --scale-fanout=%t --scale-runs %d --claim-history %d "+
		"--claim-samples %d --api-clients %d --api-duration %s --rss-load %s",
		s.BurnTasks, s.BurnClients, s.BurnBatch, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(s.LoadRates)), ","), "[]"), s.LoadDuration,
		s.LoadClients, s.LatencyTasks, s.ChainName, s.ChainTasks, s.ScaleWide, s.ScaleFanout, s.ScaleRuns, s.ClaimHistory,
		s.ClaimSamples, s.APIClients, s.APIDuration, s.RSSLoad)
}

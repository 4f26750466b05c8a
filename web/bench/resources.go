package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// resources reads the resident memory (VmRSS) of the host process and of
// its plugin processes (its children named tasker-handler-*) from /proc:
// idle, then the peak while clients create tasks for Sizes.RSSLoad.
func resources(ctx context.Context, cfg Config, r *Result, tag string) error {
	if cfg.HostPID == 0 {
		r.Note("RSS skipped: needs the tasker's process id (--pid, or --launch)")
		return nil
	}
	time.Sleep(time.Second) // let the previous scenario's work settle
	host, plugin, err := rss(cfg.HostPID)
	if err != nil {
		return err
	}
	r.Add("host RSS idle", "MB", le(60), host)
	r.Add("plugin RSS idle", "MB", nil, plugin)

	var peakHost, peakPlugin float64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if h, p, err := rss(cfg.HostPID); err == nil {
					peakHost, peakPlugin = max(peakHost, h), max(peakPlugin, p)
				}
			}
		}
	})
	loadCfg := cfg
	loadCfg.Sizes.APIDuration = cfg.Sizes.RSSLoad
	scratch := &Result{}
	err = api(ctx, loadCfg, scratch, tag)
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	r.Add("host RSS under load (peak)", "MB", nil, peakHost)
	r.Add("plugin RSS under load (peak)", "MB", nil, peakPlugin)
	r.Note("under load: %d clients creating bench/diamond tasks for %s, RSS sampled every 100 ms; PostgreSQL's processes are not counted (shared memory makes their RSS misleading)",
		cfg.Sizes.APIClients, cfg.Sizes.RSSLoad)
	return nil
}

// rss is the VmRSS of pid and the sum over its tasker-handler-* children, in MB.
func rss(pid int) (host, plugins float64, err error) {
	host, err = vmRSS(pid)
	if err != nil {
		return 0, 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		if field(string(status), "PPid") != strconv.Itoa(pid) || !strings.HasPrefix(field(string(status), "Name"), "tasker-handler") {
			continue
		}
		if v, err := vmRSS(child); err == nil {
			plugins += v
		}
	}
	return host, plugins, nil
}

func vmRSS(pid int) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	kb, err := strconv.ParseFloat(strings.TrimSuffix(field(string(status), "VmRSS"), " kB"), 64)
	if err != nil {
		return 0, fmt.Errorf("process %d: VmRSS: %w", pid, err)
	}
	return kb / 1024, nil
}

// field is a value of a /proc/<pid>/status line "Key:\tvalue".
func field(status, key string) string {
	for _, line := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Command demo is what `make demo` runs: it starts tasker with the example
// plugins and templates, runs example workflows to completion while showing
// each step's progress, then says where the API is.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	tasker := flag.String("tasker", "bin/tasker", "the tasker binary")
	pluginsDir := flag.String("plugins-dir", "bin/plugins", "plugins directory")
	templatesDir := flag.String("templates-dir", "examples/templates", "templates directory")
	dataDir := flag.String("data-dir", "tasker-data", "data directory")
	listen := flag.String("listen", "127.0.0.1:8080", "API address (another free port is used when it is taken)")
	keep := flag.String("keep", "auto", "keep tasker running after the workflows: yes, no, or auto (yes on a terminal)")
	flag.Parse()

	if os.Geteuid() == 0 {
		// tasker drops root for an unprivileged user, who must reach the data and plugins.
		work := "/var/tmp/tasker-demo"
		fmt.Printf("running as root: tasker will run as an unprivileged user, so the demo works in %s\n", work)
		for _, d := range []*string{pluginsDir, templatesDir} {
			copied := filepath.Join(work, filepath.Base(*d))
			if err := copyDir(*d, copied); err != nil {
				return err
			}
			*d = copied
		}
		*dataDir = filepath.Join(work, "data")
	}
	addr, err := freeAddr(*listen)
	if err != nil {
		return err
	}
	logPath, _ := filepath.Abs(filepath.Join(filepath.Dir(*dataDir), "tasker-demo.log"))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()

	cmd := exec.Command(*tasker, "serve", "--data-dir", *dataDir, "--listen", addr,
		"--plugins-dir", *pluginsDir, "--templates-dir", *templatesDir, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the demo, which stops tasker in order
	fmt.Printf("starting %s serve on %s (log: %s)\n", *tasker, addr, logPath)
	fmt.Println("  the first start extracts the embedded PostgreSQL and initialises its data; later starts are quick")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
		cancel() // an early exit ends the demo's waits at once
	}()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			return waitErr
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("tasker did not stop within 60s; killed")
		}
	}

	api := client.New("http://" + addr + "/tasker")
	tourErr := tour(ctx, api, start, *keep, exited)
	if tourErr != nil {
		tourErr = fmt.Errorf("%w; see %s", tourErr, logPath)
	}
	// Whatever happened above, tasker is stopped in order: it never outlives the demo.
	fmt.Println("stopping tasker...")
	if err := stop(); err != nil {
		return errors.Join(tourErr, fmt.Errorf("tasker did not stop cleanly: %w; see %s", err, logPath))
	}
	fmt.Println("stopped.")
	return tourErr
}

// tour waits for tasker, runs the example workflows and, on a terminal,
// keeps tasker serving until Ctrl-C.
func tour(ctx context.Context, api *client.Client, start time.Time, keep string, exited <-chan struct{}) error {
	if err := api.WaitReady(ctx); err != nil {
		return err
	}
	fmt.Printf("tasker is ready after %s\n\n", time.Since(start).Round(time.Millisecond))

	requests := []core.TaskRequest{
		{Name: "order_process", Context: json.RawMessage(`{"order_id": 1001, "amount_cents": 4999, "customer_email": "ada@example.com"}`),
			Initiator: "demo", Reason: "new order", SourceSystem: "shop", Tags: []string{"demo"}},
		{Name: "order_process", Namespace: "express", Context: json.RawMessage(`{"order_id": 1002, "amount_cents": 1250, "customer_email": "alan@example.com"}`),
			Initiator: "demo", Reason: "express checkout", SourceSystem: "shop", Tags: []string{"demo", "express"}},
		{Name: "order_process", Context: json.RawMessage(`{"order_id": -5, "amount_cents": 100, "customer_email": "nobody@example.com"}`),
			Initiator: "demo", Reason: "an invalid order, to show a permanent failure", SourceSystem: "shop", Tags: []string{"demo"}},
	}
	var first int64
	for _, req := range requests {
		id, err := runTask(ctx, api, req)
		if err != nil {
			return err
		}
		if first == 0 {
			first = id
		}
	}
	fmt.Printf("The API is at %s — for example:\n  curl %s/tasks\n  curl %s/tasks/%d\n", api.BaseURL, api.BaseURL, api.BaseURL, first)

	if keep == "yes" || (keep == "auto" && isatty.IsTerminal(os.Stdin.Fd())) {
		fmt.Println("\ntasker keeps running; press Ctrl-C to stop it.")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		select {
		case <-sig:
		case <-exited:
			return errors.New("tasker exited")
		}
	}
	return nil
}

// runTask creates one task and prints every change of its steps until it ends.
func runTask(ctx context.Context, api *client.Client, req core.TaskRequest) (int64, error) {
	t, err := api.CreateTask(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("create task: %w", err)
	}
	ns := t.Namespace
	fmt.Printf("task %d: %s/%s %s (%s)\n", t.TaskID, ns, t.Name, t.Version, req.Reason)
	seen := map[string]string{}
	started := time.Now()
	final, err := api.WaitTask(ctx, t.TaskID, func(t *core.Task) {
		for _, s := range t.Steps {
			key := fmt.Sprintf("%s:%d", s.Status, s.Attempts)
			if seen[s.Name] == key || s.Status == core.StepStatusPending {
				continue
			}
			seen[s.Name] = key
			line := fmt.Sprintf("  %-18s %-18s attempt %d", s.Name, s.Status, s.Attempts)
			switch {
			case s.LastError != nil && s.Status != core.StepStatusComplete:
				line += "  " + *s.LastError
			case s.Status == core.StepStatusComplete:
				line += "  " + oneLine(s.Results)
			}
			fmt.Println(line)
		}
	})
	if err != nil {
		return 0, err
	}
	fmt.Printf("  => task %d %s in %s\n\n", final.TaskID, strings.ToUpper(final.Status), time.Since(started).Round(time.Millisecond))
	return final.TaskID, nil
}

func oneLine(raw json.RawMessage) string {
	s := string(raw)
	if len(s) > 90 {
		s = s[:87] + "..."
	}
	return s
}

func freeAddr(want string) (string, error) {
	ln, err := net.Listen("tcp", want)
	if err == nil {
		ln.Close()
		return want, nil
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	fmt.Printf("%s is taken; using %s\n", want, ln.Addr())
	return ln.Addr().String(), nil
}

// copyDir copies the regular files of src into dst, keeping their modes;
// dst and its parent are made traversable by everyone.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

package main

// tasker bench: the scenarios of web/bench against a running tasker
// (--server), or against taskers it starts itself (--launch, what make
// bench does), writing the figures as Markdown and JSON.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasker-systems/tasker/core/config"
	"github.com/tasker-systems/tasker/web/bench"
	"github.com/tasker-systems/tasker/web/client"
)

const benchUsage = `Usage: tasker bench [flags]

Measures a tasker with the scenarios of issue 7 and writes the figures (median, min and max
of --runs runs) as Markdown and JSON. The tasker must load the no-op plugin
tasker-handler-bench (examples/bench; make build builds it).

  --launch        start the taskers itself (what make bench does): a fresh data dir with the
                  embedded PostgreSQL and only the bench plugin (from --plugins-dir), one tasker
                  for most scenarios, one with --workers 1 on another fresh data dir for chain and
                  claim; also measures first start, warm restart and binary size
  --server URL    else: the tasker to drive (default $TASKER_SERVER, else ` + defaultServer + `)
                  with --database-url URL (or --data-dir DIR of a tasker on this machine) for the
                  claim scenario and --pid PID for resident memory; scenarios that lack them say
                  "skipped". chain measures per-step overhead as the issue means it only on a
                  tasker started with --workers 1.

Scenarios (--scenarios, comma-separated; default all): ` + "latency, resources, api, burn, load, scale, chain, claim" + `

Flags:
`

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	sz := bench.DefaultSizes()
	launch := fs.Bool("launch", false, "start the taskers to measure (fresh data dirs, embedded PostgreSQL)")
	taskerBin := fs.String("tasker", "", "with --launch: the tasker binary to start (default this one)")
	pluginsDir := fs.String("plugins-dir", "plugins", "with --launch: where tasker-handler-bench_v* is")
	keep := fs.Bool("keep", false, "with --launch: keep the work directory (data dirs and logs)")
	serveArgs := fs.String("serve-args", "", "with --launch: more flags for the taskers it starts, space-separated (e.g. --synchronous-commit=false)")
	server := fs.String("server", "", "tasker's API URL, prefix included")
	token := fs.String("token", "", "bearer token: a JWT or an API key (default $TASKER_TOKEN)")
	dbURL := fs.String("database-url", "", "tasker's database, for the claim scenario")
	dataDir := fs.String("data-dir", "", "data dir of a tasker on this machine: its embedded database, for the claim scenario")
	pid := fs.Int("pid", 0, "process id of the tasker, for the resources scenario")
	scenarios := fs.String("scenarios", strings.Join(bench.Scenarios, ","), "scenarios to run, comma-separated")
	runs := fs.Int("runs", 3, "runs of each scenario; figures are their median, min and max")
	jsonOut := fs.String("json", "", "write the figures as JSON to this file")
	mdOut := fs.String("markdown", "", "write the figures as Markdown to this file")
	comment := fs.String("comment", "", "a paragraph for the top of the report (e.g. what else the machine was doing)")
	render := fs.String("render", "", "run nothing: write the Markdown of this JSON report (to --markdown, else stdout)")
	fs.IntVar(&sz.BurnTasks, "burn-tasks", sz.BurnTasks, "burn: diamond tasks to create, then drain")
	fs.IntVar(&sz.BurnClients, "burn-clients", sz.BurnClients, "burn: concurrent clients creating them")
	fs.IntVar(&sz.BurnBatch, "burn-batch", sz.BurnBatch, "burn: tasks per POST /tasks/batch request; 0 creates each with its own POST /tasks")
	rates := fs.String("load-rates", "25,50,100,200,400", "load: offered rates, tasks per second, comma-separated")
	fs.DurationVar(&sz.LoadDuration, "load-duration", sz.LoadDuration, "load: how long each rate is offered")
	fs.IntVar(&sz.LoadClients, "load-clients", sz.LoadClients, "load: concurrent clients")
	fs.IntVar(&sz.LatencyTasks, "latency-tasks", sz.LatencyTasks, "latency: linear3 tasks per run, one after the other")
	fs.IntVar(&sz.ChainTasks, "chain-tasks", sz.ChainTasks, "chain: tasks per run")
	fs.StringVar(&sz.ChainName, "chain-template", sz.ChainName, "chain: the bench template to run (chain400; linear3 for a quick check)")
	fs.BoolVar(&sz.ScaleWide, "scale-wide", sz.ScaleWide, "scale: run the 10,000-step task")
	fs.IntVar(&sz.ScaleRuns, "scale-runs", 0, "scale: runs of the scale scenario (default --runs)")
	fs.BoolVar(&sz.ScaleFanout, "scale-fanout", sz.ScaleFanout, "scale: run the 1 -> 1,000 -> 1 task")
	fs.IntVar(&sz.ClaimHistory, "claim-history", sz.ClaimHistory, "claim: finished steps in the tables for the second measurement")
	fs.IntVar(&sz.ClaimSamples, "claim-samples", sz.ClaimSamples, "claim: claims timed per round")
	fs.IntVar(&sz.APIClients, "api-clients", sz.APIClients, "api: concurrent clients")
	fs.DurationVar(&sz.APIDuration, "api-duration", sz.APIDuration, "api: how long they create tasks")
	fs.DurationVar(&sz.RSSLoad, "rss-load", sz.RSSLoad, "resources: how long the load lasts while memory is sampled")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tasker bench: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	sz.LoadRates = nil
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(stderr, "tasker bench: --load-rates: %q is not a positive number\n", r)
			return exitUsage
		}
		sz.LoadRates = append(sz.LoadRates, v)
	}
	var chosen []string
	for _, s := range strings.Split(*scenarios, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(bench.Scenarios, s) {
			fmt.Fprintf(stderr, "tasker bench: unknown scenario %q (known: %s)\n", s, strings.Join(bench.Scenarios, ", "))
			return exitUsage
		}
		chosen = append(chosen, s)
	}
	if *runs < 1 {
		fmt.Fprintln(stderr, "tasker bench: --runs must be at least 1")
		return exitUsage
	}

	if *render != "" {
		return renderBench(*render, *mdOut, stdout, stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, c, _ := buildVersion()
	report := &bench.Report{Started: time.Now(), Machine: bench.ThisMachine(), Runs: *runs, Sizes: sz,
		Versions: map[string]string{"go": runtime.Version(), "commit": c}, Comment: *comment}
	cfg := bench.Config{Runs: *runs, Progress: stderr, Sizes: sz}
	// save writes the report so far, after each scenario, so that a long run
	// stopped half-way keeps what it measured.
	save := func() error {
		report.Finish()
		if *jsonOut != "" {
			data, err := report.JSON()
			if err == nil {
				err = os.WriteFile(*jsonOut, append(data, '\n'), 0o644)
			}
			if err != nil {
				return err
			}
		}
		if *mdOut != "" {
			return os.WriteFile(*mdOut, []byte(report.Markdown()), 0o644)
		}
		return nil
	}
	run := func(cfg bench.Config, names ...string) {
		for _, name := range bench.Scenarios { // the canonical order
			if !slices.Contains(chosen, name) || !slices.Contains(names, name) || ctx.Err() != nil {
				continue
			}
			fmt.Fprintf(stderr, "bench: scenario %s\n", name)
			res := bench.Run(ctx, cfg, name)
			if res.Error != "" {
				fmt.Fprintf(stderr, "bench: scenario %s failed: %s\n", name, res.Error)
			}
			report.Results = append(report.Results, res)
			if err := save(); err != nil {
				fmt.Fprintf(stderr, "bench: %v\n", err)
			}
		}
	}

	var err error
	if *launch {
		err = launchBench(ctx, stderr, launchOptions{bin: *taskerBin, pluginsDir: *pluginsDir, keep: *keep,
			serveArgs: strings.Fields(*serveArgs)}, report, cfg, chosen, run)
	} else {
		err = remoteBench(ctx, *server, *token, *dbURL, *dataDir, *pid, report, &cfg)
		if err == nil {
			run(cfg, bench.Scenarios...)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "tasker bench: %v\n", err)
		return exitFailed
	}
	if err := save(); err != nil {
		fmt.Fprintf(stderr, "tasker bench: %v\n", err)
		return exitFailed
	}
	if *mdOut == "" {
		fmt.Fprint(stdout, report.Markdown())
	}
	for _, r := range report.Results {
		if r.Error != "" {
			return exitFailed
		}
	}
	return exitOK
}

// remoteBench prepares the run against a tasker that is already running.
func remoteBench(ctx context.Context, server, token, dbURL, dataDir string, pid int, report *bench.Report, cfg *bench.Config) error {
	base, err := serverURL(server)
	if err != nil {
		return err
	}
	if token == "" {
		token = os.Getenv("TASKER_TOKEN")
	}
	cfg.API = benchClient(base)
	cfg.API.Token = token
	if dbURL == "" && dataDir != "" {
		if dbURL, err = servedURL(dataDir); err != nil {
			return err
		}
	}
	cfg.DatabaseURL, cfg.HostPID = dbURL, pid
	if err := checkBenchPlugin(ctx, cfg.API); err != nil {
		return err
	}
	report.Versions["tasker"] = "the tasker at " + base + " (not started by bench; the bench client is " + versionString() + ")"
	if dbURL != "" {
		report.Versions["postgresql"] = serverVersion(ctx, dbURL)
	}
	report.Setup = append(report.Setup, fmt.Sprintf("Driven: the tasker at %s, started by someone else (its flags are not known to bench).", base))
	return nil
}

func checkBenchPlugin(ctx context.Context, api *client.Client) error {
	if _, err := api.Template(ctx, bench.Namespace, "diamond", ""); err != nil {
		return fmt.Errorf("%s: no template bench/diamond (%v): load the plugin tasker-handler-bench (examples/bench)", api.BaseURL, err)
	}
	return nil
}

func serverVersion(ctx context.Context, dbURL string) string {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "unknown: " + err.Error()
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "show server_version").Scan(&v); err != nil {
		return "unknown: " + err.Error()
	}
	return v
}

// benchNode is one tasker started by bench --launch.
type benchNode struct {
	cmd     *exec.Cmd
	api     *client.Client
	dataDir string
	exited  chan struct{}
}

// launchOptions say how --launch starts taskers.
type launchOptions struct {
	bin, pluginsDir string
	keep            bool
	serveArgs       []string // given to every tasker serve it starts
}

// except describes flags given beside the defaults.
func except(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return fmt.Sprintf(" except these: `%s`", strings.Join(args, " "))
}

// launchBench starts the taskers it needs and runs the chosen scenarios.
func launchBench(ctx context.Context, stderr io.Writer, lo launchOptions, report *bench.Report,
	cfg bench.Config, chosen []string, run func(bench.Config, ...string)) error {
	bin, pluginsDir, keep := lo.bin, lo.pluginsDir, lo.keep
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		bin = exe
	}
	found, _ := filepath.Glob(filepath.Join(pluginsDir, "tasker-handler-bench_v*"))
	found = slices.DeleteFunc(found, func(p string) bool { return strings.HasSuffix(p, ".sha256") })
	if len(found) == 0 {
		return fmt.Errorf("no tasker-handler-bench_v* in %s: build it (make build) or give --plugins-dir", pluginsDir)
	}
	work, err := os.MkdirTemp("", "tasker-bench-")
	if err != nil {
		return err
	}
	// Readable by the unprivileged user tasker switches to when started as root.
	for _, d := range []string{"", "plugins", "templates"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(work, d), 0o755); err != nil {
			return err
		}
	}
	if !keep {
		defer os.RemoveAll(work)
	} else {
		fmt.Fprintf(stderr, "bench: work directory %s (kept)\n", work)
	}
	data, err := os.ReadFile(found[len(found)-1])
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "plugins", filepath.Base(found[len(found)-1])), data, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command(bin, "version").Output(); err == nil {
		v := strings.TrimSpace(string(out))
		report.Versions["tasker"] = v
	}
	binInfo, err := os.Stat(bin)
	if err != nil {
		return err
	}
	pluginInfo, _ := os.Stat(found[len(found)-1])

	start := func(name string, extra ...string) (*benchNode, time.Duration, error) {
		t0 := time.Now()
		n, err := startBenchNode(ctx, bin, work, name, append(slices.Clone(lo.serveArgs), extra...)...)
		return n, time.Since(t0), err
	}
	resources := &bench.Result{Scenario: "startup", Description: "Resources: first start (extract PostgreSQL, initdb, migrate, load the plugin) and warm restart, each from exec to health/ready answering 200; binary sizes."}
	var mainNeeded, workerNeeded bool
	for _, s := range chosen {
		switch s {
		case "chain", "claim":
			workerNeeded = true
		default:
			mainNeeded = true
		}
	}

	report.Setup = append(report.Setup,
		fmt.Sprintf("Started by `tasker bench --launch`: `tasker serve` on a fresh data dir (embedded PostgreSQL, default settings), "+
			"with only the bench plugin, default flags (%d workers, LISTEN/NOTIFY, commits that wait for the disk, log level info "+
			"written to a file)%s, on loopback; the client runs on the same machine.", config.Defaults().Engine.Workers, except(lo.serveArgs)),
		"`chain` and `claim` ran on a second tasker, started with `--workers 1` on its own fresh data dir, so that the claim's "+
			"\"few finished steps\" are those of the chain runs only.")
	if mainNeeded {
		fmt.Fprintln(stderr, "bench: starting tasker on a fresh data dir (first start)")
		n, first, err := start("main")
		if err != nil {
			return err
		}
		resources.Add("first start to ready", "s", nil, first.Seconds())
		for i := 1; i <= cfg.Runs; i++ {
			if err := n.stop(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "bench: warm restart %d/%d\n", i, cfg.Runs)
			var warm time.Duration
			if n, warm, err = start("main"); err != nil {
				return err
			}
			resources.Add("warm restart to ready", "s", bench.TargetLE(1.5), warm.Seconds())
		}
		resources.Add("tasker binary", "MB", nil, float64(binInfo.Size())/(1<<20))
		if pluginInfo != nil {
			resources.Add("bench plugin binary", "MB", nil, float64(pluginInfo.Size())/(1<<20))
		}
		resources.Note("first start is measured once per fresh data dir (one or two), warm restart %d times", cfg.Runs)
		report.Results = append(report.Results, resources)
		dbURL, err := servedURL(n.dataDir)
		if err != nil {
			n.stop()
			return err
		}
		report.Versions["postgresql"] = serverVersion(ctx, dbURL) + " (embedded)"
		c := cfg
		c.API, c.DatabaseURL, c.HostPID = n.api, dbURL, n.cmd.Process.Pid
		run(c, "latency", "resources", "api", "burn", "load", "scale")
		if err := n.stop(); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if workerNeeded {
		fmt.Fprintln(stderr, "bench: starting tasker --workers 1 on a fresh data dir")
		n, first, err := start("one-worker", "--workers", "1")
		if err != nil {
			return err
		}
		resources.Add("first start to ready", "s", nil, first.Seconds())
		dbURL, err := servedURL(n.dataDir)
		if err != nil {
			n.stop()
			return err
		}
		if report.Versions["postgresql"] == "" {
			report.Versions["postgresql"] = serverVersion(ctx, dbURL) + " (embedded)"
		}
		c := cfg
		c.API, c.DatabaseURL, c.HostPID = n.api, dbURL, n.cmd.Process.Pid
		run(c, "chain", "claim")
		if err := n.stop(); err != nil {
			return err
		}
	}
	return nil
}

func startBenchNode(ctx context.Context, bin, work, name string, extra ...string) (*benchNode, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logFile, err := os.OpenFile(filepath.Join(work, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	n := &benchNode{dataDir: filepath.Join(work, "data-"+name), exited: make(chan struct{}),
		api: benchClient("http://" + addr + "/tasker")}
	n.cmd = exec.Command(bin, append([]string{"serve", "--data-dir", n.dataDir, "--listen", addr,
		"--plugins-dir", filepath.Join(work, "plugins"), "--templates-dir", filepath.Join(work, "templates"),
		"--log-format", "json"}, extra...)...)
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	if err := n.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() { _ = n.cmd.Wait(); logFile.Close(); close(n.exited) }()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-n.exited:
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := n.api.WaitReady(wctx); err != nil {
		select {
		case <-n.exited:
			// Its log goes with the work directory (unless --keep): say what it said.
			return nil, fmt.Errorf("tasker serve exited before it was ready (%s); its log:\n%s",
				n.cmd.ProcessState, logEnds(logFile.Name(), 4))
		default:
		}
		n.stop()
		return nil, fmt.Errorf("tasker did not become ready (log: %s): %w", logFile.Name(), err)
	}
	return n, nil
}

// logEnds is the first and last n lines of a file (a flag error comes
// first, before the usage), or why it could not be read.
func logEnds(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) <= 2*n {
		return strings.Join(lines, "\n")
	}
	return strings.Join(lines[:n], "\n") + "\n...\n" + strings.Join(lines[len(lines)-n:], "\n")
}

// stop sends SIGTERM and waits for the exit.
func (n *benchNode) stop() error {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		return nil
	case <-time.After(60 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		return errors.New("tasker did not stop within 60 s of SIGTERM; killed")
	}
}

// benchClient allows the long requests of the scale scenario (creating a task of 10,000 steps).
func benchClient(base string) *client.Client {
	c := client.New(base)
	c.HTTP.Timeout = 10 * time.Minute
	return c
}

// renderBench writes the Markdown of a JSON report written earlier.
func renderBench(jsonFile, mdOut string, stdout, stderr io.Writer) int {
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		fmt.Fprintf(stderr, "tasker bench: %v\n", err)
		return exitFailed
	}
	var report bench.Report
	if err := json.Unmarshal(data, &report); err != nil {
		fmt.Fprintf(stderr, "tasker bench: %s: %v\n", jsonFile, err)
		return exitFailed
	}
	if mdOut == "" {
		fmt.Fprint(stdout, report.Markdown())
		return exitOK
	}
	if err := os.WriteFile(mdOut, []byte(report.Markdown()), 0o644); err != nil {
		fmt.Fprintf(stderr, "tasker bench: %v\n", err)
		return exitFailed
	}
	return exitOK
}

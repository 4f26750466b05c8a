package main

// The client commands (tasker task|step|handlers) talk to a running tasker
// over its REST API: tables for people, --json for scripts, and exit codes
// a script can rely on (exitOK ... exitTaskFailed, in the usage text below).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tasker-systems/tasker/web/client"
)

// Exit codes of the client commands.
const (
	exitOK          = 0
	exitFailed      = 1 // the request failed for another reason: 5xx, an unexpected answer
	exitUsage       = 2 // bad flags or arguments, invalid JSON given to a flag
	exitNotFound    = 3 // 404
	exitDenied      = 4 // 401, 403
	exitRefused     = 5 // 400, 409, 413, 422: the server's rules refused the request
	exitUnreachable = 6 // no answer: connection refused, DNS, timeout
	exitTaskFailed  = 7 // --wait ended with the task in error or cancelled
)

const defaultServer = "http://127.0.0.1:8080/tasker"

const clientFlagsHelp = `Flags of every command (before or after the arguments):
  --server URL   tasker's API, prefix included (default $TASKER_SERVER, else ` + defaultServer + `)
  --token T      sent as "Authorization: Bearer T": a JWT or an API key tsk_... (default $TASKER_TOKEN)
  --json         print the API's JSON document, indented, instead of tables
  --timeout D    how long one request may take (default 30s)
`

const exitCodesHelp = `Exit status:
  0 success                                     4 authentication or permission refused (401, 403)
  1 failed otherwise (5xx, unexpected answer)   5 refused by the server's rules (400, 409, 413, 422)
  2 usage error (flags, arguments, JSON)        6 cannot reach the server (refused, DNS, timeout)
  3 not found (404)                             7 --wait or watch: the task ended in error or cancelled
`

// cliStdin is what "-" reads (--context -, --results -); tests replace it.
var cliStdin io.Reader = os.Stdin

// apiFlags are the flags every client command takes.
type apiFlags struct {
	server  string
	token   string
	json    bool
	timeout time.Duration
}

func addAPIFlags(fs *flag.FlagSet) *apiFlags {
	f := &apiFlags{}
	fs.StringVar(&f.server, "server", "", "tasker's API URL, prefix included (default $TASKER_SERVER, else "+defaultServer+")")
	fs.StringVar(&f.token, "token", "", "bearer token: a JWT or an API key tsk_... (default $TASKER_TOKEN)")
	fs.BoolVar(&f.json, "json", false, "print the API's JSON document instead of a table")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long one request may take")
	return f
}

// serverURL is --server, else $TASKER_SERVER, else the default, checked;
// "host:port/prefix" without a scheme means http.
func serverURL(given string) (string, error) {
	s := strings.TrimSpace(given)
	if s == "" {
		s = strings.TrimSpace(os.Getenv("TASKER_SERVER"))
	}
	if s == "" {
		s = defaultServer
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server %q: want an http(s) URL with the API prefix, such as %s", given, defaultServer)
	}
	return strings.TrimRight(s, "/"), nil
}

// apiCmd is one run of a client command.
type apiCmd struct {
	ctx            context.Context
	stop           context.CancelFunc
	name           string // "task show", for usage errors
	api            *client.Client
	json           bool
	stdout, stderr io.Writer
}

// clientCommand parses a client command's arguments (flags anywhere) and
// connects it. It returns the positional arguments, or the exit code when
// parsing ended the command. The caller must call cmd.close. name is the
// command as typed after "tasker", such as "task show".
func clientCommand(name string, fs *flag.FlagSet, f *apiFlags, args []string, stdout, stderr io.Writer) (*apiCmd, []string, int) {
	pos, code := parseArgs(fs, args)
	if code >= 0 {
		return nil, nil, code
	}
	base, err := serverURL(f.server)
	if err != nil {
		return nil, nil, usageErr(stderr, name, "%v", err)
	}
	if f.timeout <= 0 {
		return nil, nil, usageErr(stderr, name, "--timeout must be positive")
	}
	api := client.New(base)
	api.HTTP.Timeout = f.timeout
	api.Token = f.token
	if api.Token == "" {
		api.Token = os.Getenv("TASKER_TOKEN")
	}
	api.PollInterval = 100 * time.Millisecond
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	return &apiCmd{ctx: ctx, stop: stop, name: name, api: api, json: f.json, stdout: stdout, stderr: stderr}, pos, -1
}

// close releases the command's signal handling.
func (c *apiCmd) close() { c.stop() }

// usageErr reports a usage error of command name on one line and returns exitUsage.
func usageErr(stderr io.Writer, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "tasker %s: %s (see 'tasker %s -h')\n", name, fmt.Sprintf(format, args...), name)
	return exitUsage
}

// wantArgs checks the number of positional arguments.
func (c *apiCmd) wantArgs(pos []string, min, max int, what string) bool {
	if len(pos) < min || len(pos) > max {
		usageErr(c.stderr, c.name, "want %s, got %d argument(s)", what, len(pos))
		return false
	}
	return true
}

// taskID reads a task id argument.
func (c *apiCmd) taskID(arg string) (int64, bool) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		usageErr(c.stderr, c.name, "task id %q is not a positive integer", arg)
		return 0, false
	}
	return id, true
}

// request sends one request and decodes its answer into out. With print
// and --json it prints the document instead, and returns exitOK: the
// command is done. It returns -1 when the command goes on with out, or the
// exit code of the failure, which it has reported.
func (c *apiCmd) request(what, method, path string, body, out any, print bool) (status, code int) {
	data, status, err := c.api.DoRaw(c.ctx, method, path, body)
	if err != nil {
		return status, c.fail(what, err)
	}
	if print && c.json {
		return status, c.printRaw(data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return status, c.fail(what, fmt.Errorf("unexpected answer (HTTP %d): %w", status, err))
		}
	}
	return status, -1
}

// printRaw prints a JSON document, indented but otherwise as it came.
func (c *apiCmd) printRaw(data []byte) int {
	var buf strings.Builder
	if err := indentJSON(&buf, data); err != nil {
		fmt.Fprintf(c.stderr, "tasker: unexpected answer: %v\n", err)
		return exitFailed
	}
	fmt.Fprint(c.stdout, buf.String())
	return exitOK
}

// fail reports err on one line, "tasker: <what>: <detail> (HTTP <status>)",
// and returns the exit code it means.
func (c *apiCmd) fail(what string, err error) int {
	fmt.Fprintf(c.stderr, "tasker: %s: %s\n", what, oneLine(describeErr(err, c.api.Token != ""), 400))
	return exitCodeOf(err)
}

func describeErr(err error, withToken bool) string {
	var apiErr *client.Error
	switch {
	case errors.As(err, &apiErr):
		msg := fmt.Sprintf("%s (HTTP %d)", apiErr.Detail, apiErr.Status)
		if apiErr.Status == http.StatusUnauthorized && !withToken {
			msg += "; give a token with --token or TASKER_TOKEN"
		}
		return msg
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return err.Error()
}

// exitCodeOf maps a failed request to the exit code a script relies on.
func exitCodeOf(err error) int {
	var apiErr *client.Error
	var connErr *client.ConnError
	switch {
	case errors.As(err, &apiErr):
		switch apiErr.Status {
		case http.StatusNotFound:
			return exitNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			return exitDenied
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			return exitRefused
		}
		return exitFailed
	case errors.As(err, &connErr):
		return exitUnreachable
	}
	return exitFailed
}

// runGroup dispatches a command group (task, step, handlers) to its
// subcommands; no subcommand or an unknown one prints the usage on stderr.
func runGroup(group, usage string, cmds map[string]func([]string, io.Writer, io.Writer) int, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tasker %s: unknown command %q\n\n%s", group, args[0], usage)
		return exitUsage
	}
	return cmd(args[1:], stdout, stderr)
}

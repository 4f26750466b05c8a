package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tasker-systems/tasker/core/auth"
)

// runAuth is `tasker auth ...`: for now, making API keys.
func runAuth(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "new-key" {
		fmt.Fprintln(stderr, "usage: tasker auth new-key --name NAME [--permission P]... [--role R]...")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	return runNewKey(args[1:], stdout, stderr)
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// runNewKey prints a fresh API key once, on stdout alone (so that
// `tasker auth new-key ... > key` captures just the key), and on stderr the
// entry for tasker.yaml, which holds only the key's SHA-256.
func runNewKey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("auth new-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "name of the key: who uses it (recorded as the actor of its operator actions)")
	var perms, roles listFlag
	fs.Var(&perms, "permission", "a permission the key grants (repeatable, or comma-separated): "+strings.Join(auth.Permissions(), ", ")+"; wildcards * and <resource>:*")
	fs.Var(&roles, "role", "a role, defined under auth.roles in tasker.yaml, whose permissions the key grants (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tasker auth new-key --name NAME [--permission P]... [--role R]...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *name == "" {
		problems = append(problems, "--name is required")
	}
	if len(perms) == 0 && len(roles) == 0 {
		problems = append(problems, "give the key at least one --permission or --role")
	}
	for _, p := range perms {
		if !auth.KnownPermission(p) {
			problems = append(problems, fmt.Sprintf("unknown permission %q (known: %s; wildcards * and <resource>:*)", p, strings.Join(auth.Permissions(), ", ")))
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "tasker auth new-key: %s\n", strings.Join(problems, "; "))
		return 2
	}
	key, sum, err := auth.NewAPIKey()
	if err != nil {
		fmt.Fprintf(stderr, "tasker auth new-key: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, key)

	var b strings.Builder
	b.WriteString("# The key above is shown once: tasker keeps only its SHA-256. Add this entry to\n")
	b.WriteString("# tasker.yaml (merge it into an existing auth.api_keys list) and restart tasker:\n")
	b.WriteString("auth:\n  api_keys:\n")
	fmt.Fprintf(&b, "    - name: %s\n      sha256: %s\n", yamlString(*name), sum)
	if len(perms) > 0 {
		fmt.Fprintf(&b, "      permissions: [%s]\n", yamlList(perms))
	}
	if len(roles) > 0 {
		fmt.Fprintf(&b, "      roles: [%s]\n", yamlList(roles))
	}
	b.WriteString("# Clients send it as: Authorization: Bearer <key>   or   X-API-Key: <key>\n")
	fmt.Fprint(stderr, b.String())
	return 0
}

// yamlString quotes a scalar for YAML (JSON strings are valid YAML).
func yamlString(s string) string { return fmt.Sprintf("%q", s) }

func yamlList(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = yamlString(s)
	}
	return strings.Join(out, ", ")
}

package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/web/client"
)

const handlersUsage = `Usage: tasker handlers <command> [arguments] [flags]

Commands:
  list                                  the namespaces and how many task templates each has
  show NAMESPACE                        the task templates of a namespace, with their versions
  show NAMESPACE NAME [--version V]     a template: its steps, dependency levels and execution order

` + clientFlagsHelp + "\nRun 'tasker handlers <command> -h' for the flags of a command.\n\n" + exitCodesHelp

func runHandlersCmd(args []string, stdout, stderr io.Writer) int {
	return runGroup("handlers", handlersUsage, map[string]func([]string, io.Writer, io.Writer) int{
		"list": handlersList, "show": handlersShow,
	}, args, stdout, stderr)
}

func handlersList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "handlers list [flags]", "Lists the namespaces that have task templates, and how many templates (by name) each has.")
	f := addAPIFlags(fs)
	c, pos, code := clientCommand("handlers list", fs, f, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer c.close()
	if !c.wantArgs(pos, 0, 0, "no arguments") {
		return exitUsage
	}
	var out struct {
		Namespaces []client.NamespaceSummary `json:"namespaces"`
	}
	if _, code := c.request("list handlers", http.MethodGet, client.NamespacesPath, nil, &out, true); code >= 0 {
		return code
	}
	if len(out.Namespaces) == 0 {
		fmt.Fprintln(stdout, "no task templates are registered")
		return exitOK
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "NAMESPACE\tTEMPLATES")
	for _, ns := range out.Namespaces {
		fmt.Fprintf(tw, "%s\t%d\n", ns.Name, ns.HandlerCount)
	}
	tw.Flush()
	return exitOK
}

func handlersShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr, "handlers show NAMESPACE [NAME] [flags]", "Without NAME: the task templates of NAMESPACE and their versions. With NAME: that template\n"+
		"(the highest version, or --version), its steps, dependency levels and execution order.")
	f := addAPIFlags(fs)
	version := fs.String("version", "", "with NAME: this version of the template (default the highest)")
	c, pos, code := clientCommand("handlers show", fs, f, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	defer c.close()
	if !c.wantArgs(pos, 1, 2, "a namespace and optionally a template name") {
		return exitUsage
	}
	if len(pos) == 1 {
		if *version != "" {
			return usageErr(stderr, c.name, "--version needs a template NAME")
		}
		return c.showNamespace(pos[0])
	}
	return c.showTemplate(pos[0], pos[1], *version)
}

func (c *apiCmd) showNamespace(ns string) int {
	var out struct {
		Handlers []client.TemplateSummary `json:"handlers"`
	}
	if _, code := c.request("show namespace "+ns, http.MethodGet, client.NamespacePath(ns), nil, &out, true); code >= 0 {
		return code
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "TEMPLATE\tVERSIONS\tDESCRIPTION")
	for _, t := range out.Handlers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, strings.Join(t.Versions, ", "), oneLine(dash(t.Description), 70))
	}
	tw.Flush()
	return exitOK
}

func (c *apiCmd) showTemplate(ns, name, version string) int {
	var t client.TemplateDetail
	what := "show template " + ns + "/" + name
	if version != "" {
		what += "@" + version
	}
	if _, code := c.request(what, http.MethodGet, client.TemplatePath(ns, name, version), nil, &t, true); code >= 0 {
		return code
	}
	g := t.DependencyGraph
	fmt.Fprintf(c.stdout, "template  %s/%s@%s\n", t.Namespace, t.ID, t.Version)
	if t.Description != "" {
		fmt.Fprintf(c.stdout, "          %s\n", oneLine(t.Description, 100))
	}
	fmt.Fprintln(c.stdout)
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "STEP\tHANDLER\tDEPENDS ON\tLEVEL\tRETRY LIMIT")
	for _, s := range t.StepTemplates {
		handler := s.Handler
		if s.HandlerVersion != "" {
			handler += " (" + s.HandlerVersion + ")"
		}
		limit := strconv.Itoa(core.DefaultRetryLimit) + " (default)"
		if s.RetryLimit != nil {
			limit = strconv.Itoa(*s.RetryLimit)
		}
		if s.Retryable != nil && !*s.Retryable {
			limit = "1 (not retryable)"
		}
		name := s.Name
		if s.Skippable {
			name += " (skippable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", name, handler, dash(strings.Join(s.Dependencies(), ", ")), g.Levels[s.Name], limit)
	}
	tw.Flush()

	byLevel := map[int][]string{}
	for _, n := range g.Nodes { // in template order
		byLevel[g.Levels[n]] = append(byLevel[g.Levels[n]], n)
	}
	levels := make([]int, 0, len(byLevel))
	for l := range byLevel {
		levels = append(levels, l)
	}
	sort.Ints(levels)
	fmt.Fprintln(c.stdout, "\nlevels (the steps of one level can run at the same time):")
	for _, l := range levels {
		fmt.Fprintf(c.stdout, "  %d  %s\n", l, strings.Join(byLevel[l], ", "))
	}
	fmt.Fprintf(c.stdout, "execution order: %s\n", strings.Join(g.ExecutionOrder, " -> "))
	return exitOK
}

// Command bench is the handler plugin of `tasker bench` and `make bench`: one
// no-op handler, noop, that returns {} at once, so that a benchmark measures
// tasker (API, engine, SQL, plugin calls) and not handler work. Its templates
// (namespace bench) are generated at start, because the large ones would be
// hundreds of kilobytes of YAML:
//
//	bench/diamond     4 steps: start -> (left, right) -> join
//	bench/linear3     3 steps in a chain
//	bench/chain400    400 steps in a chain
//	bench/wide10k     10,000 steps: root -> 9,999 leaves
//	bench/fanout1000  1,002 steps: start -> 1,000 -> join
//
// Build it into the host's plugins directory:
//
//	go build -o bin/plugins/tasker-handler-bench_v1.0.0 ./examples/bench
package main

import (
	"context"
	"fmt"
	"strings"
	"testing/fstest"

	"github.com/tasker-systems/tasker/pluginsdk"
)

func main() {
	pluginsdk.Serve(pluginsdk.Plugin{
		Name:      "bench",
		Version:   "1.0.0",
		Handlers:  map[string]pluginsdk.Handler{"noop": noop},
		Templates: templates(),
	})
}

// noop does nothing and succeeds.
func noop(context.Context, pluginsdk.Request) (any, error) { return struct{}{}, nil }

// templates are the bench templates as YAML files.
func templates() fstest.MapFS {
	files := fstest.MapFS{}
	add := func(name, description string, steps []step) {
		files[name+".yaml"] = &fstest.MapFile{Data: []byte(render(name, description, steps)), Mode: 0o444}
	}
	add("diamond", "4 steps: start -> (left, right) -> join", []step{
		{"start", nil}, {"left", []string{"start"}}, {"right", []string{"start"}}, {"join", []string{"left", "right"}}})
	add("linear3", "3 steps in a chain", chain(3))
	add("chain400", "400 steps in a chain", chain(400))
	add("wide10k", "10,000 steps: root -> 9,999 leaves", fan(9_999, false))
	add("fanout1000", "1,002 steps: start -> 1,000 -> join", fan(1_000, true))
	return files
}

// step is one step template: its name and its parents.
type step struct {
	name string
	deps []string
}

func stepName(i int) string { return fmt.Sprintf("s%05d", i) }

// chain is n steps, each depending on the one before.
func chain(n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i].name = stepName(i + 1)
		if i > 0 {
			out[i].deps = []string{out[i-1].name}
		}
	}
	return out
}

// fan is start -> n steps, and -> join when join is set.
func fan(n int, join bool) []step {
	out := []step{{name: "start"}}
	var middle []string
	for i := 1; i <= n; i++ {
		out = append(out, step{stepName(i), []string{"start"}})
		middle = append(middle, stepName(i))
	}
	if join {
		out = append(out, step{"join", middle})
	}
	return out
}

func render(name, description string, steps []step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnamespace_name: bench\nversion: 1.0.0\ndescription: %q\nstep_templates:\n", name, description)
	for _, s := range steps {
		fmt.Fprintf(&b, "  - name: %s\n    handler: noop\n", s.name)
		if len(s.deps) > 0 {
			fmt.Fprintf(&b, "    depends_on_steps: [%s]\n", strings.Join(s.deps, ", "))
		}
	}
	return b.String()
}

package core

// Edge is a dependency: From must finish before To runs.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Graph is a template's dependency graph as the handlers API shows it.
type Graph struct {
	Nodes []string `json:"nodes"`
	Edges []Edge   `json:"edges"`
	// ExecutionOrder is one order in which the steps can run one at a time.
	ExecutionOrder []string `json:"execution_order"`
	// Levels maps each step to its depth: 0 for steps without dependencies,
	// else one more than its deepest parent. Steps of one level can run in parallel.
	Levels map[string]int `json:"levels"`
}

// Graph computes the dependency graph of a validated (acyclic) template.
// Ties keep the template's order, so the result is deterministic.
func (t *Template) Graph() Graph {
	g := Graph{Nodes: []string{}, Edges: []Edge{}, ExecutionOrder: []string{}, Levels: map[string]int{}}
	pending := map[string]int{}
	children := map[string][]string{}
	for _, s := range t.Steps {
		g.Nodes = append(g.Nodes, s.Name)
		deps := s.Dependencies()
		pending[s.Name] = len(deps)
		for _, d := range deps {
			g.Edges = append(g.Edges, Edge{From: d, To: s.Name})
			children[d] = append(children[d], s.Name)
		}
	}
	// Kahn's algorithm, always taking the earliest ready step in template order.
	done := map[string]bool{}
	for len(g.ExecutionOrder) < len(t.Steps) {
		progressed := false
		for _, s := range t.Steps {
			if done[s.Name] || pending[s.Name] > 0 {
				continue
			}
			done[s.Name] = true
			progressed = true
			if _, ok := g.Levels[s.Name]; !ok {
				g.Levels[s.Name] = 0 // a root: no parent raised it
			}
			g.ExecutionOrder = append(g.ExecutionOrder, s.Name)
			for _, c := range children[s.Name] {
				pending[c]--
				g.Levels[c] = max(g.Levels[c], g.Levels[s.Name]+1)
			}
			break
		}
		if !progressed {
			break // a cycle; Validate refuses those before anyone asks for a graph
		}
	}
	return g
}

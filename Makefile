# tasker's build. Everything a fresh machine needs is fetched here: the
# PostgreSQL bundle (npm registry) and the Go tools (Go module proxy).

GO          ?= go
GOOS        := $(shell $(GO) env GOOS)
GOARCH      := $(shell $(GO) env GOARCH)
BIN         := bin
TOOLS       := $(CURDIR)/$(BIN)/tools
BUNDLE      := embeddb/bundle/$(GOOS)-$(GOARCH)/postgres-$(GOOS)-$(GOARCH).txz
# Platforms a release ships, each binary embedding its own PostgreSQL bundle.
PLATFORMS   := linux-amd64 linux-arm64 darwin-amd64 darwin-arm64
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --verify --quiet HEAD 2>/dev/null || echo unknown)
DATE        ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GORELEASER  := github.com/goreleaser/goreleaser/v2@v2.15.1

# Example plugins: <directory under examples/>:<plugin name>:<version>.
EXAMPLE_PLUGINS := orders:orders:1.0.0 patterns:patterns:1.0.0 apiintegration:apiintegration:1.0.0 bench:bench:1.0.0

.PHONY: all build bundle bundles tasker plugins test lint bench bench-go demo proto release-check release-snapshot goreleaser clean

all: build

## build: the tasker binary (PostgreSQL embedded) and the example plugins
build: tasker plugins

## bundle: fetch, verify and repack the PostgreSQL binaries that tasker embeds (this platform's)
bundle:
	@embeddb/mkbundle.sh embeddb/bundle

## bundles: the PostgreSQL bundles of every release platform (embeddb/bundle/<os>-<arch>/)
bundles:
	@embeddb/mkbundle.sh embeddb/bundle $(PLATFORMS)

tasker: bundle
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tasker .

plugins:
	@mkdir -p $(BIN)/plugins
	@set -e; for p in $(EXAMPLE_PLUGINS); do \
		dir=$${p%%:*}; rest=$${p#*:}; name=$${rest%%:*}; ver=$${rest#*:}; \
		echo "building plugin $(BIN)/plugins/tasker-handler-$${name}_v$${ver}"; \
		$(GO) build -trimpath -o $(BIN)/plugins/tasker-handler-$${name}_v$${ver} ./examples/$${dir}; \
	done

## test: vet, staticcheck and every test, on real PostgreSQL and real plugin processes
## (goreleaser too: a test builds a linux/amd64 release snapshot and checks its packages)
test: build lint goreleaser
	$(GO) test -count=1 -timeout 30m ./...

lint: $(TOOLS)/staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install $(STATICCHECK)

## bench: start a real tasker (embedded PostgreSQL, the no-op plugin examples/bench) and run every
## scenario of `tasker bench` against it; writes docs/BENCHMARKS.md and docs/benchmarks.json.
## BENCH_FLAGS adds flags, e.g. BENCH_FLAGS='--runs 1 --burn-tasks 1000' for a short run.
BENCH_FLAGS ?=
bench: build
	$(BIN)/tasker bench --launch --plugins-dir $(BIN)/plugins --runs 3 \
		--markdown docs/BENCHMARKS.md --json docs/benchmarks.json $(BENCH_FLAGS)

## bench-go: Go benchmarks against the embedded PostgreSQL (figures to compare as ratios)
bench-go: bundle
	$(GO) test -run '^$$' -bench Claim -benchtime 3000x -count 5 ./core/store/
	$(GO) test -run '^$$' -bench Drain -benchtime 3x -count 5 ./core/store/
	$(GO) test -run '^$$' -bench StepCycle -benchtime 1500x -count 5 ./core/store/
	$(GO) test -run '^$$' -bench BatchCycle -benchtime 2x -count 5 ./core/store/
	$(GO) test -run '^$$' -bench CreateBatch -benchtime 100x -count 5 ./core/store/

## demo: build, start tasker with the example plugins and run example workflows
demo: build
	$(GO) run ./examples/demo --tasker $(BIN)/tasker --plugins-dir $(BIN)/plugins --templates-dir examples/templates

## release-check: validate .goreleaser.yaml
release-check: goreleaser
	$(TOOLS)/goreleaser check

## release-snapshot: build every release artefact locally into dist/ (archives, deb, rpm, checksums), publishing nothing
release-snapshot: bundles goreleaser
	$(TOOLS)/goreleaser release --snapshot --clean

# goreleaser compiles from the Go module proxy (a few minutes, once); the stamp
# file records the version installed so a changed pin reinstalls it.
goreleaser:
	@if [ ! -x $(TOOLS)/goreleaser ] || [ "$$(cat $(TOOLS)/.goreleaser.version 2>/dev/null)" != "$(GORELEASER)" ]; then \
		echo "installing $(GORELEASER) into $(TOOLS) (compiling it takes a few minutes)"; \
		GOBIN=$(TOOLS) $(GO) install $(GORELEASER) && echo "$(GORELEASER)" >$(TOOLS)/.goreleaser.version; \
	fi

## proto: regenerate the plugin protocol's Go code (tools installed into bin/tools)
proto:
	pluginsdk/proto/gen.sh

clean:
	rm -rf $(BIN) dist embeddb/bundle/*/postgres-* embeddb/bundle/postgres-*

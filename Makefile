# tasker's build. Everything a fresh machine needs is fetched here: the
# PostgreSQL bundle (npm registry) and the Go tools (Go module proxy).

GO          ?= go
GOOS        := $(shell $(GO) env GOOS)
GOARCH      := $(shell $(GO) env GOARCH)
BIN         := bin
TOOLS       := $(CURDIR)/$(BIN)/tools
BUNDLE      := embeddb/bundle/postgres-$(GOOS)-$(GOARCH).txz
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --verify --quiet HEAD 2>/dev/null || echo unknown)
DATE        ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Example plugins: <directory under examples/>:<plugin name>:<version>.
EXAMPLE_PLUGINS := orders:orders:1.0.0 patterns:patterns:1.0.0 apiintegration:apiintegration:1.0.0

.PHONY: all build bundle tasker plugins test lint bench demo proto clean

all: build

## build: the tasker binary (PostgreSQL embedded) and the example plugins
build: tasker plugins

## bundle: fetch, verify and repack the PostgreSQL binaries that tasker embeds
bundle:
	@embeddb/mkbundle.sh embeddb/bundle

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
test: build lint
	$(GO) test -count=1 -timeout 30m ./...

lint: $(TOOLS)/staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install $(STATICCHECK)

## bench: Go benchmarks against the embedded PostgreSQL (figures to compare as ratios)
bench: bundle
	$(GO) test -run '^$$' -bench . -benchtime 3000x -count 5 ./core/store/

## demo: build, start tasker with the example plugins and run example workflows
demo: build
	$(GO) run ./examples/demo --tasker $(BIN)/tasker --plugins-dir $(BIN)/plugins --templates-dir examples/templates

## proto: regenerate the plugin protocol's Go code (tools installed into bin/tools)
proto:
	pluginsdk/proto/gen.sh

clean:
	rm -rf $(BIN) embeddb/bundle/postgres-*

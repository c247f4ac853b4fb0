# ssmssh: SSH, scp and sftp over AWS Systems Manager Session Manager.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/ssmssh/ssmssh/internal/version.Version=$(VERSION)
BIN       := bin
FUZZTIME  ?= 10s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: help build test lint fuzz bench demo clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build every command into ./bin
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

test: ## run all tests with the race detector, every benchmark once, then every fuzz target briefly
	$(GO) test -race -timeout 30m ./...
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 10m ./... >/dev/null || \
		$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 10m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=3s

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...

fuzz: ## run each fuzz target for FUZZTIME (default 10s)
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			for try in 1 2; do \
				if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >fuzz.log 2>&1; then break; fi; \
				if [ $$try = 1 ] && grep -q 'context deadline exceeded' fuzz.log && ! grep -q 'Failing input written' fuzz.log; then \
					echo "  the fuzz coordinator's deadline race (go.dev/issue/75804), no failing input: again"; continue; fi; \
				cat fuzz.log; rm -f fuzz.log; exit 1; \
			done; \
		done; \
	done; rm -f fuzz.log

bench: ## run the benchmarks (paced like the real agent, then unpaced) and print their table
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./... | tee bench.txt
	@echo; $(GO) run ./internal/benchtable < bench.txt

demo: build ## run the walk-through against the offline emulator
	$(BIN)/ssmlocal demo

clean: ## remove build output
	rm -rf $(BIN) bench.txt fuzz.log

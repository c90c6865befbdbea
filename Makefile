# invoicegw development tasks. `make` or `make help` lists them.
#
# The local services (PostgreSQL, Redis, MinIO) and the Debian tools the tests
# call are managed by deployments/local/services.sh; see deployments/README.md.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO ?= go
LOCAL := deployments/local
# The test environment (INVOICEGW_TEST_*), exported in the recipe's shell.
TEST_ENV = eval "$$($(LOCAL)/services.sh env)"
# The Go files gofmt looks at (testdata/ may hold deliberately odd ones).
GOFILES = find . -name '*.go' -not -path './.git/*' -not -path './bin/*' -not -path './tmp/*' -not -path '*/testdata/*' -print0

# How long `make fuzz` runs each Fuzz target.
FUZZTIME ?= 30s
# Pinned for repeatable lint results (it is what @latest resolved to when
# pinned); bump it by hand.
STATICCHECK_VERSION ?= v0.8.2

.PHONY: help build run test test-short lint fmt bench bench-pixel bench-proof fuzz services-up services-down services-status clean

help: ## List the targets
	@echo 'Usage: make TARGET'
	@echo
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN { FS = ":.*## " } { printf "  %-16s %s\n", $$1, $$2 }'

build: ## Build bin/invoicegw
	$(GO) build -o bin/invoicegw ./cmd/invoicegw

run: ## Start services and a dev SMTP catcher, create a demo tenant, serve on 127.0.0.1:8080
	@$(LOCAL)/run.sh

test: ## Start services, install tools, run every test (integration included) and a fuzz smoke
	@$(LOCAL)/services.sh up
	@$(LOCAL)/services.sh tools
	@echo 'go test:  all packages (-count=1 -timeout 20m)'
	@$(TEST_ENV); $(GO) test -count=1 -timeout 20m ./...
	@$(TEST_ENV); $(LOCAL)/fuzz.sh 5s

test-short: ## Run the unit tests only (go test -short), no services needed
	$(GO) test -short ./...

lint: bin/staticcheck ## Check formatting, go vet and staticcheck
	@unformatted=$$($(GOFILES) | xargs -0r gofmt -l); \
	if [[ -n $$unformatted ]]; then echo "gofmt needed (make fmt):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	bin/staticcheck ./...

bin/staticcheck:
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

fmt: ## Format all Go files with gofmt
	@$(GOFILES) | xargs -0r gofmt -l -w

bench: ## Start services and run all benchmarks
	@$(LOCAL)/services.sh up
	@$(TEST_ENV); $(GO) test -run '^$$' -bench . -benchmem ./...
	@$(MAKE) bench-pixel

bench-proof: ## Seed 1M invoices / 10M events in schema bench_proof (once; ~10 min, ~6 GB) and benchmark GET /v1/invoices/{id}/proof
	@$(LOCAL)/services.sh up
	@$(TEST_ENV); INVOICEGW_BENCH_PROOF=1 $(GO) test -run '^$$' -bench BenchmarkProofLookup -benchtime 5000x -timeout 3h ./cmd/invoicegw/

fuzz: ## Run each Fuzz target for FUZZTIME (default 30s)
	@$(LOCAL)/services.sh up
	@$(TEST_ENV); $(LOCAL)/fuzz.sh $(FUZZTIME)

services-up: ## Start PostgreSQL, Redis and MinIO if they are not answering
	@$(LOCAL)/services.sh up

services-down: ## Stop what services-up and run started (MinIO, dev SMTP)
	@$(LOCAL)/services.sh down

services-status: ## Show which local services answer
	@$(LOCAL)/services.sh status

clean: services-down ## Stop local services, remove bin/invoicegw and tmp/ (keeps bin/minio, bin/staticcheck)
	rm -rf bin/invoicegw tmp

bench-pixel: ## Pixel load benchmark: wrk against the gateway and a bare net/http handler (needs wrk)
	@$(LOCAL)/services.sh up
	@$(TEST_ENV); INVOICEGW_PIXEL_BENCH=1 $(GO) test -count=1 -run '^TestPixelBenchmark$$' -v ./cmd/invoicegw/ | grep -v '^        {'

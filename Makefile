# pgherd — make demo runs the demo, make test runs every test.
GO        ?= go
PKGS      := ./...
STATICCHECK := $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: all build demo test test-short lint fmt bench deps clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/pgherd ./cmd/pgherd

demo: build
	bin/pgherd demo

# The test command the README and CI use: vet, lint, and every test with the
# race detector against a throwaway PostgreSQL the harness starts itself.
test:
	@scripts/deps.sh test
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	$(GO) test -race -timeout 15m $(PKGS)

test-short: deps
	$(GO) test -short $(PKGS)

lint:
	@scripts/deps.sh lint
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin

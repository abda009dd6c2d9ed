# One entry point for building and testing. `make test` is the command CI runs.
GO ?= go

.PHONY: all build test test-unit vet

all: build

build:
	$(GO) build -o bin/ ./cmd/...

vet:
	$(GO) vet ./...

# Fast unit tests: no external services.
test-unit:
	$(GO) test -count=1 ./...

test: vet test-unit

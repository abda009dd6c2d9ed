# One entry point for building and testing. `make test` is the command CI runs.
GO ?= go

# Packages with integration tests: those holding files built only with the integration tag.
INTEGRATION_PKGS = $(shell grep -rl --include='*.go' '^//go:build integration' . | xargs -n1 dirname | sort -u)

.PHONY: all build test test-unit test-integration testenv-up testenv-down vet bench crash fault

all: build

build:
	$(GO) build -o bin/ ./cmd/...

# Vet with the integration build tag so the integration tests are vetted too.
vet:
	$(GO) vet -tags integration ./...

# Fast unit tests: Go alone, no external services. The promtool checks of deploy/ skip without
# promtool unless PERSONIO_CDC_REQUIRE_TOOLS=1 (set by `make test`, where they fail instead).
test-unit:
	$(GO) test -count=1 ./...

# Everything: vet, unit tests, then real Kafka + Apicurio Registry + the Python verifier
# (scripts/testenv up), every TestIntegration* test, and scripts/testenv down, also on failure
# (an environment that was already up is used and left running).
test:
	@MAKE="$(MAKE)" ./scripts/test-all

# Integration tests only; needs `scripts/testenv up` first (see docs/TESTING.md). One package at
# a time: they share one broker, and some restart it.
test-integration:
	@test -f .testenv/env || { echo "integration environment missing: run scripts/testenv up" >&2; exit 1; }
	. ./.testenv/env && $(GO) test -tags integration -count=1 -p 1 -timeout 20m -run '^TestIntegration' $(INTEGRATION_PKGS)

# The crash suite at full length (50 SIGKILLed sync cycles) and the fault suite, against the
# running environment (docs/SAFETY.md); `make fault` runs the hostile suite too. `make test` runs
# them all, the crash suite shortened.
crash:
	@test -f .testenv/env || { echo "integration environment missing: run scripts/testenv up" >&2; exit 1; }
	. ./.testenv/env && PERSONIO_CDC_CRASH_CYCLES=$${PERSONIO_CDC_CRASH_CYCLES:-50} $(GO) test -tags integration -count=1 -timeout 30m -v -run '^TestIntegrationCrash' ./test/suite/

fault:
	@test -f .testenv/env || { echo "integration environment missing: run scripts/testenv up" >&2; exit 1; }
	. ./.testenv/env && $(GO) test -tags integration -count=1 -timeout 20m -v -run '^TestIntegration(Fault|Hostile)' ./test/suite/

testenv-up:
	./scripts/testenv up

testenv-down:
	./scripts/testenv down

# Performance figures (docs/BENCHMARKS.md): the API budget figures against the simulator and
# the pipeline figures against real Kafka + Apicurio (started with scripts/testenv up when not
# running, and left running). Several minutes; BENCH_SCALE=small takes under one.
bench:
	@test -f .testenv/env && ./scripts/testenv status >/dev/null 2>&1 || ./scripts/testenv up
	. ./.testenv/env && BENCH_SCALE=$${BENCH_SCALE:-full} $(GO) run ./test/bench -command "make bench"

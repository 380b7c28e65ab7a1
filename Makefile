# msgflo-runtime. `make run` starts the runtime on the embedded broker;
# `make test` runs every test, including the FBP compliance suite and the
# fbp-spec suites against the built binary.

SHELL    := /bin/bash
GO       ?= go
BIN      := bin/msgflo-runtime
PORT     ?= 3569
# Where the pinned npm tools are installed (never into the repository).
export MSGFLO_CACHE_DIR ?= $(HOME)/.cache/msgflo-runtime

.PHONY: all build run test test-go test-fuzz test-compliance test-spec bench lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/msgflo-runtime

run: build
	./$(BIN) --port $(PORT)

# Broker tests skip (and are listed at the end) when RabbitMQ or Mosquitto
# is not running, unless MSGFLO_TEST_REQUIRE_BROKERS=1 (as .ci/run sets).
test: lint test-go test-fuzz test-compliance test-spec

# The interop tests run participants of the Node.js msgflo stack, which
# scripts/npm-interop.sh installs (pinned) into the cache; the tracing tests
# run noflo-runtime-msgflo, which scripts/npm-noflo.sh installs there.
test-go:
	@skiplog=$$(mktemp); nodedir=$$(./scripts/npm-interop.sh) || exit 1; \
	noflodir=$$(./scripts/npm-noflo.sh) || exit 1; \
	MSGFLO_NODE_DIR=$$nodedir MSGFLO_NOFLO_DIR=$$noflodir MSGFLO_TEST_SKIPLOG=$$skiplog $(GO) test -race -count=1 ./...; rc=$$?; \
	if [ -s $$skiplog ]; then echo "== broker tests skipped:"; sort $$skiplog; fi; \
	rm -f $$skiplog; exit $$rc

# Short, bounded fuzzing runs of the protocol handler and the FBP parser
# (their seeds also run in test-go); FUZZTIME=5m for longer ones.
FUZZTIME ?= 10s
test-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzParseFBP$$' -fuzztime $(FUZZTIME) ./graph

# The compliance suite and the fbp-spec suites run on the embedded broker,
# RabbitMQ and Mosquitto.
test-compliance: build
	./scripts/each-broker.sh ./scripts/compliance.sh $(BIN)

test-spec: build
	./scripts/each-broker.sh ./scripts/fbp-spec.sh $(BIN)

# Figures, never pass/fail: the binary as clients use it (embedded broker,
# RabbitMQ and Mosquitto when they run); the throughput of a 3-hop chain of
# the binary's core/Repeat nodes on RabbitMQ as a ratio to plain amqp091-go
# relays of the same guarantee (persistent and transient), and the
# participant SDK's own figure; then the in-process Go benchmarks.
bench: build
	$(GO) run ./cmd/msgflo-bench --runtime $(BIN)
	@if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then \
		$(GO) run ./cmd/msgflo-bench --runtime $(BIN) --broker amqp://guest:guest@127.0.0.1:5672/; \
	else echo "RabbitMQ not running: skipped its figures"; fi
	@if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then \
		$(GO) run ./cmd/msgflo-bench --runtime $(BIN) --broker mqtt://127.0.0.1:1883; \
	else echo "Mosquitto not running: skipped its figures"; fi
	@if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then \
		$(GO) run ./cmd/msgflo-bench --runtime $(BIN) --throughput amqp://guest:guest@127.0.0.1:5672/; \
	else echo "RabbitMQ not running: skipped the 3-hop throughput figures"; fi
	$(GO) test -run '^$$' -bench . -benchmem ./protocol

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

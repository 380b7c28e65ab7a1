# msgflo-runtime. `make run` starts the runtime on the embedded broker;
# `make test` runs every test, including the FBP compliance suite and the
# fbp-spec suites against the built binary.

GO       ?= go
BIN      := bin/msgflo-runtime
PORT     ?= 3569
# Where the pinned npm tools are installed (never into the repository).
export MSGFLO_CACHE_DIR ?= $(HOME)/.cache/msgflo-runtime

.PHONY: all build run test test-go test-compliance test-spec bench lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/msgflo-runtime

run: build
	./$(BIN) --port $(PORT)

# Broker tests skip (and are listed at the end) when RabbitMQ or Mosquitto
# is not running, unless MSGFLO_TEST_REQUIRE_BROKERS=1 (as .ci/run sets).
test: lint test-go test-compliance test-spec

test-go:
	@skiplog=$$(mktemp); \
	MSGFLO_TEST_SKIPLOG=$$skiplog $(GO) test -race -count=1 ./...; rc=$$?; \
	if [ -s $$skiplog ]; then echo "== broker tests skipped:"; sort $$skiplog; fi; \
	rm -f $$skiplog; exit $$rc

test-compliance: build
	./scripts/compliance.sh $(BIN)

test-spec: build
	./scripts/fbp-spec.sh $(BIN)

bench: build
	$(GO) run ./cmd/msgflo-bench --runtime $(BIN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

# msgflo-runtime. `make run` starts the runtime on the embedded broker;
# `make test` runs every test, including the FBP compliance suite and the
# fbp-spec suites against the built binary.

SHELL    := /bin/bash
GO       ?= go
BIN      := bin/msgflo-runtime
PORT     ?= 3569
# Where the pinned npm tools are installed (never into the repository).
export MSGFLO_CACHE_DIR ?= $(HOME)/.cache/msgflo-runtime

.PHONY: all build install run test test-short test-go test-fuzz test-compliance test-spec bench mutate lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/msgflo-runtime

# make install PREFIX=/usr/local: the binary, and links under msgflo's
# program names (a link behaves as the msgflo program it is named after).
PREFIX       ?= /usr/local
MSGFLO_NAMES := msgflo msgflo-setup msgflo-send-message msgflo-dump-message msgflo-procfile msgflo-register
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/msgflo-runtime
	for name in $(MSGFLO_NAMES); do ln -sfn msgflo-runtime $(DESTDIR)$(PREFIX)/bin/$$name; done

run: build
	./$(BIN) --port $(PORT)

# Broker tests skip (and are listed at the end) when RabbitMQ or Mosquitto
# is not running, unless MSGFLO_TEST_REQUIRE_BROKERS=1 (as .ci/run sets).
test: lint test-go test-fuzz test-compliance test-spec

# -timeout 30m: cmd/msgflo-runtime alone takes 7 minutes and more under
# -race on two cores (it starts a private RabbitMQ cluster), near go test's
# default limit of 10.
# The interop tests run participants of the Node.js msgflo stack, which
# scripts/npm-interop.sh installs (pinned) into the cache; the tracing tests
# run noflo-runtime-msgflo, which scripts/npm-noflo.sh installs there; the
# fbp-spec runner's differential tests run the npm fbp-spec CLI and
# noflo-nodejs (scripts/npm-fbp-spec.sh, scripts/npm-noflo-nodejs.sh).
test-go:
	@skiplog=$$(mktemp); nodedir=$$(./scripts/npm-interop.sh) || exit 1; \
	noflodir=$$(./scripts/npm-noflo.sh) || exit 1; \
	specdir=$$(./scripts/npm-fbp-spec.sh) || exit 1; nofloruntime=$$(./scripts/npm-noflo-nodejs.sh) || exit 1; \
	MSGFLO_NODE_DIR=$$nodedir MSGFLO_NOFLO_DIR=$$noflodir MSGFLO_FBP_SPEC_DIR=$$specdir MSGFLO_NOFLO_NODEJS_DIR=$$nofloruntime \
	MSGFLO_TEST_SKIPLOG=$$skiplog $(GO) test -race -count=1 -timeout 30m ./...; rc=$$?; \
	if [ -s $$skiplog ]; then echo "== broker tests skipped:"; sort $$skiplog; fi; \
	rm -f $$skiplog; exit $$rc

# The fast tier: every unit and in-memory test (the embedded broker
# included), without RabbitMQ, Mosquitto, the built binary, the private
# cluster, a browser or npm (internal/testenv); prints how long it took.
test-short:
	@start=$$(date +%s); $(GO) test -short -count=1 ./...; rc=$$?; \
	echo "== go test -short ./...: $$(( $$(date +%s) - start )) s"; exit $$rc

# Short, bounded fuzzing runs of the protocol handler, the FBP parser,
# roles and library command templates (their seeds also run in test-go);
# FUZZTIME=5m for longer ones.
FUZZTIME ?= 10s
test-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzParseFBP$$' -fuzztime $(FUZZTIME) ./graph
	$(GO) test -run '^$$' -fuzz '^FuzzEscapeRole$$' -fuzztime $(FUZZTIME) ./graph
	$(GO) test -run '^$$' -fuzz '^FuzzRenderKeepsWords$$' -fuzztime $(FUZZTIME) ./library

# The compliance suite and the fbp-spec suites run on the embedded broker,
# RabbitMQ and Mosquitto; the suites with msgflo-runtime test (the Go
# runner), then with the pinned npm fbp-spec CLI as a cross-check.
test-compliance: build
	./scripts/each-broker.sh ./scripts/compliance.sh $(BIN)

test-spec: build
	./scripts/each-broker.sh ./$(BIN) test spec/
	./scripts/each-broker.sh ./scripts/fbp-spec.sh $(BIN)

# Figures, never pass/fail: the binary as clients use it (embedded broker,
# RabbitMQ and Mosquitto when they run); graph edits as a graph grows to
# 100,000 nodes, and with auto-save; the throughput of a 3-hop chain of
# the binary's core/Repeat nodes on RabbitMQ as a ratio to plain amqp091-go
# relays of the same guarantee (persistent and transient), and the
# participant SDK's own figures; then the in-process Go benchmarks.
bench: build
	$(GO) run ./cmd/msgflo-bench --runtime $(BIN)
	$(GO) run ./cmd/msgflo-bench --runtime $(BIN) --edits 100000
	$(GO) run ./cmd/msgflo-bench --runtime $(BIN) --edits 5000 --edit-autosave
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
	./scripts/bench-fbp-spec.sh $(BIN)

# Mutation testing of the packages whose tests take seconds: figures, never
# pass/fail, and not part of make test (minutes per package on 2 cores).
# Gremlins (pinned) runs as a tool; it is not a dependency of the module.
# The efficacy is the share of mutants (one-line changes to the code) that
# some test catches (lived: no test noticed; timed out: not counted).
# MUTATE=graph limits it to some packages. Tests that need a broker use it
# when it runs; the Node tools are installed as for test-go (graph's
# differential tests against the npm fbp parser catch most of its mutants).
GREMLINS ?= github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTATE   ?= graph library network protocol participant runtime
# What is left out: network's transports (their tests need the brokers and
# take long), the participant SDK's main, and the runtime's parts whose
# tests drive a whole runtime (reconcile, processes, graphs, network).
MUTATE_EXCLUDE_network     := -E '^(amqp|mqtt|embedded|brokertest|dial)/'
MUTATE_EXCLUDE_participant := -E '^main\.go$$'
MUTATE_EXCLUDE_runtime     := -E '^(reconcile|processes|graphs|network|runtime)\.go$$'
mutate:
	@nodedir=$$(./scripts/npm-interop.sh) || exit 1; export MSGFLO_NODE_DIR=$$nodedir; \
	for p in $(MUTATE); do \
		case $$p in \
		network) ex="$(MUTATE_EXCLUDE_network)";; \
		participant) ex="$(MUTATE_EXCLUDE_participant)";; \
		runtime) ex="$(MUTATE_EXCLUDE_runtime)";; \
		*) ex="";; \
		esac; \
		echo "== $$p"; \
		eval $(GO) run $(GREMLINS) unleash --workers 1 --timeout-coefficient 10 $$ex ./$$p 2>&1 | \
			grep -E '^(Killed|Timed out|Test efficacy|Mutator coverage)' || true; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

# sagaboard developer tasks. Run `make help` for the list.

GO        ?= go
ARGS      ?=
# The data folder and the RabbitMQ vhost `make run` uses. The vhost is
# provisioned once, with one broker user per part (see README, Security).
DATA      ?= ./data
VHOST     ?= sagaboard
TESTFLAGS ?=
# Packages whose Fuzz* targets `make fuzz` runs, e.g. FUZZ_PKGS="./services/saga".
FUZZ_PKGS ?= ./services/saga ./web
FUZZTIME  ?= 20s
# `make cluster`: three RabbitMQ nodes of sagaboard's own on these AMQP ports
# (each node's Erlang distribution port is its AMQP port + 20000), with their
# data and logs in CLUSTER_DIR. The machine's broker on 5672 is not touched.
CLUSTER_DIR   ?= ./data/cluster
CLUSTER_PORTS ?= 5681,5682,5683

# The two dev tools, pinned. `go install pkg@version` builds each from the Go
# module proxy with its own go.mod, so neither adds a line to ours nor is
# built against our versions of x/tools and the rest; `go run pkg@version`
# would too, but it turns every failing exit status into 1 and prints
# "exit status N" after the tool's output, and `make test` must end on the
# summary line with go test's own status. They land in bin/, which git
# ignores.
TOOLBIN     := $(CURDIR)/bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOTESTSUM   := gotest.tools/gotestsum@v1.13.0

.PHONY: help run build test test-cluster test-postgres cluster cluster-kill cluster-boot cluster-down lint broker postgres chromium generate bench fuzz vendor-htmx asyncapi jaeger

help:
	@echo "make run          start the broker, provision vhost \$$(VHOST) once, then run the dashboard on \$$(DATA) with \$$(ARGS)"
	@echo "make build        build bin/sagaboard"
	@echo "make test         broker + chromium + lint, then go test with a closing line of counts (extra flags: TESTFLAGS=...)"
	@echo "make lint         templ generate -check, go vet and staticcheck"
	@echo "make cluster      start three RabbitMQ nodes joined in a cluster on 127.0.0.1:\$$(CLUSTER_PORTS), data in \$$(CLUSTER_DIR); prints the -amqp list"
	@echo "make cluster-kill NODE=N  SIGKILL node N (1-3) of that cluster; make cluster-boot NODE=N starts it again"
	@echo "make cluster-down stop the nodes make cluster started and remove \$$(CLUSTER_DIR)"
	@echo "make test-cluster the cluster tests (each starts a three-node cluster of its own): quorum queues and chaos on a cluster; not in make test"
	@echo "make test-postgres the saga on PostgreSQL end to end, the two-payment-process conflict test, and every participant's tests on PostgreSQL"
	@echo "make broker       make sure the local RabbitMQ is installed and running"
	@echo "make postgres     make sure the local PostgreSQL is installed, running and trusting user postgres on 127.0.0.1"
	@echo "make generate     go tool templ generate"
	@echo "make asyncapi     write static/asyncapi.yaml, the message contract, from the code's routing tables"
	@echo "make bench        go run ./cmd/sagabench \$$(ARGS)"
	@echo "make fuzz         fuzz every Fuzz* target in FUZZ_PKGS for FUZZTIME each"
	@echo "make vendor-htmx  re-fetch static/htmx* at the versions in static/VERSIONS"
	@echo "make jaeger       build Jaeger $(JAEGER_VERSION) once into bin/, then run it on loopback: OTLP on :4318, UI on http://127.0.0.1:16686"

# The first run provisions the vhost and writes $(DATA)/broker.json; later
# runs find it. Where provisioning cannot work (rabbitmqctl needs root or the
# rabbitmq user), the dashboard still starts, with one shared identity on /,
# and says so in its log, on the page and in /healthz.
run: broker
	@test -f $(DATA)/broker.json || $(GO) run ./cmd/sagaboard setup-broker -amqp amqp://guest:guest@localhost:5672/$(VHOST) -data $(DATA) \
		|| echo "make run: could not provision vhost $(VHOST); starting with one shared broker identity on /"
	$(GO) run ./cmd/sagaboard -data $(DATA) $(ARGS)

build:
	$(GO) build -o bin/sagaboard ./cmd/sagaboard

# gotestsum reads go test -json, prints a line per package and then names
# every failed and skipped test with its output (a skip's reason among it);
# .ci/test-summary.sh closes with "N passed, N failed, N skipped" and, outside
# CI, a loud word on skipped broker tests. --raw-command keeps $(GO) the go
# that runs the tests, and gotestsum exits with go test's status.
test: broker postgres chromium lint
	@GOBIN=$(TOOLBIN) $(GO) install $(GOTESTSUM)
	@json=$$(mktemp); trap 'rm -f "$$json"' EXIT; \
	$(TOOLBIN)/gotestsum --format pkgname --jsonfile "$$json" \
		--post-run-command "bash .ci/test-summary.sh" \
		--raw-command -- $(GO) test -json -count=1 -timeout 30m $(TESTFLAGS) ./...

# The cluster tests start RabbitMQ clusters of their own and take minutes, so
# `go test ./...` skips them unless SAGABOARD_CLUSTER_TESTS=1. -count=1 and
# -v: their figures (bookings, kills, time to recover) are in the log.
test-cluster: broker
	SAGABOARD_CLUSTER_TESTS=1 $(GO) test -count=1 -v -timeout 30m -run 'Cluster' $(TESTFLAGS) ./cmd/sagaboard

cluster: broker
	$(GO) run ./cmd/sagacluster up -dir $(CLUSTER_DIR) -ports $(CLUSTER_PORTS) -vhost $(VHOST)

# NODE=N: SIGKILL node N of `make cluster`, as a crash would; boot it again.
cluster-kill:
	$(GO) run ./cmd/sagacluster kill -dir $(CLUSTER_DIR) $(NODE)

cluster-boot:
	$(GO) run ./cmd/sagacluster boot -dir $(CLUSTER_DIR) $(NODE)

cluster-down:
	$(GO) run ./cmd/sagacluster down -dir $(CLUSTER_DIR)

# staticcheck runs every check, the style ones (ST*) included: the code
# already meets them, and they hold what STYLE.md asks for, a doc comment
# that starts with the name on every exported name, package comments, Go's
# initialisms, the error last. A finding that is right to keep is answered
# in place with //lint:ignore CHECK and its reason, not by turning the check
# off here.
lint:
	$(GO) tool templ generate -check
	$(GO) vet ./...
	@GOBIN=$(TOOLBIN) $(GO) install $(STATICCHECK)
	$(TOOLBIN)/staticcheck -checks all ./...

# The slower PostgreSQL tests, apart so `make test` stays as fast as it was:
# the whole program on PostgreSQL, two payment processes on one ledger under
# load and a SIGKILL, and every participant's own tests on PostgreSQL.
test-postgres: broker postgres
	SAGABOARD_POSTGRES_E2E=1 $(GO) test -count=1 -timeout 20m $(TESTFLAGS) -run 'Postgres|UnreachableStore' -v ./cmd/sagaboard
	SAGABOARD_TEST_STORE=postgres $(GO) test -count=1 -short $(TESTFLAGS) ./services/...

broker:
	bash .ci/ensure-rabbitmq.sh

postgres:
	bash .ci/ensure-postgres.sh

chromium:
	bash .ci/ensure-chromium.sh

generate:
	$(GO) tool templ generate

bench:
	$(GO) run ./cmd/sagabench $(ARGS)

# The contract is made from saga.Routes, Bindings, Consumes and the
# topology; a test fails when the committed file is not what they make.
asyncapi:
	$(GO) generate ./static
# Jaeger all-in-one, to look at the saga's traces: run it, then sagaboard
# with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 and
# -trace-url 'http://127.0.0.1:16686/trace/{trace_id}'. `go install
# pkg@version` refuses Jaeger's module (it has replace directives), so
# .ci/jaeger is a small module of its own that pins it with `go get -tool`
# (JAEGER_VERSION must match its go.mod). The first build takes minutes;
# the binary is kept in bin/. .ci/jaeger/config.yaml keeps every endpoint
# on loopback.
JAEGER_VERSION := v1.76.0
JAEGER         := $(TOOLBIN)/jaeger-$(JAEGER_VERSION)

$(JAEGER):
	cd .ci/jaeger && $(GO) build -o $(JAEGER) github.com/jaegertracing/jaeger/cmd/jaeger

jaeger: $(JAEGER)
	$(JAEGER) --config $(CURDIR)/.ci/jaeger/config.yaml

# go test -fuzz takes one target at a time, so run each Fuzz* function of
# each package in turn.
fuzz:
	@set -e; \
	if [ -z "$(strip $(FUZZ_PKGS))" ]; then echo "fuzz: FUZZ_PKGS is empty; nothing to fuzz"; exit 0; fi; \
	for pkg in $(FUZZ_PKGS); do \
		list=$$($(GO) test -list '^Fuzz' "$$pkg"); \
		targets=$$(printf '%s\n' "$$list" | grep '^Fuzz' || true); \
		if [ -z "$$targets" ]; then echo "fuzz: no Fuzz targets in $$pkg"; continue; fi; \
		for fn in $$targets; do \
			echo "fuzz: $$pkg $$fn ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=3s "$$pkg"; \
		done; \
	done

vendor-htmx:
	bash .ci/vendor-htmx.sh

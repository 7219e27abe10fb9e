# simnet build, test and tooling targets. Every target installs what it needs
# on a fresh Debian machine with Go (as root: apt-get; otherwise it says what
# is missing).

GO        ?= go
PKGS      ?= ./...
OUT       ?= simnet-out
FUZZTIME  ?= 20s
BENCHTIME ?= 2s
STATICCHECK_VERSION ?= v0.8.2
GOBIN     := $(shell $(GO) env GOPATH)/bin
MODULE     = $(shell $(GO) list -m)

# Debian packages the tests use: tshark decodes every capture we write; the
# live tap tests run ip, ping, tcpdump, curl, dig, ncat, dnsmasq and nft
# inside network namespaces they create.
TEST_APT_PKGS := tshark iproute2 iputils-ping tcpdump curl bind9-dnsutils ncat dnsmasq-base nftables
# udhcpc is the DHCP client of the host-role servers capture (tests/replay_servers_test.go).
TEST_APT_PKGS += udhcpc
# The reference DNS servers of the differential test (tests/dns_diff_test.go).
TEST_APT_PKGS += nsd bind9
# Headless Chromium renders report.html in the browser test (through chromedp).
TEST_APT_PKGS += chromium
# tcpreplay is the reference of the --to-tap benchmark.
TEST_APT_PKGS += tcpreplay
# hping3 floods taprun in the SYN flood test (tests/tap_flood_test.go).
TEST_APT_PKGS += hping3
# traceroute crosses the emulated router in the emulation test (tests/emu_test.go).
TEST_APT_PKGS += traceroute

.PHONY: all build install demo test test-flood test-short bench fuzz lint vet fmt tools-test clean

all: build

## build: both commands into bin/, stamped with the VCS revision (simnet version).
build:
	$(GO) build ./...
	$(GO) build -buildvcs=auto -o bin/simnet ./cmd/simnet
	$(GO) build -buildvcs=auto -o bin/taprun ./cmd/taprun

## install: both commands into $(GOBIN).
install:
	$(GO) install -buildvcs=auto ./cmd/simnet ./cmd/taprun

## demo: run the embedded default scenario and print where its captures are.
demo:
	$(GO) run ./cmd/simnet demo

## tools-test: install the Debian tools the tests run (non-interactive).
tools-test:
	@missing=""; \
	for p in $(TEST_APT_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	    apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq $$missing >/dev/null; \
	  else \
	    echo "not root: install$$missing yourself (sudo apt-get install -y$$missing)"; exit 1; \
	  fi; \
	fi

## test: the full test suite with the race detector.
# From a clean clone with an empty build cache most of the time is
# compiling (the race-instrumented standard library, gVisor, every test
# binary), so the recipe arranges that nothing is compiled twice and that
# compiling overlaps with waiting:
#  1. prebuild, while tools-test installs what is missing with apt:
#     `go vet -race ./tests` compiles the race build of every package the
#     tests/ package needs (nearly the whole module, gVisor included) and
#     vets it; the non-race simnet and taprun commands the tests run are
#     built beside it into the cache.
#  2. two lanes at once, so that the tests that wait on wall-clock peers
#     (taps, dnsmasq leases, hping3, chromium) overlap with the ones that
#     compute: the tests/ package under -race (the long one, TEST_PARALLEL
#     tests at a time); and the other packages under -race, then the full
#     20 MB gVisor interop matrices (tests/gvisorinterop) without the race
#     detector (under it they shrink to 1 MB). The matrices have a package
#     of their own so that this non-race build compiles gVisor and the
#     protocol packages only, not every dependency of tests/ once more.
# go vet runs inside go test (-vet=all: every analyzer `go vet` runs) on
# the race build, so vetting costs no compile of its own; a separate
# `go vet` would compile the whole module and its dependencies once more
# without -race. Two go commands running at once never build the same
# package: the lanes share only what step 1 left in the cache. Each lane's
# output is printed as it comes; the target fails if any step failed.
# Compile CPU from an empty GOCACHE (user+sys, session 5, loaded 2-core
# machine): the race build and link of every test binary ~340 s; before,
# `go vet ./...` ~196 s and the non-race tests/ rerun ~32 s more; now the
# non-race commands ~93 s and the non-race tests/gvisorinterop ~65 s.
TEST_PARALLEL ?= 4
TEST_FLAGS    ?= -race -vet=all -count=1 -timeout 25m
test:
	@pkgs=$$($(GO) list $(PKGS)) || exit 1; \
	tests=$$(echo "$$pkgs" | grep -x '$(MODULE)/tests'); \
	others=$$(echo "$$pkgs" | grep -vx '$(MODULE)/tests'); \
	matrix=$$(echo "$$pkgs" | grep -x '$(MODULE)/tests/gvisorinterop'); \
	start=$$(date +%s); \
	stamp() { echo "== [$$(( $$(date +%s) - start ))s] $$*"; }; \
	stamp "prebuild: tools-test, go vet -race $$(echo $${tests:-$$others}), go build ./cmd/simnet ./cmd/taprun"; \
	$(MAKE) --no-print-directory tools-test & apt=$$!; \
	$(GO) build ./cmd/simnet ./cmd/taprun & build=$$!; \
	$(GO) vet -race $${tests:-$$others} & vet=$$!; \
	rc=0; wait $$vet || rc=1; wait $$build || rc=1; \
	wait $$apt || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (prebuild, see above)"; exit 1; fi; \
	stamp "prebuild done"; pids=""; \
	if [ -n "$$tests" ]; then \
	  stamp "go test $(TEST_FLAGS) -parallel $(TEST_PARALLEL) $$tests"; \
	  ( $(GO) test $(TEST_FLAGS) -parallel $(TEST_PARALLEL) $$tests; r=$$?; stamp "tests/ done"; exit $$r ) & pids="$$pids $$!"; \
	fi; \
	( set -e; \
	  if [ -n "$$others" ]; then stamp "go test $(TEST_FLAGS) -parallel 4 (other packages)"; $(GO) test $(TEST_FLAGS) -parallel 4 $$others; fi; \
	  if [ -n "$$matrix" ]; then stamp "go test (no -race) 20 MB gVisor interop matrices"; \
	    $(GO) test -count=1 -timeout 10m $$matrix; fi; \
	  stamp "other packages and gVisor matrices done" ) & pids="$$pids $$!"; \
	for p in $$pids; do wait $$p || rc=1; done; \
	stamp "make test finished"; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see above)"; fi; exit $$rc

## test-flood: only the SYN flood test of taprun (hping3; also in make test).
test-flood: tools-test
	$(GO) test -race -count=1 -run '^TestTapSYNFlood$$$$' ./tests/

## test-short: quick run without the race detector.
test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: benchmarks (simulator, TCP vs gVisor, DNS, checksum ...).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each, with coverage
## instrumentation kept to this module's packages (internal/cmd/fuzzinstr;
## several times the executions per second). The long campaign with its
## ledger is scripts/fuzz-campaign (docs/fuzzing.md).
fuzz:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) build -o $$tmp/fuzzinstr ./internal/cmd/fuzzinstr; \
	for pkg in $$($(GO) list $(PKGS)); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -toolexec $$tmp/fuzzinstr -vet=off -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) \
	      -fuzzminimizetime 1s $$pkg; \
	  done; \
	done

$(GOBIN)/staticcheck:
	GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## lint: gofmt, go mod tidy (go.mod and go.sum unchanged: direct
## dependencies not marked indirect), go vet and staticcheck.
lint: $(GOBIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) vet $(PKGS)
	$(GOBIN)/staticcheck $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin $(OUT)

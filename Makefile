# ars: build, test, benchmark and package.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 10s

.PHONY: all build run test test-deps lint unit fuzz bench bench-quick deb clean test-systemd

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildmode=pie -ldflags '$(LDFLAGS)' -o bin/ars ./cmd/ars
	CGO_ENABLED=0 $(GO) build -trimpath -buildmode=pie -ldflags '$(LDFLAGS)' -o bin/transcoder ./cmd/transcoder
	# The compositor links GStreamer (cgo); it runs in its own process.
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=pie -ldflags '$(LDFLAGS)' -o bin/ars-mixer ./cmd/ars-mixer

# run: the daemon on embedded defaults (recordings under ./recordings).
run: build
	./bin/ars serve

test-deps:
	./scripts/install-test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v shellcheck >/dev/null; then shellcheck deploy.sh .ci/run scripts/*.sh packaging/debian/*.sh packaging/ars-socket-unit \
		packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm packaging/cron/agora_hourly; fi

# unit: package tests first, then the end-to-end and deployment tests one
# package at a time, so that media-timing tests do not share the 2 cores
# with compilers and other packages' tests.
unit:
	$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v '/test/')
	$(GO) test -race -count=1 -timeout 40m -p 1 ./test/...

# fuzz: every fuzz target for FUZZTIME, from its committed corpus.
fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)

# test: everything CI runs. Installs what the tests need when missing.
test: test-deps lint unit fuzz

# test-systemd: deploy.sh and the .deb under a real systemd (Debian 12
# containers booted with systemd-nspawn): units active, RTP sockets from
# ars.socket, the hourly job's MP4s decode, no packet lost over `systemctl
# restart` or an upgrade (deploy.sh again, dpkg -i again) under load, the
# watchdog restarts a hung daemon and its recordings resume, --uninstall,
# dpkg -r/--purge. Not part of `test` (debootstrap, about 3 minutes); run
# as root.
test-systemd:
	./scripts/systemd-check.sh

# bench: the issue-6 benchmarks (capacity series, bare-receiver floor,
# conversion vs ffmpeg and janus-pp-rec); writes bench/RESULTS.md and
# bench/chart.png; the conversion per video codec (H.264, VP8, VP9, AV1
# vs janus-pp-rec on the same packets) and the composite benchmark of
# issue 13 (ars-mixer vs the ffmpeg CLI, composites per box) and the Opus
# to AAC transcoder of issue 14 (CPU per stream, TS recordings per box)
# add their sections to bench/RESULTS.md; then the packet-path
# micro-benchmarks.
bench: build
	$(GO) build -o bin/arsbench ./bench/cmd/arsbench
	./bin/arsbench run
	./bin/arsbench conv
	./bin/arsbench mix --mixer bin/ars-mixer
	./bin/arsbench aac --mixer bin/ars-mixer
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

# bench-quick: a small smoke of the same run (results under bench/out).
bench-quick: build
	$(GO) build -o bin/arsbench ./bench/cmd/arsbench
	./bin/arsbench run --channels 10,50 --duration 3s --media-seconds 20 --conv-reps 2 \
		--results bench/out/RESULTS-quick.md --chart bench/out/chart-quick.png
	./bin/arsbench conv --media-seconds 20 --rounds 2 --reps 2 --results bench/out/RESULTS-quick.md
	./bin/arsbench mix --quick --mixer bin/ars-mixer --results bench/out/RESULTS-quick.md
	./bin/arsbench aac --quick --mixer bin/ars-mixer --results bench/out/RESULTS-quick.md

deb:
	./packaging/debian/build.sh $(VERSION)

clean:
	rm -rf bin dist

# ars: build, test, benchmark and package.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 10s

.PHONY: all build run test test-deps lint unit fuzz bench deb clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ars ./cmd/ars
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/transcoder ./cmd/transcoder

# run: the daemon on embedded defaults (recordings under ./recordings).
run: build
	./bin/ars serve

test-deps:
	./scripts/install-test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 40m ./...

# fuzz: every fuzz target for FUZZTIME, from its committed corpus.
fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)

# test: everything CI runs. Installs what the tests need when missing.
test: test-deps lint unit fuzz

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

deb:
	./packaging/debian/build.sh $(VERSION)

clean:
	rm -rf bin dist

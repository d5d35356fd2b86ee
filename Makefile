# Go may be only at /usr/local/go (not in PATH), and Debian keeps the mkfs
# and fsck tools in /usr/sbin: the same lookup as scripts/go-env.sh.
GO_BIN := $(shell command -v go 2>/dev/null || { test -x /usr/local/go/bin/go && echo /usr/local/go/bin/go; })
export PATH := $(if $(GO_BIN),$(dir $(GO_BIN)):)$(PATH):/usr/sbin:/sbin
GO := $(or $(GO_BIN),go)

# Version and commit stamped into the binary (bake-os --version).
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD -- 2>/dev/null || echo +dirty)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: demo test build
demo:
	scripts/demo.sh
test:
	scripts/test.sh
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bake-os ./cmd/bake-os

#!/bin/sh
# Installs versitygw, the S3-compatible server the cloud recording tests
# start on loopback, into $(go env GOPATH)/bin unless it is already there.
set -eu
VERSION=v1.8.0
BIN="$(go env GOPATH)/bin/versitygw"
if [ -x "$BIN" ] || command -v versitygw >/dev/null 2>&1; then
	echo "versitygw present: $(command -v versitygw || echo "$BIN")"
	exit 0
fi
GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@${VERSION}"
echo "installed $BIN"

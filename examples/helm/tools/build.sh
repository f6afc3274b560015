#!/usr/bin/env bash
# build.sh OUTDIR builds the helm binary (Helm 4, from helm.sh/helm/v4 in this module) into
# OUTDIR/helm, with Helm's version stamp, from the Go module proxy only. It builds into a
# temporary directory and renames it, so OUTDIR is complete or absent. The chart's e2e test
# keys OUTDIR by a hash of this directory's go.mod, go.sum, build.sh and the Go version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
version=$(cd "$here" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
(cd "$here" && go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
	-o "$tmp/helm" helm.sh/helm/v4/cmd/helm)
trap - EXIT
rm -rf "$out"
mv "$tmp" "$out"
echo "build.sh: helm $version: $out" >&2

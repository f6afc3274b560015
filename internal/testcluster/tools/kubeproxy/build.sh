#!/usr/bin/env bash
# build.sh OUTDIR builds kube-proxy into OUTDIR from this module, with the version stamp of
# ../build.sh. Like it, it builds into a temporary directory and renames it, so OUTDIR is
# either complete or absent; the harness (../../network.go) keys OUTDIR by a hash of this
# directory's go.mod, go.sum, sources and the Go version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
kube_version=v1.36.3
ld="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ld+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=36"
	ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
done
echo "build.sh: kube-proxy $kube_version" >&2
(cd "$here" && go build -trimpath -ldflags "$ld" -o "$tmp/" k8s.io/kubernetes/cmd/kube-proxy)
trap - EXIT
rm -rf "$out"
mv "$tmp" "$out"
echo "build.sh: done: $out" >&2

#!/usr/bin/env bash
# build.sh OUTDIR builds every binary the test cluster runs into OUTDIR, from the Go modules
# pinned in this directory (and its kwok/ and registry/ modules) and the pause.c source.
# It builds into a temporary directory and renames it, so OUTDIR is either complete or absent.
# The harness (../cluster.go) keys OUTDIR by a hash of this script, the go.sum files and the
# Go version, so it only runs when one of those changes.
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

echo "build.sh: kubernetes $kube_version" >&2
(cd "$here" && go build -trimpath -ldflags "$ld" -o "$tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubelet \
	k8s.io/kubernetes/cmd/kubectl)
echo "build.sh: etcd" >&2
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
if [ -d "$here/kwok" ]; then
	echo "build.sh: kwok" >&2
	(cd "$here/kwok" && go build -trimpath -ldflags "-s -w" -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)
fi
if [ -d "$here/registry" ]; then
	echo "build.sh: registry, pushimage" >&2
	(cd "$here/registry" && go build -trimpath -ldflags "-s -w" -o "$tmp/" \
		github.com/distribution/distribution/v3/cmd/registry ./cmd/pushimage)
fi
if [ -f "$here/pause.c" ]; then
	echo "build.sh: pause" >&2
	gcc -static -O2 -o "$tmp/pause" "$here/pause.c"
fi
trap - EXIT
rm -rf "$out"
mv "$tmp" "$out"
echo "build.sh: done: $out" >&2

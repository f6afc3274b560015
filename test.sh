#!/usr/bin/env bash
# test.sh is the project's test command (see docs/testcluster.md):
# formatting and vet, the unit suite, then the end-to-end suite against a real cluster.
#
# The e2e suite runs against $PREFLIGHT_E2E_KUBECONFIG when set; otherwise this script starts
# (or reuses) the local test cluster with 100 simulated nodes, which needs root, and stops it
# at the end if it started it, unless PREFLIGHT_KEEP_CLUSTER=1.
set -euo pipefail
cd "$(dirname "$0")"

echo "== gofmt"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	unformatted=$(git ls-files -z -- '*.go' | xargs -0 -r gofmt -l)
else
	unformatted=$(gofmt -l .)
fi
if [ -n "$unformatted" ]; then
	echo "gofmt needed:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...
go vet -tags e2e ./...

echo "== unit tests"
# The example console's browser test (headless Chromium, installed by
# internal/testcluster/install-deps.sh) must run here: without Chromium it fails, not skips.
export PREFLIGHT_BROWSER_REQUIRED=1
go test -race -count=1 ./...

# Peak RSS under the race detector measures the detector, so these skip themselves under
# -race; run them once without it.
echo "== memory bounds (without -race)"
go test -count=1 -run '^TestPeakRSS$' ./runner/ ./internal/cli/

# Each fuzz target briefly, from its seed corpus in testdata/fuzz/ (6 s each; about 30 s
# with the instrumented builds).
echo "== fuzz"
go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 6s ./requirement/
go test -run '^$' -fuzz '^FuzzAnalyze$' -fuzztime 6s ./requirement/

echo "== end-to-end tests"
testcluster=(go run ./internal/testcluster/cmd/testcluster)
if [ -n "${PREFLIGHT_E2E_KUBECONFIG:-}" ]; then
	export KUBECONFIG=$PREFLIGHT_E2E_KUBECONFIG
else
	started=0
	if ! "${testcluster[@]}" status >/dev/null 2>&1; then
		started=1
	fi
	if [ "$started" = 1 ] && [ "${PREFLIGHT_KEEP_CLUSTER:-}" != 1 ]; then
		trap '"${testcluster[@]}" down || true' EXIT
	fi
	start=$(date +%s)
	KUBECONFIG=$("${testcluster[@]}" up --kwok-nodes 100 | tail -n 1)
	export KUBECONFIG
	echo "test cluster up in $(($(date +%s) - start))s: KUBECONFIG=$KUBECONFIG"
fi
export PREFLIGHT_E2E_REQUIRED=1
# Only the packages that have end-to-end tests (files with //go:build e2e).
mapfile -t e2e_pkgs < <(go list -tags e2e -f '{{.ImportPath}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./... |
	awk '/_e2e_test\.go/ {print $1}')
if [ ${#e2e_pkgs[@]} -eq 0 ]; then
	echo "no end-to-end test packages" >&2
	exit 1
fi
go test -tags e2e -race -p 1 -count=1 -timeout 45m "${e2e_pkgs[@]}"

//go:build tools

// Package tools pins the helm command the chart's e2e test runs; it is never compiled.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)

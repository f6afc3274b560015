//go:build tools

// Package tools pins kube-proxy for the test cluster; it is never compiled.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)

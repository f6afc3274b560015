package testcluster

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The service network is applied to a running cluster without restarting it, so neither its
// kube-proxy module nor its routed CNI network may move the running cluster's fingerprint.
func TestKubeProxyModuleIsOutsideTheClusterCacheKey(t *testing.T) {
	tools := t.TempDir()
	write := func(rel, content string) {
		path := filepath.Join(tools, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	write("go.mod", "module x\n")
	write("build.sh", "true\n")
	write("registry/go.sum", "a\n")
	write(kubeProxyModule+"/go.sum", "a\n")
	ctx := context.Background()
	base, err := cacheKey(ctx, tools)
	require.NoError(t, err)
	proxy, err := cacheKey(ctx, filepath.Join(tools, kubeProxyModule))
	require.NoError(t, err)

	write(kubeProxyModule+"/go.sum", "b\n")
	again, err := cacheKey(ctx, tools)
	require.NoError(t, err)
	require.Equal(t, base, again, "the kube-proxy module moved the cluster's cache key")
	proxyAgain, err := cacheKey(ctx, filepath.Join(tools, kubeProxyModule))
	require.NoError(t, err)
	require.NotEqual(t, proxy, proxyAgain)

	write("registry/go.sum", "b\n")
	again, err = cacheKey(ctx, tools)
	require.NoError(t, err)
	require.NotEqual(t, base, again, "another module must still move the cluster's cache key")
}

func TestCNIConfigRoutedAddsOnlyServiceAndNodeRoutes(t *testing.T) {
	p := newPaths(t.TempDir())
	type ipam struct {
		Ranges [][]map[string]string `json:"ranges"`
		Routes []map[string]string   `json:"routes"`
	}
	parse := func(s string) (ipam, map[string]any) {
		var c struct {
			Plugins []struct {
				IsGateway bool `json:"isGateway"`
				IPMasq    bool `json:"ipMasq"`
				IPAM      ipam `json:"ipam"`
			} `json:"plugins"`
		}
		require.NoError(t, json.Unmarshal([]byte(s), &c))
		require.Len(t, c.Plugins, 1)
		require.False(t, c.Plugins[0].IsGateway, "the bridge plugin would enable forwarding everywhere")
		require.False(t, c.Plugins[0].IPMasq)
		var raw map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &raw))
		return c.Plugins[0].IPAM, raw
	}
	base, _ := parse(cniConfig(p, false))
	require.Empty(t, base.Routes)
	require.Equal(t, [][]map[string]string{{{"subnet": podSubnet}}}, base.Ranges)

	routed, _ := parse(cniConfig(p, true))
	require.Equal(t, [][]map[string]string{{{"subnet": podSubnet, "gateway": podGateway}}}, routed.Ranges)
	require.Equal(t, []map[string]string{{"dst": serviceRange}, {"dst": vethSubnet}}, routed.Routes,
		"no default route: pods reach nothing outside the machine")
}

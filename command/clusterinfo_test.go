package command

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClusterInfo(t *testing.T) {
	t.Parallel()
	checkPrepareErrors(t, "cluster_info", []prepareErrorCase{
		{"a key", `{"namespace": "x"}`, `data: cluster_info takes no data: remove data (output is the cluster facts)`},
		{"not an object", `[1]`, `data: cluster_info takes no data: remove data (output is the cluster facts)`},
	})
	for _, data := range []string{"", "null", "{}", " { } "} {
		p, err := prepareHost(t, "cluster_info", data)
		require.NoError(t, err, "%q", data)
		assert.True(t, p.(interface{ UsesCluster() bool }).UsesCluster())
	}
	p, err := prepareHost(t, "cluster_info", "")
	require.NoError(t, err)

	tests := []struct {
		name       string
		facts      func(context.Context) (map[string]any, error)
		limit      int
		wantErr    string
		wantStdout string
		truncated  bool
	}{
		{name: "facts", facts: func(context.Context) (map[string]any, error) {
			return map[string]any{"version": "1.36.3", "nodes": []any{}}, nil
		}, wantStdout: `{"nodes":[],"version":"1.36.3"}`},
		{name: "cut at the output limit", limit: 8, facts: func(context.Context) (map[string]any, error) {
			return map[string]any{"version": "1.36.3", "nodes": []any{}}, nil
		}, wantStdout: `{"nodes"`, truncated: true},
		{name: "fetch error", facts: func(context.Context) (map[string]any, error) {
			return nil, errors.New("cluster facts: forbidden")
		}, wantErr: "cluster facts: forbidden"},
		{name: "no facts from the caller", wantErr: "cluster_info: the caller gives no cluster facts (Env.ClusterFacts is nil)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.Run(context.Background(), &Env{ClusterFacts: tt.facts, OutputLimit: tt.limit})
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, res.Outputs, 1)
			out := res.Outputs[0]
			assert.Equal(t, 0, out.StatusCode)
			assert.Equal(t, tt.wantStdout, out.Stdout)
			assert.Equal(t, tt.truncated, out.Truncated)
			assert.Equal(t, "1.36.3", out.Object.(map[string]any)["version"])
		})
	}
}

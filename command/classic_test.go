package command

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The classic placement keys of the host commands: on this host (cluster false or absent)
// they run as before; anything that asks for the cluster's nodes is refused with the
// replacement.
func TestClassicPlacement(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"tcp_dial":             `"addr": "127.0.0.1:1"`,
		"port_available":       `"port": 8080`,
		"disk_space_available": `"dir": "/"`,
		"disk_space_total":     `"dir": "/"`,
		"raw":                  `"cmd": "[\"true\"]"`,
	}
	for id, data := range base {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			for _, ok := range []string{`"cluster": false`, `"tags": []`, `"conflicts": []`} {
				_, err := prepareHost(t, id, "{"+data+", "+ok+"}")
				assert.NoError(t, err, ok)
			}
			_, err := prepareHost(t, id, "{"+data+`, "cluster": true, "tags": ["db"], "conflicts": ["web"]}`)
			require.Error(t, err)
			text := dataErrText(err)
			assert.Contains(t, text, "data.cluster: not supported yet: cluster: true runs the check on every node of the cluster; use a scheduler command with node_selector")
			assert.Contains(t, text, "data.tags: not supported yet: tags choose the nodes that run the check; use a scheduler command with node_selector")
			assert.Contains(t, text, "data.conflicts: not supported yet")
			_, err = prepareHost(t, id, "{"+data+`, "cluster": "yes"}`)
			assert.Equal(t, "data.cluster: must be a boolean (true or false), not string", dataErrText(err))
		})
	}
}

func TestRawRunsLikeExec(t *testing.T) {
	t.Parallel()
	for _, data := range []string{`{"cmd": "[\"sh\", \"-c\", \"echo hi; exit 3\"]"}`, `{"cmd": ["sh", "-c", "echo hi; exit 3"], "cluster": false}`} {
		p := mustPrepare(t, "raw", data)
		res, err := p.Run(context.Background(), &Env{})
		require.NoError(t, err)
		assert.Equal(t, 3, res.Outputs[0].StatusCode)
		assert.Equal(t, "hi\n", res.Outputs[0].Stdout)
	}
	checkPrepareErrors(t, "raw", []prepareErrorCase{
		{"no cmd", `{}`, `data.cmd: required: give the argv as the classic string '["test", "-e", "/etc/x"]' or as an array`},
		{"image", `{"cmd": "[\"true\"]", "image": "x"}`, `data.image: unknown field (known fields: cluster, cmd, conflicts, tags; names are case-sensitive)`},
		{"empty", `{"cmd": []}`, `data.cmd: must not be empty`},
	})
}

// Every built-in command describes its data, so that `K_expr` keys are typed at load.
func TestBuiltinsDescribeTheirData(t *testing.T) {
	t.Parallel()
	reg := Builtins()
	for _, id := range reg.IDs() {
		c, _ := reg.Lookup(id)
		d, ok := c.(DataDescriber)
		require.True(t, ok, "%s has no DataType", id)
		typ := d.DataType()
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		assert.Equal(t, reflect.Struct, typ.Kind(), id)
	}
	k, _ := reg.Lookup("kubernetes")
	secrets := k.(interface{ ReadsSecretValues(json.RawMessage) bool })
	assert.True(t, secrets.ReadsSecretValues(json.RawMessage(`{"kind":"Secret","include_secret_values":true}`)))
	assert.False(t, secrets.ReadsSecretValues(json.RawMessage(`{"kind":"Secret"}`)))
	for _, id := range []string{"kubernetes", "scheduler"} {
		c, _ := reg.Lookup(id)
		assert.True(t, c.(interface{ UsesCluster() bool }).UsesCluster(), id)
	}
}

package testcluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestRuncWrapperClampsNegativeOOMScoreAdj(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	require.NoError(t, os.Mkdir(bundle, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bundle, "config.json"),
		[]byte(`{"process":{"oomScoreAdj":-998,"args":["/pause"]},"x":"oomScoreAdj"}`), 0o644))
	proc := filepath.Join(dir, "process.json")
	require.NoError(t, os.WriteFile(proc, []byte(`{"oomScoreAdj": -997, "args":["sh"]}`), 0o644))
	keep := filepath.Join(dir, "positive.json")
	require.NoError(t, os.WriteFile(keep, []byte(`{"oomScoreAdj":1000}`), 0o644))

	// The wrapper execs the real runc: stand in a script that records its arguments.
	args := filepath.Join(dir, "args")
	fakeRunc := filepath.Join(dir, "runc")
	require.NoError(t, os.WriteFile(fakeRunc, []byte("#!/bin/sh\necho \"$@\" > "+args+"\n"), 0o755))
	wrapper := filepath.Join(dir, "wrapper")
	require.NoError(t, os.WriteFile(wrapper, []byte(runcWrapper(fakeRunc)), 0o755))

	out, err := exec.Command(wrapper, "--root", "/run/x", "create", "--bundle", bundle, "--pid-file", "p", "id1").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(wrapper, "exec", "--process="+proc, "--detach", "id1").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(wrapper, "exec", "--process", keep, "id1").CombinedOutput()
	require.NoError(t, err, "%s", out)

	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	require.NoError(t, err)
	require.Equal(t, `{"process":{"oomScoreAdj":0,"args":["/pause"]},"x":"oomScoreAdj"}`, string(b))
	b, err = os.ReadFile(proc)
	require.NoError(t, err)
	require.Equal(t, `{"oomScoreAdj":0, "args":["sh"]}`, string(b))
	b, err = os.ReadFile(keep)
	require.NoError(t, err)
	require.Equal(t, `{"oomScoreAdj":1000}`, string(b))
	b, err = os.ReadFile(args)
	require.NoError(t, err)
	require.Equal(t, "exec --process "+keep+" id1\n", string(b), "the wrapper passes its arguments on unchanged")
}

func TestKwokStages(t *testing.T) {
	docs := strings.Split(kwokStages, "\n---\n")
	require.Len(t, docs, 3)
	var names []string
	for _, d := range docs {
		var st struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				ResourceRef struct {
					Kind string `json:"kind"`
				} `json:"resourceRef"`
				Next struct {
					StatusTemplate string `json:"statusTemplate"`
				} `json:"next"`
			} `json:"spec"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(d), &st), d)
		require.Equal(t, "Stage", st.Kind)
		require.Equal(t, "Pod", st.Spec.ResourceRef.Kind)
		names = append(names, st.Metadata.Name)
		if st.Metadata.Name == "pod-complete" {
			require.Contains(t, st.Spec.Next.StatusTemplate, `index . "`+ExitCodeAnnotation+`"`)
			require.Contains(t, st.Spec.Next.StatusTemplate, `index . "`+MessageAnnotation+`"`)
		}
	}
	require.Equal(t, []string{"pod-ready", "pod-complete", "pod-delete"}, names)
}

func TestCacheKeyIsStable(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	tools, err := toolsDir()
	require.NoError(t, err)
	a, err := cacheKey(context.Background(), tools)
	require.NoError(t, err)
	b, err := cacheKey(context.Background(), tools)
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Len(t, a, 16)
}

func TestUnescapeMount(t *testing.T) {
	require.Equal(t, "/var/lib/a b", unescapeMount(`/var/lib/a\040b`))
	require.Equal(t, "/plain", unescapeMount("/plain"))
	require.Equal(t, `/odd\`, unescapeMount(`/odd\`))
}

func TestKwokNode(t *testing.T) {
	n := kwokNode(KwokNodeName(3))
	require.Equal(t, "kwok-node-3", n.Name)
	require.Equal(t, "fake", n.Annotations[KwokNodeAnnotation])
	require.Equal(t, "kwok", n.Labels[KwokNodeLabel])
	require.Len(t, n.Spec.Taints, 1)
	require.Equal(t, KwokNodeTaint, n.Spec.Taints[0].Key)
}

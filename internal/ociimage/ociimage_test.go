package ociimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// goBuild builds testdata/hello with the given environment and returns the binary.
func goBuild(t *testing.T, env ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/hello")
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	bin, err := os.ReadFile(out)
	require.NoError(t, err)
	return bin
}

func TestBuildIsReproducible(t *testing.T) {
	bin := goBuild(t, "CGO_ENABLED=0", "GOOS=linux")
	digest := func(o Options) string {
		img, _, err := Build(o)
		require.NoError(t, err)
		d, err := img.Digest()
		require.NoError(t, err)
		return d.String()
	}
	a := digest(Options{Binary: bin, Version: "v1.2.3"})
	require.Equal(t, a, digest(Options{Binary: bin, Version: "v1.2.3"}), "same inputs, same digest")
	// A second build of the same source gives the same binary, hence the same image.
	require.Equal(t, a, digest(Options{Binary: goBuild(t, "CGO_ENABLED=0", "GOOS=linux"), Version: "v1.2.3"}))
	for name, o := range map[string]Options{
		"version":   {Binary: bin, Version: "v1.2.4"},
		"created":   {Binary: bin, Version: "v1.2.3", Created: time.Unix(1, 0)},
		"ca bundle": {Binary: bin, Version: "v1.2.3", CABundle: []byte("pem")},
		"binary":    {Binary: append(append([]byte{}, bin...), 0), Version: "v1.2.3"},
	} {
		require.NotEqual(t, a, digest(o), "a different %s must change the digest", name)
	}
}

func TestBuildContents(t *testing.T) {
	bin := goBuild(t, "CGO_ENABLED=0", "GOOS=linux")
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	img, info, err := Build(Options{Binary: bin, Created: created, CABundle: []byte("bundle")})
	require.NoError(t, err)
	require.Equal(t, "(devel)", info.Version, "the version defaults to the binary's, as preflight version prints it")

	cf, err := img.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, "65532:65532", cf.Config.User)
	require.Equal(t, []string{"/preflight"}, cf.Config.Entrypoint)
	require.Equal(t, "linux", cf.OS)
	require.Equal(t, info.Arch, cf.Architecture)
	require.NotEmpty(t, cf.Architecture)
	require.Equal(t, created, cf.Created.Time.UTC())
	require.Equal(t, "(devel)", cf.Config.Labels["org.opencontainers.image.version"])
	require.Equal(t, "2026-01-02T03:04:05Z", cf.Config.Labels["org.opencontainers.image.created"])
	require.Equal(t, "preflight", cf.Config.Labels["org.opencontainers.image.title"])
	m, err := img.Manifest()
	require.NoError(t, err)
	require.Equal(t, "application/vnd.oci.image.manifest.v1+json", string(m.MediaType))

	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	type file struct {
		mode     int64
		uid, gid int
		content  string
	}
	got := map[string]file{}
	var order []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Equal(t, created, h.ModTime.UTC(), h.Name)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		got[h.Name] = file{h.Mode, h.Uid, h.Gid, string(b)}
		order = append(order, h.Name)
	}
	require.Equal(t, []string{"etc/", "home/", "home/nonroot/", "tmp/", "etc/ssl/", "etc/ssl/certs/",
		"etc/ssl/certs/ca-certificates.crt", "etc/group", "etc/passwd", "preflight"}, order)
	require.Equal(t, file{0o755, 0, 0, string(bin)}, got["preflight"])
	require.Equal(t, file{0o1777, 0, 0, ""}, got["tmp/"])
	require.Equal(t, file{0o700, UID, GID, ""}, got["home/nonroot/"])
	require.Equal(t, "bundle", got["etc/ssl/certs/ca-certificates.crt"].content)
	require.Contains(t, got["etc/passwd"].content, "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
}

func TestBuildRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		bin  func(t *testing.T) []byte
		want string
	}{
		"empty":     {func(*testing.T) []byte { return nil }, "Options.Binary is empty"},
		"not Go":    {func(*testing.T) []byte { return []byte("#!/bin/sh\n") }, "no Go build information"},
		"cgo":       {func(t *testing.T) []byte { return goBuild(t, "CGO_ENABLED=1", "GOOS=linux") }, "CGO_ENABLED=0"},
		"not linux": {func(t *testing.T) []byte { return goBuild(t, "CGO_ENABLED=0", "GOOS=darwin") }, "GOOS=linux"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Build(Options{Binary: tc.bin(t)})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

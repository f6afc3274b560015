// Package ociimage builds the preflight OCI image, without Docker, from a static preflight
// binary: one layer built here (the binary at /preflight, /tmp, a non-root user 65532 in
// /etc/passwd and /etc/group, its home, and optionally a CA bundle), the OCI labels, and the
// user 65532:65532. The image is reproducible: every timestamp is the build's commit time (or
// Created), file order and owners are fixed, so the same binary and options give the same
// digest. The command examples/preflight/image builds the binary and the image and pushes it;
// see docs/cli.md#the-preflight-image. go-containerregistry stays out of the library's
// packages: only this package and that command import it.
package ociimage

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID of the image's user, "nonroot" (the distroless convention).
const (
	UID = 65532
	GID = 65532
)

// Options describe the image. Binary is required; the zero value of the rest works.
type Options struct {
	// Binary is the preflight binary: a static (CGO_ENABLED=0) Linux executable. Its Go build
	// information gives the version, revision, commit time and architecture below.
	Binary []byte
	// Version is the label org.opencontainers.image.version. Default: the binary's module
	// version, as `preflight version` prints it.
	Version string
	// Created is every timestamp of the image (files, config, label
	// org.opencontainers.image.created). Default: the commit time stamped in the binary
	// (vcs.time), else the Unix epoch.
	Created time.Time
	// CABundle, when set, is installed as /etc/ssl/certs/ca-certificates.crt, for `http`
	// commands to HTTPS URLs outside the cluster. In-cluster access needs none: the
	// ServiceAccount's CA is mounted.
	CABundle []byte
	// Source is the label org.opencontainers.image.source. Default: the module's path as a
	// URL, https://github.com/preflightkit/preflight.
	Source string
}

// Info is what Build read from the binary and put in the image.
type Info struct {
	Version, Revision, Arch string
	Created                 time.Time
	Labels                  map[string]string
}

// Build returns the image of opts.Binary, and what it read from the binary.
func Build(opts Options) (v1.Image, Info, error) {
	if len(opts.Binary) == 0 {
		return nil, Info{}, errors.New("ociimage: Options.Binary is empty")
	}
	bi, err := buildinfo.Read(bytes.NewReader(opts.Binary))
	if err != nil {
		return nil, Info{}, fmt.Errorf("ociimage: the binary has no Go build information: %w", err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != "linux" {
		return nil, Info{}, fmt.Errorf("ociimage: the binary is for GOOS=%q; build it with GOOS=linux", settings["GOOS"])
	}
	if settings["CGO_ENABLED"] != "0" {
		return nil, Info{}, errors.New("ociimage: the binary was built with cgo; build it with CGO_ENABLED=0 (the image has no C library)")
	}
	info := Info{Version: opts.Version, Revision: settings["vcs.revision"], Arch: settings["GOARCH"], Created: opts.Created}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	if info.Created.IsZero() {
		info.Created = time.Unix(0, 0)
		if t, err := time.Parse(time.RFC3339, settings["vcs.time"]); err == nil {
			info.Created = t
		}
	}
	info.Created = info.Created.UTC()
	source := opts.Source
	if source == "" {
		source = "https://" + strings.TrimSuffix(bi.Main.Path, "/examples/preflight")
	}
	info.Labels = map[string]string{
		"org.opencontainers.image.title":       "preflight",
		"org.opencontainers.image.description": "Runs a preflight spec's requirements against the cluster and prints the gate decision",
		"org.opencontainers.image.version":     info.Version,
		"org.opencontainers.image.created":     info.Created.Format(time.RFC3339),
		"org.opencontainers.image.source":      source,
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	if info.Revision != "" {
		info.Labels["org.opencontainers.image.revision"] = info.Revision
	}

	layerTar, err := rootfs(opts.Binary, opts.CABundle, info.Created)
	if err != nil {
		return nil, Info{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, Info{}, fmt.Errorf("ociimage: layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: info.Created}, CreatedBy: "preflight ociimage", Comment: "preflight " + info.Version}})
	if err != nil {
		return nil, Info{}, fmt.Errorf("ociimage: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, Info{}, fmt.Errorf("ociimage: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", info.Arch
	cf.Created = v1.Time{Time: info.Created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, GID),
		Entrypoint: []string{"/preflight"},
		Env:        []string{"PATH=/", "HOME=/home/nonroot"},
		WorkingDir: "/tmp",
		Labels:     info.Labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, Info{}, fmt.Errorf("ociimage: %w", err)
	}
	return img, info, nil
}

// rootfs is the layer's tar: directories first, then files, in a fixed order, every entry
// with the same time and numeric owners.
func rootfs(binary, caBundle []byte, mtime time.Time) ([]byte, error) {
	type entry struct {
		name    string
		mode    int64
		uid     int
		content []byte
		dir     bool
	}
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: UID, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	if len(caBundle) > 0 {
		entries = append(entries, entry{name: "etc/ssl/", mode: 0o755, dir: true},
			entry{name: "etc/ssl/certs/", mode: 0o755, dir: true},
			entry{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, content: caBundle})
	}
	entries = append(entries,
		entry{name: "etc/group", mode: 0o644, content: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", GID)},
		entry{name: "etc/passwd", mode: 0o644, content: fmt.Appendf(nil,
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID)},
		entry{name: "preflight", mode: 0o755, content: binary})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime,
			Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.content))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("ociimage: %w", err)
		}
		if _, err := tw.Write(e.content); err != nil {
			return nil, fmt.Errorf("ociimage: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("ociimage: %w", err)
	}
	return buf.Bytes(), nil
}

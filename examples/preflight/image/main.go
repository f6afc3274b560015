// Command image builds the preflight OCI image without Docker: it builds the preflight
// binary static (CGO_ENABLED=0, -trimpath, GOOS=linux) from this checkout, puts it on a
// minimal base layer of its own (internal/ociimage: /preflight, /tmp, user 65532, OCI labels
// with the binary's version), and pushes the image to a registry, writes it as an OCI layout
// directory, or both. The image is reproducible: the same checkout and Go toolchain give the
// same digest, which it prints on stdout.
//
//	go run ./examples/preflight/image --push registry.example.com/preflight:v1.2.0
//	go run ./examples/preflight/image --push 127.0.0.1:25000/preflightkit/preflight:dev --insecure
//	go run ./examples/preflight/image --oci-layout ./preflight-oci
//
// Pushing uses the credentials of ~/.docker/config.json (as docker login and crane write them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/preflightkit/preflight/internal/ociimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	push := fs.String("push", "", "push the image to this `reference` (registry/repository:tag)")
	insecure := fs.Bool("insecure", false, "allow plain HTTP to the registry of --push (a registry on loopback, for example)")
	ociLayout := fs.String("oci-layout", "", "write the image into this OCI image layout `directory` (created when missing)")
	binary := fs.String("binary", "", "use this static preflight `binary` instead of building one")
	goarch := fs.String("goarch", runtime.GOARCH, "architecture of the binary to build")
	version := fs.String("version", "", "label org.opencontainers.image.version (default: the binary's version, as `preflight version` prints it)")
	caBundle := fs.String("ca-bundle", "", "install this CA bundle `file` as /etc/ssl/certs/ca-certificates.crt (for http commands to HTTPS URLs outside the cluster)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*push == "" && *ociLayout == "") {
		fs.Usage()
		return errors.New("give --push REFERENCE, --oci-layout DIR, or both")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := ociimage.Options{Version: *version}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds", s)
		}
		opts.Created = time.Unix(sec, 0)
	}
	if *caBundle != "" {
		b, err := os.ReadFile(*caBundle)
		if err != nil {
			return fmt.Errorf("--ca-bundle: %w", err)
		}
		opts.CABundle = b
	}
	path := *binary
	if path == "" {
		dir, err := os.MkdirTemp("", "preflight-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "preflight")
		if err := buildBinary(ctx, path, *goarch); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	opts.Binary = b
	img, info, err := ociimage.Build(opts)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	log.Info("built the image", "version", info.Version, "revision", info.Revision, "arch", info.Arch, "created", info.Created, "digest", digest)
	if *ociLayout != "" {
		p, err := layout.FromPath(*ociLayout)
		if err != nil {
			if p, err = layout.Write(*ociLayout, empty.Index); err != nil {
				return fmt.Errorf("--oci-layout: %w", err)
			}
		}
		if err := p.AppendImage(img); err != nil {
			return fmt.Errorf("--oci-layout: %w", err)
		}
		log.Info("wrote the OCI layout", "dir", *ociLayout)
	}
	if *push != "" {
		var nopts []name.Option
		if *insecure {
			nopts = append(nopts, name.Insecure)
		}
		ref, err := name.ParseReference(*push, nopts...)
		if err != nil {
			return fmt.Errorf("--push: %w", err)
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		log.Info("pushed", "reference", ref.String())
	}
	fmt.Println(digest)
	return nil
}

// buildBinary builds ./examples/preflight of the module in the working directory, static and
// without paths of this machine, into out.
func buildBinary(ctx context.Context, out, goarch string) error {
	// -buildvcs=auto stamps the commit (revision, time, and the version Go derives from it)
	// from a git checkout, whatever GOFLAGS says.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=auto", "-ldflags=-s -w", "-o", out,
		"github.com/preflightkit/preflight/examples/preflight")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

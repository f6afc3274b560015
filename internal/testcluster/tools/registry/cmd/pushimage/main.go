// Command pushimage builds the test cluster's images from files on this machine and pushes
// them to the cluster's registry, so that nothing needs Docker or the internet:
//
//   - library/busybox:latest: /bin/busybox (Debian's busybox-static) and a symlink for each
//     of its applets (sh, test, sleep, cat, nsenter, wget, ...), plus /etc/passwd, /tmp;
//   - pause:<tag>: a static pause binary, the pod sandbox image.
//
// Usage: pushimage -registry 127.0.0.1:5000 -busybox /bin/busybox -pause ./pause
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the timestamp of every file and image, so that the images are reproducible.
var epoch = time.Unix(0, 0).UTC()

func main() {
	registry := flag.String("registry", "127.0.0.1:5000", "registry host:port (plain HTTP)")
	busybox := flag.String("busybox", "/bin/busybox", "a static busybox binary")
	pause := flag.String("pause", "", "a static pause binary")
	pauseTag := flag.String("pause-tag", "3.10", "tag of the pause image")
	flag.Parse()
	if *pause == "" {
		log.Fatal("pushimage: -pause is required")
	}
	bb, err := busyboxLayer(*busybox)
	if err != nil {
		log.Fatal(err)
	}
	if err := push(*registry+"/library/busybox:latest", bb, []string{"sh"}); err != nil {
		log.Fatal(err)
	}
	pl, err := pauseLayer(*pause)
	if err != nil {
		log.Fatal(err)
	}
	if err := push(*registry+"/pause:"+*pauseTag, pl, []string{"/pause"}); err != nil {
		log.Fatal(err)
	}
}

type entry struct {
	hdr  tar.Header
	data []byte
}

func dir(p string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, ModTime: epoch}}
}

func file(p string, mode int64, data []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: epoch}, data: data}
}

func symlink(p, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: p, Linkname: target, Mode: 0o777, ModTime: epoch}}
}

func busyboxLayer(bin string) (v1.Layer, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w", err)
	}
	out, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	es := []entry{
		dir("bin", 0o755), dir("sbin", 0o755), dir("usr", 0o755), dir("usr/bin", 0o755),
		dir("usr/sbin", 0o755), dir("etc", 0o755), dir("tmp", 0o1777), dir("root", 0o700),
		dir("var", 0o755), dir("home", 0o755),
		file("bin/busybox", 0o755, data),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")),
		file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n")),
	}
	seen := map[string]bool{"bin/busybox": true}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	for _, a := range applets {
		a = strings.TrimPrefix(a, "/")
		if seen[a] {
			continue
		}
		seen[a] = true
		rel := strings.Repeat("../", strings.Count(a, "/")) + "bin/busybox"
		es = append(es, symlink(a, path.Clean(rel)))
	}
	return layer(es)
}

func pauseLayer(bin string) (v1.Layer, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read pause: %w", err)
	}
	return layer([]entry{file("pause", 0o755, data)})
}

func layer(es []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.hdr
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", h.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

func push(ref string, l v1.Layer, cmd []string) error {
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: mustDiffIDs(l)},
		Config: v1.Config{
			Cmd: cmd,
			Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	})
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	if err := remote.Write(r, img); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	d, _ := img.Digest()
	fmt.Printf("pushed %s@%s\n", ref, d)
	return nil
}

func mustDiffIDs(l v1.Layer) []v1.Hash {
	h, err := l.DiffID()
	if err != nil {
		log.Fatal(err)
	}
	return []v1.Hash{h}
}

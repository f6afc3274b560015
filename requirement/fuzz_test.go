package requirement_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/preflightkit/preflight/requirement"
)

// FuzzLoad feeds random bytes to Load: it must never panic, and it returns either a spec or
// an error, never both or neither. Run it with: go test ./requirement -fuzz FuzzLoad.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("custom_requirements:\n- id: a\n  when: '{{repl if (eq (Trim .Result) \"x\") }}true{{repl end }}'\n"))
	reg := fakeRegistry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := requirement.Load(context.Background(), requirement.LoadOptions{Registry: reg},
			requirement.Source{Name: "fuzz.yaml", Reader: bytes.NewReader(data)})
		if (spec == nil) == (err == nil) {
			t.Fatalf("spec %v and error %v", spec, err)
		}
		if err != nil {
			_ = err.Error()
		}
	})
}

// Package archtest checks the module's layering: data flows one way, from the spec through
// the runner to the commands and the analyzer, and no package imports one above it.
package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/preflightkit/preflight"

// allowed lists, for each public package (and the internal packages they build on), the
// module packages its non-test files may import. Packages not listed may import anything
// below them except the CLI (internal/cli is imported only by examples/preflight).
var allowed = map[string][]string{
	"schema":               {},
	"internal/celenv":      {},
	"internal/clusterinfo": {},
	"internal/gotype":      {},
	"analyzer":             {"internal/celenv", "internal/gotype"},
	"command":              {"internal/podrun", "internal/clusterinfo", "internal/gotype"},
	"internal/podrun":      {},
	"requirement":          {"internal/specschema", "internal/readctx", "command", "analyzer", "internal/celenv", "internal/gotype"},
	"internal/readctx":     {},
	"internal/specschema":  {"schema"},
	"runner":               {"requirement", "command", "analyzer", "internal/celenv", "internal/clusterinfo", "internal/podrun", "internal/specschema"},
	"runner/gatehttp":      {"requirement", "runner"},
	"examples/preflight":   {"internal/cli"},
}

func TestImportGraph(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	imports := moduleImports(t, root)
	require.Contains(t, imports, "runner", "the walk must find the module's packages")
	for pkg, deps := range imports {
		ok, listed := allowed[pkg]
		for _, dep := range deps {
			switch {
			case listed:
				assert.Contains(t, ok, dep, "%s must not import %s", pkg, dep)
			case dep == "internal/cli":
				assert.Equal(t, "examples/preflight", pkg, "only the binary imports the CLI")
			}
		}
	}
}

// moduleImports returns, per package directory relative to root, the module packages its
// non-test Go files import. Nested modules (directories with their own go.mod) are skipped.
func moduleImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := walkGoFiles(root, func(path string) error {
		if strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if isToolsFile(f.Comments) {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if dep, ok := strings.CutPrefix(p, module+"/"); ok && dep != rel {
				out[rel] = appendUnique(out[rel], dep)
			}
		}
		if _, ok := out[rel]; !ok {
			out[rel] = nil
		}
		return nil
	})
	require.NoError(t, err)
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func isToolsFile(groups []*ast.CommentGroup) bool {
	for _, g := range groups {
		for _, c := range g.List {
			if strings.HasPrefix(c.Text, "//go:build tools") {
				return true
			}
		}
	}
	return false
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// walkGoFiles calls fn with the path of every Go file of the module under root, skipping
// hidden directories, testdata and nested modules (directories with their own go.mod).
func walkGoFiles(root string, fn func(path string) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		return fn(path)
	})
}

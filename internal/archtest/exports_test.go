package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publicPackages are the packages whose exported names make the library's API.
var publicPackages = []string{"requirement", "schema", "command", "analyzer", "runner", "runner/gatehttp"}

// unusedAllowed lists exported names that no other package, example or test outside their
// package uses, and why they stay. Keep it short: an exported name nobody outside needs is
// surface to document and keep compatible for nothing.
var unusedAllowed = map[string]string{
	// The status codes are the classic format's values; spec authors write them in
	// conditions and commands registered by callers return them.
	"command.CodeAddressInUse":      "documented status code of port_available",
	"command.CodeConnectionRefused": "documented status code of tcp_dial",
	"command.CodeInvalidArgument":   "documented status code for callers' commands",
	// Reaching it takes 5 s of CPU; analyzer's own tests reach it with a shortened limit.
	"analyzer.ErrEvalTimeout": "matched with errors.Is in RequirementResult.Err",
}

// TestExportsAreUsed fails when a public package exports a top-level name that nothing
// outside the package uses: no other package of the module, no example (examples/, or an
// Example function of the package's external tests) and no external test of another package.
// A package's own tests (internal or external) do not count: a name only they use is a
// test-only export.
func TestExportsAreUsed(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	exported := map[string]token.Position{} // "pkg.Name" -> where it is declared
	used := map[string]bool{}
	fset := token.NewFileSet()
	err = walkGoFiles(root, func(path string) error {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		isTest := strings.HasSuffix(path, "_test.go")
		if !isTest {
			for _, name := range topLevelExports(f) {
				exported[rel+"."+name.Name] = fset.Position(name.Pos())
			}
			for _, name := range typesInAPI(f) {
				used[rel+"."+name] = true
			}
		}
		imports := map[string]string{} // local name -> module-relative package
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			dep, ok := strings.CutPrefix(p, module+"/")
			if !ok {
				continue
			}
			local := dep[strings.LastIndex(dep, "/")+1:]
			if imp.Name != nil {
				local = imp.Name.Name
			}
			imports[local] = dep
		}
		for _, decl := range f.Decls {
			// A package's own tests do not count, except its Example functions: they are
			// documentation a user reads.
			fd, ok := decl.(*ast.FuncDecl)
			example := ok && isTest && strings.HasPrefix(fd.Name.Name, "Example")
			ast.Inspect(decl, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok {
					if dep, ok := imports[x.Name]; ok && (dep != rel || example) {
						used[dep+"."+sel.Sel.Name] = true
					}
				}
				return true
			})
		}
		return nil
	})
	require.NoError(t, err)
	var unused []string
	for name, pos := range exported {
		pkg := name[:strings.LastIndex(name, ".")]
		if !contains(publicPackages, pkg) || used[name] {
			continue
		}
		if _, ok := unusedAllowed[name]; ok {
			continue
		}
		unused = append(unused, name+" ("+filepath.Base(pos.Filename)+":"+strconv.Itoa(pos.Line)+")")
	}
	sort.Strings(unused)
	assert.Empty(t, unused, "exported but used by no other package, example or outside test: "+
		"unexport them, move them under internal/, or list them in unusedAllowed with the reason")
	for name := range unusedAllowed {
		assert.Contains(t, exported, name, "unusedAllowed lists %s, which is not exported (any more)", name)
	}
}

// typesInAPI returns the names a file's exported declarations refer to: the types of
// exported struct fields, and the parameters and results of exported functions and methods.
// A type reachable through the API is used even when no caller names it.
func typesInAPI(f *ast.File) []string {
	var out []string
	collect := func(n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				if n.IsExported() {
					out = append(out, n.Name)
				}
			case *ast.SelectorExpr:
				return false // another package's name
			case *ast.BlockStmt:
				return false // function bodies are not API
			}
			return true
		})
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Name.IsExported() {
				collect(d.Type)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.IsExported() {
					ast.Inspect(ts.Type, func(n ast.Node) bool {
						if fl, ok := n.(*ast.Field); ok {
							exported := len(fl.Names) == 0 // embedded
							for _, name := range fl.Names {
								exported = exported || name.IsExported()
							}
							if exported {
								collect(fl.Type)
							}
							return false
						}
						return true
					})
				}
			}
		}
	}
	return out
}

// topLevelExports returns the exported names a file declares at top level (functions,
// types, constants and variables; not methods or fields).
func topLevelExports(f *ast.File) []*ast.Ident {
	var out []*ast.Ident
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.IsExported() {
				out = append(out, d.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						out = append(out, s.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							out = append(out, n)
						}
					}
				}
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

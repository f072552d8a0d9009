package herald

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSDKImportsOnlyTheStandardLibrary: the root package (the SDK) imports only the
// standard library and internal/wire, the API's JSON contract, which itself imports only
// the standard library; so a program using the SDK pulls in nothing else.
func TestSDKImportsOnlyTheStandardLibrary(t *testing.T) {
	const wirePath = "github.com/heraldhq/herald/internal/wire"
	for dir, allowed := range map[string]map[string]bool{".": {wirePath: true}, filepath.Join("internal", "wire"): {}} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				first, _, _ := strings.Cut(path, "/")
				if !strings.Contains(first, ".") || allowed[path] {
					continue // the standard library's paths have no dot in their first element
				}
				t.Errorf("%s imports %s: the SDK may import only the standard library and internal/wire", f, path)
			}
		}
	}
}

package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestDefaultKwokNodesAgreesWithTheDocs: up's default, test.sh and docs/testcluster.md name the
// same number of kwok nodes.
func TestDefaultKwokNodesAgreesWithTheDocs(t *testing.T) {
	re := regexp.MustCompile(`--kwok-nodes (\d+)`)
	for _, f := range []string{"../../../../test.sh", "../../../../docs/testcluster.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range re.FindAllSubmatch(b, -1) {
			n, _ := strconv.Atoi(string(m[1]))
			if n == defaultKwokNodes {
				found = true
			}
		}
		if !found {
			t.Errorf("%s does not name --kwok-nodes %d, up's default", f, defaultKwokNodes)
		}
	}
	b, err := os.ReadFile("../../../../docs/testcluster.md")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile("`--kwok-nodes` default: " + strconv.Itoa(defaultKwokNodes)).Match(b) {
		t.Errorf("docs/testcluster.md does not state up's default (`--kwok-nodes` default: %d)", defaultKwokNodes)
	}
}

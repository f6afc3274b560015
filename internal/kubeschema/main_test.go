package main

import (
	"os"
	"testing"
)

// TestCommittedFileIsFresh regenerates the definitions and compares them with the committed
// file (run from this module: go test ./...).
func TestCommittedFileIsFresh(t *testing.T) {
	got, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../schema/kubernetes.defs.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("schema/kubernetes.defs.json is stale: run go generate ./schema")
	}
}

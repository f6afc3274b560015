package gotype

import (
	"encoding/json"
	"net"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/api/resource"
)

type embedded struct {
	Cluster *bool    `json:"cluster,omitempty"`
	Tags    []string `json:"tags"`
}

type data struct {
	Addr    string `json:"addr"`
	Skipped string `json:"-"`
	hidden  string //nolint:unused // an unexported field is not data
	NoTag   int
	embedded
	Named embedded `json:"named"`
}

func TestFields(t *testing.T) {
	assert.Equal(t, []string{"NoTag", "addr", "cluster", "named", "tags"}, Names(reflect.TypeOf(&data{})))
	f, ok := Lookup(reflect.TypeOf(data{}), "cluster")
	assert.True(t, ok, "promoted from the embedded struct")
	assert.Equal(t, reflect.TypeOf((*bool)(nil)), f.Type)
	_, ok = Lookup(reflect.TypeOf(data{}), "Skipped")
	assert.False(t, ok)
	assert.Empty(t, Names(reflect.TypeOf("")))
}

func TestDescribeAndOpaque(t *testing.T) {
	tests := []struct {
		v      any
		want   string
		opaque bool
	}{
		{"", "a string", false},
		{true, "a boolean (true or false)", false},
		{uint16(0), "an integer", false},
		{1.5, "a number", false},
		{[]string(nil), "an array of strings", false},
		{[][]string(nil), "an array of arrays of strings", false},
		{map[string]bool(nil), "a map of booleans (true or false)", false},
		{data{}, "an object", false},
		{(*string)(nil), "a string", false},
		{json.RawMessage(nil), "a JSON value", true},
		{resource.Quantity{}, "an object", true},
		{net.IP(nil), "an array of integers", true},
	}
	for _, tt := range tests {
		typ := reflect.TypeOf(tt.v)
		assert.Equal(t, tt.want, Describe(typ), typ.String())
		assert.Equal(t, tt.opaque, Opaque(typ), typ.String())
	}
	assert.True(t, Opaque(nil))
	assert.True(t, Opaque(reflect.TypeOf((*any)(nil)).Elem()))
}

package analyzer

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutputIsLazyAndParsedOnce(t *testing.T) {
	in := &Input{StatusCode: 0, Stdout: `{"a": 1}`}

	noOutput, err := Compile(`status_code == 0`, ScopeCondition)
	require.NoError(t, err)
	ok, err := noOutput.Eval(context.Background(), nil, in)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Nil(t, in.output.v, "output parsed though the expression does not read it")

	reads, err := Compile(`output.a == 1`, ScopeCondition)
	require.NoError(t, err)
	ok, err = reads.Eval(context.Background(), nil, in)
	require.NoError(t, err)
	assert.True(t, ok)
	require.NotNil(t, in.output.v)
	first := in.output.v

	// A second expression on the same output (the next result's condition) reuses it.
	v, found := (&activation{in: in}).ResolveName("output")
	require.True(t, found)
	assert.Same(t, first, v, "output parsed a second time")
}

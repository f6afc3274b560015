package analyzer

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutputIsLazyAndParsedOnce(t *testing.T) {
	act := &activation{in: &Input{StatusCode: 0, Stdout: `{"a": 1}`}}

	noOutput, err := Compile(`status_code == 0`, ScopeCondition)
	require.NoError(t, err)
	ok, err := noOutput.evalIn(context.Background(), act)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Nil(t, act.output, "output parsed though the expression does not read it")

	reads, err := Compile(`output.a == 1`, ScopeCondition)
	require.NoError(t, err)
	ok, err = reads.evalIn(context.Background(), act)
	require.NoError(t, err)
	assert.True(t, ok)
	require.NotNil(t, act.output)
	first := act.output

	v, found := act.ResolveName("output")
	require.True(t, found)
	assert.Same(t, first, v, "output parsed a second time")
}

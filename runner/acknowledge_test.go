package runner

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecisionAcknowledge acknowledges a finished decision as a console does after the run.
func TestDecisionAcknowledge(t *testing.T) {
	s := spec(
		newReq("pass", exit(0)),
		newReq("warn", exit(2)),
		newReq("fail", exit(1)),
		newReq("strict-warn", exit(2), strict),
		newReq("strict-fail", exit(1), strict),
		newReq("after", exit(0), dependsOn("fail")),
	)
	blocked := mustRun(t, Options{}, s)
	require.Equal(t, GateBlocked, blocked.Gate)
	open := mustRun(t, Options{}, spec(s.Requirements[:4]...))
	require.Equal(t, GateNeedsAck, open.Gate)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	type ack struct {
		id      string
		by      string
		warning bool
	}
	tests := []struct {
		name            string
		d               *Decision
		ids, warnings   []string
		gate            Gate
		acked           []ack
		err             []string // the errors' texts; nothing is acknowledged then
		strictErr       bool     // errors.Is(err, ErrStrictFailure)
		interruptedText string
	}{
		{name: "everything asked for", d: open, ids: []string{"warn", "fail"}, warnings: []string{"strict-warn"}, gate: GatePass,
			acked: []ack{{"warn", "ana", false}, {"fail", "ana", false}, {"strict-warn", "ana", true}}},
		{name: "part of it", d: open, ids: []string{"fail"}, gate: GateNeedsAck, acked: []ack{{"fail", "ana", false}}},
		{name: "a warning through warnings", d: open, warnings: []string{"warn"}, gate: GateNeedsAck, acked: []ack{{"warn", "ana", true}}},
		{name: "a pass needs nothing", d: open, ids: []string{"pass"}, gate: GateNeedsAck},
		{name: "not run, and the failure it depends on", d: blocked, ids: []string{"fail", "after", "warn"}, warnings: []string{"strict-warn"}, gate: GateBlocked,
			acked: []ack{{"warn", "ana", false}, {"fail", "ana", false}, {"strict-warn", "ana", true}, {"after", "ana", false}}},
		{name: "strict id", d: blocked, ids: []string{"strict-fail"}, strictErr: true,
			err: []string{`runner options: Acknowledge "strict-fail": the requirement is strict: its failures cannot be acknowledged, only its warnings`}},
		{name: "strict failure as a warning", d: blocked, warnings: []string{"strict-fail"}, strictErr: true,
			err: []string{`runner options: AcknowledgeWarnings "strict-fail": the requirement is strict and its status is fail: nothing can acknowledge it`}},
		{name: "failure as a warning", d: open, warnings: []string{"fail"},
			err: []string{`runner options: AcknowledgeWarnings "fail": its status is fail, not warn: acknowledge a failure with the ids, not the warnings`}},
		{name: "unknown ids, all reported", d: open, ids: []string{"nope", "warn"}, warnings: []string{"gone"},
			err: []string{`runner options: Acknowledge "nope": the decision has no requirement with that id`,
				`runner options: AcknowledgeWarnings "gone": the decision has no requirement with that id`}},
		{name: "misspelt ids get a suggestion", d: open, ids: []string{"fial"}, warnings: []string{"wran"},
			err: []string{`runner options: Acknowledge "fial": the decision has no requirement with that id; did you mean "fail"?`,
				`runner options: AcknowledgeWarnings "wran": the decision has no requirement with that id; did you mean "warn"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := *tt.d
			before.Requirements = append([]RequirementResult(nil), tt.d.Requirements...)
			got, err := tt.d.Acknowledge(tt.ids, tt.warnings, "ana", at)
			assert.Equal(t, before, *tt.d, "the decision acknowledged is not changed")
			if tt.err != nil {
				require.Error(t, err)
				assert.Nil(t, got)
				var texts []string
				for _, e := range unjoinAll(err) {
					var oe *OptionError
					require.True(t, errors.As(e, &oe), "%v is an *OptionError", e)
					texts = append(texts, e.Error())
				}
				assert.Equal(t, tt.err, texts)
				assert.Equal(t, tt.strictErr, errors.Is(err, ErrStrictFailure))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.gate, got.Gate)
			want := map[string]ack{}
			for _, a := range tt.acked {
				want[a.id] = a
			}
			for _, r := range got.Requirements {
				a, ok := want[r.ID]
				assert.Equal(t, ok, r.Acknowledged, r.ID)
				if !ok {
					assert.Nil(t, r.Acknowledgment, r.ID)
					continue
				}
				require.NotNil(t, r.Acknowledgment, r.ID)
				assert.Equal(t, Acknowledgment{By: a.by, At: at, Warning: a.warning}, *r.Acknowledgment, r.ID)
			}
		})
	}
}

func TestDecisionAcknowledgeKeepsTheFirst(t *testing.T) {
	d := mustRun(t, Options{Acknowledge: []string{"warn"}}, spec(newReq("warn", exit(2)), newReq("fail", exit(1))))
	first := *d.Requirements[0].Acknowledgment
	d1, err := d.Acknowledge([]string{"fail"}, nil, "ana", time.Time{})
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), d1.Requirements[1].Acknowledgment.At, time.Minute, "a zero time means now")
	d2, err := d1.Acknowledge([]string{"fail", "warn"}, nil, "bo", time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, first, *d2.Requirements[0].Acknowledgment, "acknowledged with the run: kept")
	assert.Equal(t, "ana", d2.Requirements[1].Acknowledgment.By, "acknowledged first by ana: kept")
	assert.Equal(t, GatePass, d2.Gate)
}

func TestDecisionAcknowledgeRefusesInterrupted(t *testing.T) {
	d := &Decision{Gate: GateBlocked, Error: "run interrupted: context canceled",
		Requirements: []RequirementResult{{ID: "a", Status: StatusWarn}}}
	got, err := d.Acknowledge([]string{"a"}, nil, "ana", time.Time{})
	require.Error(t, err)
	assert.Nil(t, got)
	assert.Contains(t, err.Error(), "the run was interrupted")
	var nilDecision *Decision
	_, err = nilDecision.Acknowledge([]string{"a"}, nil, "ana", time.Time{})
	assert.Error(t, err)
}

func unjoinAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

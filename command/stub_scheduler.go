package command

// Placeholder until the scheduler command lands (owner: scheduler). Delete this file.

import (
	"encoding/json"
	"errors"
)

type schedulerCommand struct{}

func (schedulerCommand) Prepare(json.RawMessage, SpecContext) (Prepared, error) {
	return nil, errors.New("not implemented")
}

package command

// Placeholder until the kubernetes command lands (owner: kubernetes command). Delete this file.

import (
	"encoding/json"
	"errors"
)

type kubernetesCommand struct{}

func (kubernetesCommand) Prepare(json.RawMessage, SpecContext) (Prepared, error) {
	return nil, errors.New("not implemented")
}

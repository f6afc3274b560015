package command

// Placeholders until the host commands land (owner: host commands). Delete this file.

import (
	"encoding/json"
	"errors"
)

type httpCommand struct{}

var errNotImplemented = errors.New("not implemented")

func (httpCommand) Prepare(json.RawMessage, SpecContext) (Prepared, error) {
	return nil, errNotImplemented
}

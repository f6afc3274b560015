package command

// Placeholders until the host commands land (owner: host commands). Delete this file.

import (
	"encoding/json"
	"errors"
)

type diskSpaceCommand struct{ total bool }
type httpCommand struct{}

var errNotImplemented = errors.New("not implemented")

func (diskSpaceCommand) Prepare(json.RawMessage, SpecContext) (Prepared, error) {
	return nil, errNotImplemented
}
func (httpCommand) Prepare(json.RawMessage, SpecContext) (Prepared, error) {
	return nil, errNotImplemented
}

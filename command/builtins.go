package command

// builtins lists the library's commands by id. Each implementation file adds itself here.
func builtins() map[string]Command {
	return map[string]Command{}
}

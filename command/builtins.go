package command

// builtins lists the library's commands by id.
func builtins() map[string]Command {
	return map[string]Command{
		"exec":                 execCommand{},
		"tcp_dial":             tcpDialCommand{},
		"port_available":       portAvailableCommand{},
		"disk_space_available": diskSpaceCommand{total: false},
		"disk_space_total":     diskSpaceCommand{total: true},
		"http":                 httpCommand{},
		"scheduler":            schedulerCommand{},
		"kubernetes":           kubernetesCommand{},
		"raw":                  rawCommand{},
		"logs":                 logsCommand{},
		"dry_run":              dryRunCommand{},
		"cluster_info":         clusterInfoCommand{},
	}
}

// Package podrun is the pod machinery behind the scheduler command: it turns a pod template
// into check pods (one, or one per node as a DaemonSet would place them), checks up front
// that the caller may create, watch, read and delete them, creates them with bounded
// concurrency (a fan-out may roll: a few nodes at a time, in a stable order, stopping when
// Job.OnTarget says so), waits for them with one watch per namespace and run, fails fast with the
// cluster's own words (unschedulable, image pull errors, sandbox failures, admission
// denials), reads their exit code and output, and deletes them, always.
//
// A Client serves one run: it owns the run's clientset (built on a copy of the caller's
// rest.Config with the run's QPS and burst), the pod informer and the events watch of each
// namespace the run uses, the memoised permission checks and the run-wide bound on pods in
// flight. Client.Close deletes every pod of the run that is still alive and waits, bounded by
// its context, until they are gone.
//
// The package imports nothing else of this module; command.schedulerCommand adapts it.
package podrun

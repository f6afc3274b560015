// Package upgrade proves the upgrade-gating example specs (examples/upgrade-*.yaml,
// examples/rook-ceph-teardown.yaml, examples/cluster-capacity.yaml, examples/node-steps.yaml):
// offline, by evaluating recorded outputs (the way a vendor unit-tests a spec), and end to
// end on the project's real cluster (build tag e2e): the wait-until-upgradeable retry, the
// kubernetes command on built-in and custom resources, depends_on ordering, a node-level
// step on the real node's host, and a vendor's written upgrade guide as one spec
// (examples/upgrade-guide.yaml: a scale-down wait, a wait for quiet logs, a dry run of the
// new manifests, and the post-upgrade verification), with the benchmarks of the logs and
// dry_run commands against bare client-go loops.
//
// The package holds only tests.
package upgrade

// Package upgrade proves the upgrade-gating example specs (examples/upgrade-*.yaml,
// examples/rook-ceph-teardown.yaml, examples/cluster-capacity.yaml, examples/node-steps.yaml):
// offline, by evaluating recorded outputs (the way a vendor unit-tests a spec), and end to
// end on the project's real cluster (build tag e2e): the wait-until-upgradeable retry, the
// kubernetes command on built-in and custom resources, depends_on ordering and a node-level
// step on the real node's host.
//
// The package holds only tests.
package upgrade

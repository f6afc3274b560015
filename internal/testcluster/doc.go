// Package testcluster starts, reuses, reports and stops the real Kubernetes cluster that the
// project's end-to-end tests run against, on the machine that runs them.
//
// The cluster is made of processes on this machine, built from Go modules (see tools/) and
// Debian packages (see install-deps.sh), with nothing downloaded from anywhere else; nothing
// of it is reachable from outside the machine:
//
//   - etcd, kube-apiserver (authorization Node,RBAC; admission defaults, so Pod Security is
//     enforced), kube-controller-manager and kube-scheduler, reporting version v1.36.3;
//   - one real node, RealNodeName: a kubelet inside a network namespace of its own (so that
//     the node has an address and the logs API works), containerd, runc and CNI bridge
//     networking; pods really run on it and exit with a code;
//   - a container registry on loopback that serves the images tests may use (BusyboxImage,
//     PauseImage); containerd resolves docker.io and registry.k8s.io names through it only,
//     so `image: busybox` pulls for real and an unknown image fails with ErrImagePull;
//   - a service network (network.go): kube-proxy and routes, so that pods reach the
//     apiserver through the kubernetes Service with in-cluster config, and the apiserver
//     reaches pod IPs (services/proxy); Up applies it to a running cluster without a restart;
//   - kwok, which simulates any number of tainted nodes (EnsureKwokNodes) whose pods complete
//     with the exit code that their ExitCodeAnnotation asks for.
//
// Up starts the cluster, or reuses the one that is running; Down stops it and leaves no
// process, mount or network namespace behind. Both need root. The command
// ./cmd/testcluster (up, down, status, env) wraps them for people and scripts, and
// ForTestMain wraps them for the TestMain of end-to-end tests, which may also be pointed at
// any other cluster with KUBECONFIG.
package testcluster

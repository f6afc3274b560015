#!/usr/bin/env bash
# install-deps.sh installs the Debian packages the tests need: what the test cluster's node
# needs (containerd, runc, CNI plugins, busybox-static for the busybox image, iproute2 for the
# network namespace, iptables for kube-proxy and the service network's guard chain, gcc for
# the pause image), and headless Chromium with a font for the example console's browser test
# (examples/console). It is idempotent: when every package is
# installed it returns at once, without apt-get update.
set -euo pipefail
pkgs=(containerd runc containernetworking-plugins busybox-static iproute2 iptables util-linux mount gcc libc6-dev procps
	chromium fonts-liberation)
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: missing packages ${missing[*]}; run as root" >&2
	exit 1
fi
echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts containerd as a system service with the default config; the test
# cluster runs its own containerd with its own sockets and directories, so stop that one.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet containerd 2>/dev/null; then
	systemctl stop containerd || true
	systemctl disable containerd >/dev/null 2>&1 || true
fi

#!/usr/bin/env bash
# What `nox -s cluster` needs on this machine, installed or built once and then cached:
# - from Debian: dockerd (the builder `mlscale up` uses), runc (containerd's runtime), the CNI
#   plugins (bridge, host-local, portmap), conntrack and iptables for kube-proxy, mmdebstrap for the
#   stand-in base image, docker-registry for --registry, gcc for the pause program, openssl;
# - from the Go module proxy (tests/go/build.sh, each pinned by its go.mod): the current Kubernetes
#   release (kubelet, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, kubectl,
#   built `providerless`: nothing in them probes a cloud metadata address), etcd, containerd 2.x,
#   metrics-server and CoreDNS (with only the plugins the cluster uses); Prometheus 3 (Kubernetes
#   discovery only), kube-state-metrics and KEDA 2.16.1 (operator, metrics API server) for the
#   monitoring and queue-policy tests; VictoriaLogs and vlagent for the chart's logs option.
set -euo pipefail

CACHE=${MLSCALE_K8S_CACHE:-/var/cache/mlscale-k8s}
here=$(cd "$(dirname "$0")" && pwd)

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v runc >/dev/null || missing+=(runc)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/portmap ]] || missing+=(containernetworking-plugins)
command -v conntrack >/dev/null || missing+=(conntrack)
command -v iptables >/dev/null || missing+=(iptables)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v docker-registry >/dev/null || missing+=(docker-registry)
if ((${#missing[@]})); then
    apt-get update -qq
    # No package may start a system service (dockerd, containerd, docker-registry): the tests
    # start what they need with their own options, and stop it.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash "$here/../k8s/prepare.sh"  # openssl, gcc, and the control plane with etcd
bash "$here/../go/build.sh" kubernetes containerd metrics-server coredns prometheus kube-state-metrics keda victorialogs

# What the Kubernetes 1.20 cluster this one replaced left in the cache (Debian's source and its
# build, about 4 GB): not needed any more.
rm -rf "$CACHE/src" "$CACHE/apt" "$CACHE/bin" "$CACHE/go-cache"

# The stand-in for Docker Hub's python:3.11-slim (which cannot be pulled here): a minimal bookworm
# whose /usr/local is a venv, so it has the official image's layout (/usr/local/bin/python, its own
# site-packages, no PEP 668 block) and the Dockerfiles need no change. The machine's own CA
# certificates go in with it: pip inside a build container verifies TLS against them.
BASE=$CACHE/base/python-3.11-slim.tar
if [[ ! -s $BASE ]]; then
    started=$(date +%s)
    mirror=$(sed -n 's/^URIs: *\(.*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    mkdir -p "$CACHE/base"
    mmdebstrap --quiet --format=tar --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
        --customize-hook='chroot "$1" python3 -m venv /usr/local' \
        --customize-hook='for c in /usr/local/share/ca-certificates/*.crt; do [ -e "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"; done; true' \
        --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        bookworm "$BASE.partial" ${mirror:+"$mirror"}
    mv "$BASE.partial" "$BASE"
    echo "cluster: built the stand-in base image's root filesystem in $(( $(date +%s) - started )) s"
fi

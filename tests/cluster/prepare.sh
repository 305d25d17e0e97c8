#!/usr/bin/env bash
# What `nox -s cluster` needs on this machine, installed or built once and then cached:
# - Debian's container runtime and CNI plugins (dockerd, runc, bridge/host-local), conntrack and
#   iptables for kube-proxy, mmdebstrap for the stand-in base image, docker-registry for --registry;
# - kubelet (with its built-in dockershim), kube-scheduler and kube-proxy from the same Debian
#   kubernetes 1.20.2 source that tests/k8s/prepare.sh builds the control plane from, built with
#   the `providerless` tag: no cloud provider and no cloud credential provider is compiled in, so
#   nothing in them probes a cloud metadata address (169.254.169.254) at start. The kubelet of 1.20
#   links its image-credential providers (AWS ECR, Azure ACR, GCR) whatever the tag, and the ECR
#   one asks the EC2 metadata address for credentials: their imports are removed before the build;
# - the pause image's program (build/pause/linux/pause.c in that source), compiled statically.
set -euo pipefail

CACHE=${MLSCALE_K8S_CACHE:-/var/cache/mlscale-k8s}
BIN=$CACHE/bin
here=$(cd "$(dirname "$0")" && pwd)

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v runc >/dev/null || missing+=(runc)
[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
command -v conntrack >/dev/null || missing+=(conntrack)
command -v socat >/dev/null || missing+=(socat)  # the dockershim's port-forward runs socat in the pod's netns
command -v iptables >/dev/null || missing+=(iptables)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
if ((${#missing[@]})); then
    apt-get update -qq
    # dockerd must not start as a system service: the tests start it with their own options.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash "$here/../k8s/prepare.sh"  # the source tree, the Go toolchain and the control plane

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

RECIPE="providerless, no credential providers, v1"  # change it to rebuild the node's programs
if [[ -x $BIN/kubelet && -x $BIN/kube-scheduler && -x $BIN/kube-proxy && -x $BIN/pause
      && "$(cat "$BIN/node.recipe" 2>/dev/null)" == "$RECIPE" ]]; then
    echo "cluster: cached binaries in $BIN"
    exit 0
fi
started=$(date +%s)
GO_BIN=/usr/lib/go-1.19/bin  # Debian's Go, which built Kubernetes 1.20 (tests/k8s/prepare.sh says why)
if [[ ! -x $GO_BIN/go ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-1.19-go >/dev/null
fi
cd "$CACHE/src/tree"
version=$(dpkg-parsechangelog -S Version | sed 's/.*really//; s/-.*//')
export KUBE_GIT_VERSION="v$version" KUBE_GIT_MAJOR="${version%%.*}" KUBE_GIT_TREE_STATE=clean
export KUBE_GIT_MINOR=$(echo "$version" | cut -d. -f2) KUBE_GIT_COMMIT=0000000000000000000000000000000000000000
export GO111MODULE=on GOPROXY=off GOCACHE=$CACHE/go-cache GOTOOLCHAIN=local
export PATH="$GO_BIN:$PATH"
sed -i -E '/_ "k8s.io\/kubernetes\/pkg\/credentialprovider\/(aws|azure|gcp)"/d' \
    cmd/kubelet/app/plugins.go cmd/kubelet/app/options/globalflags.go
make WHAT="cmd/kubelet cmd/kube-scheduler cmd/kube-proxy" GOFLAGS="-mod=vendor -tags=providerless"
gcc -Os -static -DVERSION=v3.2-mlscale -o _output/bin/pause build/pause/linux/pause.c
cp _output/bin/kubelet _output/bin/kube-scheduler _output/bin/kube-proxy _output/bin/pause "$BIN/"
echo "$RECIPE" > "$BIN/node.recipe"
echo "cluster: built kubelet, kube-scheduler, kube-proxy (providerless) and pause in $(( $(date +%s) - started )) s"

#!/usr/bin/env bash
# What `nox -s k8s` needs: kube-apiserver, kube-controller-manager (the current Kubernetes release)
# and etcd, built from the Go module proxy by tests/go/build.sh once per machine; later runs find
# them in the cache and skip the build. openssl makes the control plane's certificates.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)  # the pause program, compiled statically
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$here/../go/build.sh" kubernetes etcd

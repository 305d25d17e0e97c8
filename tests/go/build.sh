#!/usr/bin/env bash
# Build the cluster's programs from the Go module proxy, each from its own module in this folder
# (go.mod and go.sum pin every version), into $CACHE/programs, once per machine: a program is
# rebuilt only when its module or this script changes.
#
#   bash tests/go/build.sh kubernetes etcd        # what tests/k8s needs
#   bash tests/go/build.sh kubernetes etcd containerd metrics-server coredns   # tests/cluster
#
# Everything is built with CGO off, static and stripped; Kubernetes with `providerless`, so no
# cloud provider or cloud credential provider is compiled in and nothing probes a cloud metadata
# address (169.254.169.254) at start.
set -euo pipefail
shopt -s nullglob  # a module without Go files of its own (most) has none to stamp

CACHE=${MLSCALE_K8S_CACHE:-/var/cache/mlscale-k8s}
OUT=$CACHE/programs
here=$(cd "$(dirname "$0")" && pwd)
export GOCACHE=$CACHE/go-build GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath"
export PATH="/usr/local/go/bin:$PATH"
mkdir -p "$OUT"

module_version() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }  # as its go.mod pins it

build() {  # build MODULE OUTPUT-NAMES... -- go build arguments
    local module=$1; shift
    local names=() args=()
    while [[ $1 != -- ]]; do names+=("$1"); shift; done; shift
    args=("$@")
    local stamp
    stamp=$(cat "$0" "$here/$module"/go.mod "$here/$module"/go.sum "$here/$module"/*.go | sha256sum | cut -c1-16)
    local complete=1
    for name in "${names[@]}"; do [[ -x $OUT/$name ]] || complete=0; done
    if ((complete)) && [[ "$(cat "$OUT/$module.stamp" 2>/dev/null)" == "$stamp" ]]; then
        echo "programs: $module cached in $OUT"
        return
    fi
    local started=$SECONDS
    (cd "$here/$module" && go build "${args[@]}")
    echo "$stamp" > "$OUT/$module.stamp"
    echo "programs: built ${names[*]} in $((SECONDS - started)) s"
}

version_flags() {
    local v minor pkg
    v=$(module_version kubernetes k8s.io/kubernetes)
    minor=$(echo "$v" | cut -d. -f2)
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
            "$pkg" "$v" "$pkg" "$pkg" "$minor" "$pkg"
        printf -- '-X %s.gitCommit=0000000000000000000000000000000000000000 -X %s.buildDate=1970-01-01T00:00:00Z ' "$pkg" "$pkg"
    done
}

for want in "$@"; do
    case $want in
    kubernetes)
        build kubernetes kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl -- \
            -o "$OUT/" -tags=providerless -ldflags "-s -w $(version_flags)" \
            k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
            k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy \
            k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl
        # The pause program from the same release (build/pause/linux/pause.c), compiled statically.
        if [[ ! -x $OUT/pause || $OUT/pause -ot $OUT/kubernetes.stamp ]]; then
            src=$(cd "$here/kubernetes" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
            gcc -Os -static -DVERSION="$(module_version kubernetes k8s.io/kubernetes)-mlscale" -o "$OUT/pause" "$src/build/pause/linux/pause.c"
        fi
        ;;
    etcd)
        build etcd etcd -- -o "$OUT/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3
        ;;
    containerd)
        build containerd containerd containerd-shim-runc-v2 ctr -- \
            -o "$OUT/" -tags "no_btrfs no_devmapper no_zfs" -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$(module_version containerd github.com/containerd/containerd/v2 | sed 's/^v//')" \
            github.com/containerd/containerd/v2/cmd/containerd \
            github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
            github.com/containerd/containerd/v2/cmd/ctr
        ;;
    metrics-server)
        build metrics-server metrics-server -- -o "$OUT/" -ldflags "-s -w" sigs.k8s.io/metrics-server/cmd/metrics-server
        ;;
    coredns)
        build coredns coredns -- -ldflags "-s -w" -o "$OUT/coredns" .
        ;;
    prometheus)
        # Only Kubernetes service discovery (`remove_all_sd`): no cloud discovery compiled in. The
        # web UI's assets are not embedded; the HTTP API is what the tests read.
        build prometheus prometheus -- -o "$OUT/prometheus" -tags "remove_all_sd enable_kubernetes_sd" \
            -ldflags "-s -w -X github.com/prometheus/common/version.Version=$(module_version prometheus github.com/prometheus/prometheus | sed 's/^v0\.\([0-9]\)\([0-9]*\)\./3.\2./')" \
            github.com/prometheus/prometheus/cmd/prometheus
        ;;
    kube-state-metrics)
        build kube-state-metrics kube-state-metrics -- -o "$OUT/kube-state-metrics" -ldflags "-s -w" k8s.io/kube-state-metrics/v2
        ;;
    keda)
        build keda keda keda-adapter -- -o "$OUT/keda" -ldflags "-s -w -X github.com/kedacore/keda/v2/version.Version=$(module_version keda github.com/kedacore/keda/v2 | sed 's/^v//')" \
            github.com/kedacore/keda/v2/cmd/operator
        (cd "$here/keda" && go build -o "$OUT/keda-adapter" -ldflags "-s -w" github.com/kedacore/keda/v2/cmd/adapter)
        ;;
    victorialogs)
        build victorialogs victoria-logs vlagent -- -o "$OUT/" -ldflags "-s -w" \
            github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs github.com/VictoriaMetrics/VictoriaLogs/app/vlagent
        ;;
    *) echo "build.sh: no program named $want" >&2; exit 2 ;;
    esac
done

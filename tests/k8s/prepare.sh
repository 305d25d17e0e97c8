#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager from Debian's kubernetes source package (1.20.2,
# Go dependencies vendored), once per machine: later runs find them in the cache and skip the build.
#
# The source comes through a private apt configuration with a deb-src line for bookworm, on the
# mirror this machine's own apt already uses; the machine's sources are left alone.
set -euo pipefail

CACHE=${MLSCALE_K8S_CACHE:-/var/cache/mlscale-k8s}
BIN=$CACHE/bin
if [[ -x $BIN/kube-apiserver && -x $BIN/kube-controller-manager ]]; then
    echo "k8s testbed: cached binaries in $BIN"
    exit 0
fi
started=$(date +%s)

# Kubernetes 1.20's vendored code is built with the Go Debian 12 built it with (1.19), not
# whichever `go` is first on PATH (now Go 1.26 at /usr/local/go, which 1.20 is not known to build with).
GO_BIN=/usr/lib/go-1.19/bin
missing=()
[[ -x $GO_BIN/go ]] || missing+=(golang-1.19-go)
command -v etcd >/dev/null || missing+=(etcd-server)
command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
command -v openssl >/dev/null || missing+=(openssl)
command -v make >/dev/null || missing+=(make)
command -v rsync >/dev/null || missing+=(rsync)  # the build copies generated code with it
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mirror=$(sed -n 's/^URIs: *\(.*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
if [[ -z $mirror ]]; then
    mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[[ -n $mirror ]] || { echo "no Debian mirror found in this machine's apt sources" >&2; exit 1; }

apt_dir=$CACHE/apt
mkdir -p "$apt_dir/lists/partial" "$CACHE/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" > "$apt_dir/sources.list"
private=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
         -o "Dir::State::Lists=$apt_dir/lists")
apt-get -qq "${private[@]}" update
cd "$CACHE/src"
ls kubernetes_*.dsc >/dev/null 2>&1 || apt-get -qq "${private[@]}" source --download-only kubernetes
rm -rf tree
dpkg-source --no-check -x kubernetes_*.dsc tree >/dev/null
cd tree

# hack/lib/version.sh reads these instead of asking git (the source package has no .git).
version=$(dpkg-parsechangelog -S Version | sed 's/.*really//; s/-.*//')
export KUBE_GIT_VERSION="v$version" KUBE_GIT_MAJOR="${version%%.*}" KUBE_GIT_TREE_STATE=clean
export KUBE_GIT_MINOR=$(echo "$version" | cut -d. -f2) KUBE_GIT_COMMIT=0000000000000000000000000000000000000000
export GOFLAGS=-mod=vendor GO111MODULE=on GOPROXY=off GOCACHE=$CACHE/go-cache GOTOOLCHAIN=local
export PATH="$GO_BIN:$PATH"
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager"

mkdir -p "$BIN"
cp _output/bin/kube-apiserver _output/bin/kube-controller-manager "$BIN/"
echo "k8s testbed: built kube-apiserver and kube-controller-manager $KUBE_GIT_VERSION in $(( $(date +%s) - started )) s"

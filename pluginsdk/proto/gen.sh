#!/usr/bin/env bash
# Regenerates the Go code for the tasker plugin protocol.
#
# Installs pinned code generators into <repo>/bin/tools (through the Go
# module proxy only) and runs `buf generate` with local plugins; no remote
# plugins and no BSR dependencies are used. The generated code is committed,
# so a normal build never needs these tools.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
tools="${repo}/bin/tools"

BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

mkdir -p "${tools}"

# install <binary> <module path>@<version>: skips the install when the pinned
# version is already present (recorded in a stamp file next to the binary).
install() {
	local bin="$1" pkg="$2"
	local stamp="${tools}/.${bin}.version"
	if [[ -x "${tools}/${bin}" && -f "${stamp}" && "$(cat "${stamp}")" == "${pkg}" ]]; then
		return
	fi
	echo "installing ${pkg}" >&2
	(cd "${repo}" && GOBIN="${tools}" go install "${pkg}")
	echo "${pkg}" >"${stamp}"
}

install buf github.com/bufbuild/buf/cmd/buf@"${BUF_VERSION}"
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@"${PROTOC_GEN_GO_VERSION}"
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@"${PROTOC_GEN_GO_GRPC_VERSION}"

cd "${here}"
rm -rf pluginv1
PATH="${tools}:${PATH}" BUF_CACHE_DIR="${repo}/bin/tools/.buf-cache" "${tools}/buf" generate
echo "generated ${here#"${repo}/"}/pluginv1" >&2

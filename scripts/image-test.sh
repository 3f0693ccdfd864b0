#!/usr/bin/env bash
# Builds the container image from the Dockerfile with podman and runs it the way a
# Container Apps job does: as its own non-root user, with a read-only root file system
# and a writable TMPDIR. A first run from the image against Azurite and the sandbox
# Graph (both on loopback; the container shares the host network) must land exactly the
# sandbox's ground truth (tests/image/run.test.js). Prints the image size and timings.
#
# No registry needed: when there is no debian:12-slim image, one is made with
# debootstrap (minbase, trimmed like the slim image) from the host's Debian mirror and
# cached under build-image/. The build reaches the package mirrors the way this host
# does: its apt sources, its apt settings (99*) and its CA certificates are mounted
# into the build steps, never copied into the context or the layers.
#
# Runs as root (debootstrap, mounts). Environment: TA_IMAGE (tag, default
# localhost/teams-attendance:test), TA_IMAGE_CACHE (default build-image/),
# TA_IMAGE_STORAGE_DRIVER (podman's storage driver; default overlay, else vfs),
# TA_IMAGE_RUN_MODE (podman | chroot; default: podman when it can run containers here).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
t_start=$(date +%s)
image=${TA_IMAGE:-localhost/teams-attendance:test}
base=debian:12-slim
cache=${TA_IMAGE_CACHE:-$repo/build-image}

say() { echo "image-test: $*"; }
die() { echo "image-test: $*" >&2; exit 1; }

# containers/storage unpacks every layer from a mount namespace of its own after making
# / private, which fails where / is not a mount point, as in a plain chroot ("remount /,
# flags: 0x44000: invalid argument"). There, run again from a private mount namespace
# whose root is a bind mount of /; everything mounted in it goes away with it.
if [ -z "${TA_IMAGE_REBOUND:-}" ] && [ "$(id -u)" = 0 ] \
  && ! unshare --mount --propagation unchanged mount --make-private / 2>/dev/null; then
  nr=$(mktemp -d /tmp/ta-image-root.XXXXXX)
  # A mount made there from a new namespace must not show up here: if the file system
  # that holds / passed it on, the bind mount of / would leak out to the host.
  unshare --mount --propagation unchanged mount -t tmpfs ta-image-probe "$nr"
  if [ "$(stat -c %d "$nr")" != "$(stat -c %d "$(dirname "$nr")")" ]; then
    umount "$nr"; rmdir "$nr"
    die "/ is not a mount point and mounts under it propagate to the host: bind-mount the chroot onto itself before entering it"
  fi
  say "/ is not a mount point (a chroot?): running from a bind mount of / in a private mount namespace"
  rc=0
  # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
  unshare --mount --propagation unchanged sh -c \
    'mount --rbind / "$1" && mount --make-rprivate "$1" && exec chroot "$1" env TA_IMAGE_REBOUND=1 "$2/scripts/image-test.sh"' \
    sh "$nr" "$repo" || rc=$?
  rmdir "$nr" 2>/dev/null || true
  exit "$rc"
fi

command -v podman >/dev/null || die "podman is missing (scripts/install-deps.sh installs it)"
command -v node >/dev/null || die "node is missing (scripts/install-deps.sh installs it)"
[ -d node_modules/azurite ] || die "node_modules is missing (scripts/install-deps.sh runs npm ci)"

mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/ta-image.XXXXXX")
ctrs=()
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  for c in "${ctrs[@]}"; do
    "${pm[@]}" umount "$c" >/dev/null 2>&1 || true
    "${pm[@]}" rm -f "$c" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
pm=(podman)
trap cleanup EXIT INT TERM

# overlay needs a file system it can stack on; inside some containers and chroots
# only vfs works (slower, more disk, same result).
if [ -n "${TA_IMAGE_STORAGE_DRIVER:-}" ]; then
  pm=(podman --storage-driver "$TA_IMAGE_STORAGE_DRIVER")
elif ! podman info >/dev/null 2>"$work/info.err"; then
  say "podman's default storage does not work here ($(head -c 300 "$work/info.err")); using vfs"
  pm=(podman --storage-driver vfs)
fi
"${pm[@]}" info >/dev/null || die "podman cannot open its storage"
say "podman $(podman --version | awk '{print $3}'), storage driver $("${pm[@]}" info --format '{{.Store.GraphDriverName}}')"

# ---------------------------------------------------------------- the base image
t0=$(date +%s)
if "${pm[@]}" image exists "$base"; then
  say "base $base: present"
elif timeout 60 "${pm[@]}" pull -q "docker.io/library/$base" >/dev/null 2>"$work/pull.err"; then
  say "base $base: pulled"
else
  say "base $base: no registry ($(grep -o 'dial tcp.*' "$work/pull.err" | head -c 120 || true)); built with debootstrap"
  tarball=$cache/bookworm-minbase-slim.tar
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || die "debootstrap is missing (scripts/install-deps.sh installs it)"
    [ "$(id -u)" = 0 ] || die "debootstrap needs root"
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    root=${work:?}/base
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap from $mirror failed"; }
    # What the official slim image leaves out: documentation, manuals, translations,
    # package lists and downloaded packages; and this host's name and resolver.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
      "$root"/var/log/* "$root"/tmp/* "${root:?}"/dev/* "$root"/etc/hostname "$root"/etc/apt/sources.list \
      "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/share/groff/* \
      "$root"/usr/share/lintian/*
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    : >"$root/etc/resolv.conf"
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    tar --numeric-owner -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$root"
  fi
  "${pm[@]}" import -q --change 'CMD ["bash"]' "$tarball" "$base" >/dev/null
  say "base $base: imported from $tarball"
fi
t_base=$(($(date +%s) - t0))

# ---------------------------------------------------------------- build
# Only mount points that already exist in the base, so the build steps leave no empty
# placeholder files behind in the layers: the sources directory, apt.conf.d (the base's
# own files plus this host's 99* settings and where its CA bundle is), and /mnt.
"${pm[@]}" rm -f ta-image-test-base >/dev/null 2>&1 || true
ctrs+=(ta-image-test-base)
"${pm[@]}" create -q --name ta-image-test-base "$base" true >/dev/null
mkdir -p "$work/apt/sources.list.d" "$work/apt/apt.conf.d" "$work/ca"
"${pm[@]}" cp ta-image-test-base:/etc/apt/apt.conf.d/. "$work/apt/apt.conf.d/"
"${pm[@]}" rm -f ta-image-test-base >/dev/null
cp /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list "$work/apt/sources.list.d/" 2>/dev/null || true
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$work/apt/sources.list.d/00-host.list"
[ -n "$(ls -A "$work/apt/sources.list.d")" ] || die "no apt sources on this host (/etc/apt/sources.list.d)"
for f in /etc/apt/apt.conf.d/99*; do [ -f "$f" ] && cp "$f" "$work/apt/apt.conf.d/"; done
# The base has no CA certificates of its own until it installs ca-certificates, so
# HTTPS mirrors are checked against this host's bundle and local CAs.
cat /etc/ssl/certs/ca-certificates.crt /usr/local/share/ca-certificates/*.crt >"$work/ca/ca-certificates.crt" 2>/dev/null || true
if [ -s "$work/ca/ca-certificates.crt" ]; then
  echo 'Acquire::https::CAInfo "/mnt/ca-certificates.crt";' >"$work/apt/apt.conf.d/99zz-image-build-ca"
fi
chmod -R a+rX "$work/apt" "$work/ca"

version=$(sed -nE 's/^project\(teams-attendance VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
source_url=$(git remote get-url origin 2>/dev/null || true)
[[ $source_url == https://* ]] || source_url=""
dangling_before=$("${pm[@]}" images -q --no-trunc --filter dangling=true | sort)
old_id=$("${pm[@]}" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
say "building $image (version $version)"
t0=$(date +%s)
# --layers=false: the build stage is not kept as an image of its own.
"${pm[@]}" build --isolation=chroot --layers=false --pull=never --network=host \
  --volume "$work/apt/sources.list.d:/etc/apt/sources.list.d:ro" \
  --volume "$work/apt/apt.conf.d:/etc/apt/apt.conf.d:ro" \
  --volume "$work/ca:/mnt:ro" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url" \
  -t "$image" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; die "podman build failed"; }
t_build=$(($(date +%s) - t0))
new_id=$("${pm[@]}" image inspect --format '{{.Id}}' "$image")
# A rebuild under the same tag leaves the previous image untagged: remove it. The build
# itself (--layers=false) must leave no untagged image behind.
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then "${pm[@]}" rmi "$old_id" >/dev/null 2>&1 || true; fi
left=$(comm -13 <(echo "$dangling_before") <("${pm[@]}" images -q --no-trunc --filter dangling=true | sort))
[ -z "$left" ] || die "the build left untagged images: $left"

# ---------------------------------------------------------------- what the image is
size=$("${pm[@]}" image inspect --format '{{.Size}}' "$image")
fmt=$'{{.Config.User}}\t{{json .Config.Entrypoint}}\t{{json .Config.Cmd}}\t{{json .Config.Env}}'
IFS=$'\t' read -r user entrypoint cmd env_json < <("${pm[@]}" image inspect --format "$fmt" "$image")
[ "$user" = 10001:10001 ] || die "image user is '$user', want 10001:10001"
[ "$entrypoint" = '["/usr/local/bin/teams-attendance"]' ] || die "entrypoint is $entrypoint"
[ "$cmd" = '["run"]' ] || die "cmd is $cmd"
grep -q '"TMPDIR=/tmp"' <<<"$env_json" || die "image environment lacks TMPDIR=/tmp: $env_json"
labels=$("${pm[@]}" image inspect --format '{{json .Labels}}' "$image")
for l in title description version revision; do
  node -e 'const l=JSON.parse(process.argv[1]); const v=l["org.opencontainers.image."+process.argv[2]]; process.exit(v ? 0 : 1)' \
    "$labels" "$l" || die "label org.opencontainers.image.$l is missing or empty: $labels"
done

cid=$("${pm[@]}" create --network host "$image")
ctrs+=("$cid")
rootfs=$("${pm[@]}" mount "$cid")
# The host's apt settings and CAs were only mounted into the build: none of them, nor
# an empty mount point for them, may be in the image.
for f in /etc/apt/apt.conf.d/99* /usr/local/share/ca-certificates/*; do
  [ -e "$f" ] || continue
  [ ! -e "$rootfs$f" ] || die "the image holds $f from the build host"
done
[ ! -e "$rootfs/etc/apt/apt.conf.d/99zz-image-build-ca" ] || die "the image holds the build's CA setting"
[ -z "$(ls -A "$rootfs/mnt")" ] || die "the image's /mnt is not empty: $(ls -A "$rootfs/mnt")"
for f in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$f" ] || continue
  pem=$(sed -n '/BEGIN CERT/,/END CERT/p' "$f" | grep -v -- '-----' | tr -d '\n' | head -c 200)
  [ -z "$pem" ] || ! tr -d '\n' <"$rootfs/etc/ssl/certs/ca-certificates.crt" | grep -qF "$pem" \
    || die "the image's CA bundle holds the build host's local CA $(basename "$f")"
done
grep -q '^attendance:x:10001:10001:' "$rootfs/etc/passwd" || die "no user attendance (10001:10001) in the image"
grep -q '^attendance:x:10001:' "$rootfs/etc/group" || die "no group attendance (10001) in the image"

# ---------------------------------------------------------------- how to run it here
# podman run when this host can run containers; otherwise (a chroot without cgroups,
# say) the image's root file system mounted read-only and entered with chroot as the
# image's user, which is what the container would be without namespaces.
run_mode=${TA_IMAGE_RUN_MODE:-}
run_opts=()
if [ -z "$run_mode" ] || [ "$run_mode" = podman ]; then
  # crun refuses hybrid cgroup hierarchies where runc copes; a runtime without
  # CAP_SYS_RESOURCE cannot raise the limits podman asks for, so try modest ones too;
  # a chroot may have no cgroup file system at all.
  hn=$(ulimit -Hn)
  runtimes=("")
  for rt in crun runc; do command -v "$rt" >/dev/null && runtimes+=("$rt"); done
  for rt in "${runtimes[@]}"; do
    for lim in "" "--ulimit nofile=$hn:$hn --ulimit nproc=4096:4096" "--cgroups=disabled --ulimit nofile=$hn:$hn --ulimit nproc=4096:4096"; do
      # shellcheck disable=SC2206 # the options are words by design
      opts=(${rt:+--runtime $rt} run --rm --network host --read-only $lim)
      if out=$("${pm[@]}" "${opts[@]}" --tmpfs /tmp "$image" --version 2>"$work/probe.1") \
        && [ "$out" = "teams-attendance $version" ]; then
        run_mode=podman
        run_opts=("${opts[@]}")
        break 2
      fi
      echo "  podman ${opts[*]}: $(grep -m1 -E '^Error|error' "$work/probe.1" | cut -c1-200)" >>"$work/probe.err"
    done
  done
  if [ "$run_mode" != podman ]; then
    [ -z "$run_mode" ] || { cat "$work/probe.err" >&2; die "podman run does not work here"; }
    say "podman run does not work here; running the image with chroot"
    cat "$work/probe.err"
    run_mode=chroot
  fi
fi
wrapper=$work/run-image
if [ "$run_mode" = podman ]; then
  # Every variable the wrapper gets goes into the container by name (values are never
  # on a command line); TA_IMAGE_TMPFS=0 leaves TMPDIR read-only like the rest.
  cat >"$wrapper" <<EOF
#!/usr/bin/env bash
set -euo pipefail
tmpfs=(--tmpfs /tmp:rw,nosuid,nodev,mode=1777)
[ "\${TA_IMAGE_TMPFS:-1}" = 1 ] || tmpfs=(--read-only-tmpfs=false)
envs=()
while IFS= read -r -d '' kv; do
  k=\${kv%%=*}
  case \$k in PATH|TA_IMAGE_TMPFS|PWD|SHLVL|_) ;; *) envs+=(--env "\$k") ;; esac
done < <(env -0)
exec ${pm[*]} ${run_opts[*]} "\${tmpfs[@]}" "\${envs[@]}" $image "\$@"
EOF
else
  [ "$(id -u)" = 0 ] || die "running the image with chroot needs root"
  ro=$work/rootfs
  mkdir -p "$ro"
  mount --bind "$rootfs" "$ro"; mounts+=("$ro")
  mount -o remount,bind,ro "$ro"
  mount --bind /dev "$ro/dev"; mounts+=("$ro/dev")
  mount -t proc proc "$ro/proc"; mounts+=("$ro/proc")
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ro/tmp"; mounts+=("$ro/tmp")
  # /etc/hosts and resolv.conf as the container would get them with the host network
  [ -e "$ro/etc/hosts" ] && { mount --bind /etc/hosts "$ro/etc/hosts"; mounts+=("$ro/etc/hosts"); }
  [ -e "$ro/etc/resolv.conf" ] && { mount --bind /etc/resolv.conf "$ro/etc/resolv.conf"; mounts+=("$ro/etc/resolv.conf"); }
  img_env=$(node -e 'for (const kv of JSON.parse(process.argv[1])) process.stdout.write(kv + "\0")' "$env_json" \
    | while IFS= read -r -d '' kv; do printf 'export %q\n' "$kv"; done)
  entrypoint_bin=$(node -e 'console.log(JSON.parse(process.argv[1]).join(" "))' "$entrypoint")
  # The settings (secrets among them) stay in the environment, never in an argument list.
  cat >"$wrapper" <<EOF
#!/usr/bin/env bash
set -euo pipefail
tmpfs=\${TA_IMAGE_TMPFS:-1}
unset TA_IMAGE_TMPFS OLDPWD
$img_env
# With TA_IMAGE_TMPFS=0, TMPDIR points at a folder of the read-only root instead.
[ "\$tmpfs" = 1 ] || export TMPDIR=/var/tmp
cd /
exec env -u PWD -u SHLVL -u _ chroot --userspec=10001:10001 $ro $entrypoint_bin "\$@"
EOF
fi
chmod +x "$wrapper"
say "running the image with $run_mode${run_opts[*]:+: podman ${run_opts[*]}}"

# ---------------------------------------------------------------- runs against the sandbox
t0=$(date +%s)
TA_IMAGE_RUN=$wrapper TA_IMAGE_RUN_MODE=$run_mode \
  node --test tests/image/run.test.js
t_run=$(($(date +%s) - t0))

size_mb=$(awk -v s="$size" 'BEGIN{printf "%.1f", s/1000000}')
say "image $image: $size_mb MB ($size bytes), run with $run_mode"
say "timing: base ${t_base}s, build ${t_build}s, runs ${t_run}s, total $(($(date +%s) - t_start))s"

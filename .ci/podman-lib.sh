# Sourced by .ci/container-check and .ci/compose-check: rootful podman from Debian's packages,
# set up for these machines, and stand-in images made from Debian packages where a registry's
# image cannot be pulled (none is reachable here). ../shared/container/README.md says why
# each setting is needed.

step() { echo "== $(basename "$0"): $*"; }
# podman 4.3 complains on every HEALTHCHECK container that there is no systemd; harmless.
quiet_systemd() { "$@" 2> >(grep -v 'systemd connection' >&2); }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# install_podman [PACKAGE...]: podman and what it needs here, and any extra Debian packages.
install_podman() {
  local wanted=(podman runc buildah mmdebstrap uidmap slirp4netns fuse-overlayfs
    containernetworking-plugins iptables catatonit curl "$@")
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  step "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_podman DIR: a private containers.conf in DIR, through CONTAINERS_CONF.
# crun refuses this host's cgroup layout and there is no systemd: runc, cgroupfs, file events;
# ulimits at or below what root may set here.
configure_podman() {
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
  nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
  cat > "$1/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF="$1/containers.conf"
}

# debian_sources SUITE: deb822 apt sources for Debian SUITE (its updates and security too) on the
# mirrors this machine's apt uses, read from apt at run time.
debian_sources() {
  local suite=$1 uri release
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | sort -u | while read -r uri release; do
    case "$release" in
      *-security) printf 'Types: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n\n' "$uri" "$suite" ;;
      *-*) ;;  # the same mirror as the suite's own
      *) printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n\n' "$uri" "$suite" "$suite" ;;
    esac
  done
}

# stand_in IMAGE PACKAGES LOG [options...]: IMAGE made from Debian packages (PACKAGES,
# comma-separated), unless podman has it already. --suite=NAME names the Debian release
# (bookworm unless given); options starting with --change go to podman import, the others to
# mmdebstrap.
stand_in() {
  local image=$1 packages=$2 log=$3
  shift 3
  podman image exists "$image" && return
  local suite=bookworm sources debootstrap=() import=()
  for option in "$@"; do
    case "$option" in
      --suite=*) suite=${option#--suite=} ;;
      --change=*) import+=("$option") ;;
      *) debootstrap+=("$option") ;;
    esac
  done
  step "making the stand-in $image from Debian $suite packages"
  sources=$log.sources
  debian_sources "$suite" > "$sources"
  [ -s "$sources" ] || { echo "no Debian apt source found" >&2; return 1; }
  mmdebstrap --variant=minbase --mode=root --format=tar --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "${debootstrap[@]}" "$suite" "$log.tar" "$sources" 2>"$log"
  # Imported only once whole: a failed build leaves no image for the next run to take.
  podman import --change 'ENV LANG=C.UTF-8' "${import[@]}" "$log.tar" "$image" >/dev/null
  rm -f "$log.tar"
}

# python_stand_in LOG: the python:3.X-slim image the Dockerfile's FROM names, made from the
# Debian release that ships that Python (3.11: bookworm, 3.13: trixie, as the official images).
# Like the official image: python and pip on PATH, pip under /usr/local (installed from the
# wheel python3-venv carries: Debian's python3-pip would bring Debian's packaging, which pip
# cannot upgrade for pipenv, and Debian's ensurepip refuses the system Python), allowed to
# install system-wide; it also trusts this network's extra CA certificates so
# that pip inside the build can reach the index.
python_stand_in() {
  local image suite
  image=$(awk '/^FROM python:/ {print $2; exit}' Dockerfile)
  case "$image" in
    python:3.11-slim) suite=bookworm ;;
    python:3.13-slim) suite=trixie ;;
    *) echo "no Debian release known to ship the Python of $image" >&2; return 1 ;;
  esac
  stand_in "docker.io/library/$image" python3,python3-venv,ca-certificates "$1" --suite="$suite" \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
    --customize-hook='chroot "$1" sh -c '"'"'wheel=$(ls /usr/share/python-wheels/pip-*.whl) && python3 "$wheel/pip" install --quiet --no-index --ignore-installed --root-user-action=ignore "$wheel"'"'"'' \
    --customize-hook='ln -sf python3 "$1"/usr/bin/python' \
    --customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1"/usr/local/share/ca-certificates/ 2>/dev/null || true; chroot "$1" update-ca-certificates >/dev/null' \
    --change='ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change='ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change='CMD ["python3"]'
}

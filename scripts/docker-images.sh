#!/usr/bin/env bash
# Local Docker images for the tests and the offline image build, made without any image registry:
#
#   scripts/docker-images.sh redis   fanout-test/redis:local  redis-server + redis-cli from this host
#   scripts/docker-images.sh node    fanout-test/node:20-local  node + npm from this host, a `node` user
#   scripts/docker-images.sh app     fanout:local  the Dockerfile's `runtime-prebuilt` target, from this
#                                    host's build (run `npm ci && npm run build` first)
#   scripts/docker-images.sh all     the three
#
# The base images are root file systems made from this host's own binaries and the shared libraries
# `ldd` lists for them, imported with `docker import`; each is rebuilt only when missing, or when
# FANOUT_IMAGES_REBUILD=1. The app image's production node_modules come from `npm ci --omit=dev
# --offline` in a staging directory (.tmp/image), served from the npm cache the host's `npm ci` filled,
# so nothing inside the build needs the registry. Needs a Docker engine (`docker info`).
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_IMAGE=${FANOUT_TEST_REDIS_IMAGE:-fanout-test/redis:local}
NODE_IMAGE=${FANOUT_TEST_NODE_IMAGE:-fanout-test/node:20-local}
APP_IMAGE=${FANOUT_TEST_APP_IMAGE:-fanout:local}
LIBC_DIR=/lib/x86_64-linux-gnu

have_image() { [ "${FANOUT_IMAGES_REBUILD:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

# Copies each binary (symlinks resolved) and every shared library ldd lists for it into root $1.
copy_binaries() {
  local root=$1 bin lib
  shift
  for bin in "$@"; do
    install -D -m 0755 "$(readlink -f "$bin")" "$root$bin"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
      [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
    done
  done
}

# The skeleton every image gets: /bin/sh (dash) and a few tools, /etc/passwd, /etc/group, /tmp.
skeleton() {
  local root=$1
  chmod 0755 "$root"
  copy_binaries "$root" /bin/sh /usr/bin/env /bin/rm /bin/mkdir /bin/cat /bin/ls
  mkdir -p "$root/etc" "$root/tmp" "$root/root"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nredis:x:999:999::/data:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nredis:x:999:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

import_root() {
  local root=$1 image=$2
  shift 2
  tar -C "$root" -c . | docker import "$@" - "$image" >/dev/null
  echo "imported $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
}

build_redis() {
  if have_image "$REDIS_IMAGE"; then echo "$REDIS_IMAGE is there"; return; fi
  command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install -y redis-server)" >&2; exit 1; }
  local root
  root=$(mktemp -d)
  skeleton "$root"
  copy_binaries "$root" "$(command -v redis-server)" "$(command -v redis-cli)"
  mkdir -p "$root/data" "$root/usr/local/bin"
  # Like the official image: protected mode off (the published port is the boundary), so that clients on
  # the container network or behind a published port are answered; a config file stays the first argument.
  cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
if [ "$1" = redis-server ]; then
  shift
  if [ -n "$1" ] && [ "${1#-}" = "$1" ]; then conf=$1; shift; exec redis-server "$conf" --protected-mode no "$@"; fi
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
EOF
  chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
  import_root "$root" "$REDIS_IMAGE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /data' \
    --change 'EXPOSE 6379' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["redis-server"]'
  rm -rf "$root"
}

build_node() {
  if have_image "$NODE_IMAGE"; then echo "$NODE_IMAGE is there"; return; fi
  local root npm_dir
  root=$(mktemp -d)
  skeleton "$root"
  copy_binaries "$root" "$(command -v node)"
  mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/bin" "$root/home/node"
  [ -e "$root/usr/local/bin/node" ] || ln -s "$(command -v node)" "$root/usr/local/bin/node"
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  chown 1000:1000 "$root/home/node"
  import_root "$root" "$NODE_IMAGE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]'
  rm -rf "$root"
}

# .tmp/image: package manifests, every workspace's dist and production node_modules, as a build context.
stage_app() {
  local stage=.tmp/image dir
  [ -f apps/cli/dist/main.js ] && [ -d apps/gateway/dist/public ] || { echo "build first: npm ci && npm run build" >&2; exit 1; }
  rm -rf "$stage"
  mkdir -p "$stage"
  cp package.json package-lock.json "$stage/"
  # Each workspace as the Dockerfile's build stage leaves it: everything but src, test, node_modules and
  # the dashboard's sources (dist, and files read at run time such as libs/bus/lua).
  for dir in libs/* apps/*; do
    [ -f "$dir/package.json" ] || continue
    mkdir -p "$stage/$dir"
    tar -C "$dir" -c --exclude=./src --exclude=./test --exclude=./node_modules --exclude=./dashboard . | tar -C "$stage/$dir" -x
  done
  # The root package's own dependency is @fanout/cli (a workspace): nothing is fetched.
  (cd "$stage" && npm ci --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error)
  find "$stage" -name '*.tsbuildinfo' -delete
  : >"$stage/.dockerignore"
}

build_app() {
  have_image "$NODE_IMAGE" || build_node
  stage_app
  docker build -q -f Dockerfile --target runtime-prebuilt --build-arg "NODE_IMAGE=$NODE_IMAGE" -t "$APP_IMAGE" .tmp/image >/dev/null
  echo "built $APP_IMAGE from .tmp/image"
}

case "${1:-all}" in
  redis) build_redis ;;
  node) build_node ;;
  app) build_app ;;
  all) build_redis; build_node; build_app ;;
  *) echo "usage: $0 redis|node|app|all" >&2; exit 2 ;;
esac

# shellcheck shell=bash
# Private PostgreSQL and Redis servers for deploy/local/run and scripts/test:
# find (or, as root, install) the binaries, start them on loopback under a
# folder of ours, stop them. Sourced, not run.

# The folder holding initdb/pg_ctl/postgres, preferring PATH, then Debian's layout.
pg_bindir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# Installs postgresql and redis-server from Debian's packages when absent.
ensure_store_packages() {
    local need=()
    [ -n "$(pg_bindir)" ] || need+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
    [ ${#need[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing: ${need[*]} (install them, or run as root to have them installed)" >&2
        return 1
    fi
    echo "installing ${need[*]} from Debian's packages..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# A TCP port free on loopback right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root: as root, run it as an unprivileged user.
pg_user() {
    if [ "$(id -u)" != 0 ]; then
        id -un
        return
    fi
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    echo postgres
}

as_pg_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$(pg_user)" -- "$@"
    else
        "$@"
    fi
}

# start_postgres DATADIR PORT [fast]: initialises DATADIR when new (superuser
# `totilove`, trust on loopback only), then starts the server and waits for it.
# `fast` turns off fsync: for throwaway test clusters only.
start_postgres() {
    local data=$1 port=$2 mode=${3:-}
    local bin
    bin=$(pg_bindir)
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown "$(pg_user)" "$data"
    chmod 700 "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
        as_pg_user "$bin/initdb" -D "$data" -U totilove --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    local opts="-p $port -c listen_addresses=127.0.0.1 -k $data -c max_connections=400"
    if [ "$mode" = fast ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_pg_user "$bin/pg_ctl" -D "$data" -o "$opts" -l "$data/server.log" -w -t 60 start >/dev/null
}

stop_postgres() {
    local data=$1
    [ -f "$data/postmaster.pid" ] || return 0
    as_pg_user "$(pg_bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# start_redis DIR PORT: a Redis on loopback keeping its snapshot in DIR.
start_redis() {
    local dir=$1 port=$2
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save 60 1000 >/dev/null
    local i
    for i in $(seq 1 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "Redis did not start; see $dir/redis.log" >&2
    return 1
}

stop_redis() {
    local dir=$1
    [ -f "$dir/redis.pid" ] || return 0
    kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    rm -f "$dir/redis.pid"
}

# shellcheck shell=bash
# Private PostgreSQL and Redis servers for deploy/local/run and scripts/test:
# find (or, as root, install) the binaries, start them on loopback under a
# folder of ours, stop them. Sourced, not run.

# The folder holding initdb/pg_ctl/postgres (and psql, createdb), preferring
# PATH, then Debian's layout. Links are resolved: a PATH may hold only links to
# a few of the server's programs, while their real folder holds all of them.
pg_bindir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    local d
    # shellcheck disable=SC2012 # these folder names are version numbers
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# ensure_store_packages [postgres] [redis]: installs the servers named (both
# when none is named) from Debian's packages when they are absent.
ensure_store_packages() {
    local want=("$@") need=()
    [ ${#want[@]} -eq 0 ] && want=(postgres redis)
    local w
    for w in "${want[@]}"; do
        case $w in
        postgres) [ -n "$(pg_bindir)" ] || need+=(postgresql) ;;
        redis) command -v redis-server >/dev/null 2>&1 || need+=(redis-server) ;;
        *)
            echo "ensure_store_packages: unknown store '$w'" >&2
            return 1
            ;;
        esac
    done
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

# Whether something accepts TCP connections on HOST PORT right now.
port_answers() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# A TCP port free on loopback right now (the kernel's choice when Python is
# there, else a random one that nothing answers on).
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        port_answers 127.0.0.1 "$p" || {
            echo "$p"
            return 0
        }
    done
    echo "no free port found" >&2
    return 1
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

# As root, lets the PostgreSQL user traverse (only traverse: no listing, no
# reading) every private ancestor of DIR, e.g. a checkout under /root, with a
# POSIX ACL naming that user alone; `chmod o+x` only where ACLs are unavailable.
grant_pg_traverse() {
    local dir=$1 user path=/ part parts
    [ "$(id -u)" = 0 ] || return 0
    user=$(pg_user)
    dir=$(cd "$dir" && pwd -P)
    IFS=/ read -ra parts <<<"${dir#/}"
    for part in "" "${parts[@]}"; do
        [ -n "$part" ] && path="${path%/}/$part"
        as_pg_user test -x "$path" && continue
        if ! command -v setfacl >/dev/null 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq acl >/dev/null 2>&1 || true
        fi
        echo "letting '$user' traverse $path (ACL u:$user:x) so PostgreSQL reaches its data" >&2
        setfacl -m "u:$user:x" "$path" 2>/dev/null || chmod o+x "$path"
    done
}

# start_postgres DATADIR PORT [fast [LOGFILE [PASSWORD_FILE]]]: initialises
# DATADIR when new (superuser `totilove`, on loopback only), then starts the
# server and waits for it. With PASSWORD_FILE, `totilove` needs that password
# (scram-sha-256), also on a cluster made before without one; without it every
# loopback connection is trusted (throwaway test clusters in a private folder).
# `fast` turns off fsync: for throwaway test clusters only (pass `durable` or an
# empty word to keep it on while giving a LOGFILE). The log goes to LOGFILE, by
# default DATADIR/server.log.
start_postgres() {
    local data=$1 port=$2 mode=${3:-} log=${4:-$1/server.log} pwfile=${5:-}
    local bin
    bin=$(pg_bindir)
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown "$(pg_user)" "$data"
    chmod 700 "$data"
    if ! as_pg_user test -w "$data"; then
        echo "PostgreSQL runs as '$(pg_user)', who cannot reach $data" \
            "(is a parent folder private, like /root?); choose a data folder elsewhere" >&2
        return 1
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        if [ -n "$pwfile" ]; then
            # The PostgreSQL user cannot read the secrets folder, and a
            # command line is visible to everyone: a copy only it can read.
            local copy
            copy=$(mktemp)
            cat "$pwfile" >"$copy"
            [ "$(id -u)" = 0 ] && chown "$(pg_user)" "$copy"
            as_pg_user "$bin/initdb" -D "$data" -U totilove --auth=scram-sha-256 \
                --pwfile="$copy" -E UTF8 --locale=C.UTF-8 >/dev/null || { rm -f "$copy"; return 1; }
            rm -f "$copy"
        else
            as_pg_user "$bin/initdb" -D "$data" -U totilove --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
        fi
    fi
    touch "$log"
    [ "$(id -u)" = 0 ] && chown "$(pg_user)" "$log"
    # The Unix socket lives beside the data, unless that path is too long for a
    # socket name (~107 bytes); clients here all use TCP anyway.
    local sockets=$data
    [ ${#data} -gt 80 ] && sockets=/tmp
    local opts="-p $port -c listen_addresses=127.0.0.1 -k '$sockets' -c max_connections=400"
    if [ "$mode" = fast ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_pg_user "$bin/pg_ctl" -D "$data" -o "$opts" -l "$log" -w -t 60 start >/dev/null || return 1
    if [ -n "$pwfile" ] && grep -q '^[^#].*trust' "$data/pg_hba.conf"; then
        # A cluster made by an earlier version, trusting every local user:
        # give the role its password (in SQL on stdin), then require it.
        {
            printf "ALTER ROLE totilove PASSWORD '"
            tr -d "'\n" <"$pwfile"
            printf "';\n"
        } | as_pg_user "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U totilove -d postgres -f - >/dev/null
        as_pg_user sed -i -E '/^[^#]/s/trust$/scram-sha-256/' "$data/pg_hba.conf"
        as_pg_user "$bin/pg_ctl" -D "$data" reload >/dev/null
    fi
}

# postgres_require_tls DATADIR CERT KEY: makes the cluster of DATADIR (made by
# start_postgres) serve TLS with the PEM files CERT and KEY (copied into
# DATADIR, readable by the server's user alone) and accept TCP connections
# over TLS alone: every `host` line of its pg_hba.conf becomes `hostssl`.
# Idempotent; applied at the next start (or reload). Used by the tests of TLS
# to the stores (testkit).
postgres_require_tls() {
    local data=$1 cert=$2 key=$3
    install -m 600 "$cert" "$data/server.crt"
    install -m 600 "$key" "$data/server.key"
    [ "$(id -u)" = 0 ] && chown "$(pg_user)" "$data/server.crt" "$data/server.key"
    if ! grep -q '^ssl = on' "$data/postgresql.conf"; then
        printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$data/postgresql.conf"
    fi
    sed -i -E 's/^host([[:space:]])/hostssl\1/' "$data/pg_hba.conf"
}

# Whether the server of DATADIR is running.
postgres_running() {
    local data=$1
    [ -f "$data/postmaster.pid" ] || return 1
    as_pg_user "$(pg_bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

stop_postgres() {
    local data=$1 pid
    [ -f "$data/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$data/postmaster.pid")
    as_pg_user "$(pg_bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    # pg_ctl returns once the pid file is gone, a moment before the postmaster
    # exits: wait for the process too, so a new start finds it gone.
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
}

# start_redis DIR PORT [LOGFILE [PASSWORD_FILE]]: a Redis on loopback keeping
# its snapshot in DIR, requiring the password in PASSWORD_FILE when given; the
# log goes to LOGFILE, by default DIR/redis.log. Its settings are a file in DIR
# (private), so the password is on no command line.
start_redis() {
    local dir=$1 port=$2 log=${3:-$1/redis.log} pwfile=${4:-}
    mkdir -p "$dir"
    (
        umask 077
        {
            echo "bind 127.0.0.1"
            echo "port $port"
            echo "dir $dir"
            echo "daemonize yes"
            echo "pidfile $dir/redis.pid"
            echo "logfile $log"
            echo "save 60 1000"
            [ -z "$pwfile" ] || echo "requirepass $(cat "$pwfile")"
        } >"$dir/redis.conf"
    )
    redis-server "$dir/redis.conf" >/dev/null
    # redis-cli reads the password from REDISCLI_AUTH: not on its command line.
    [ -z "$pwfile" ] || REDISCLI_AUTH=$(cat "$pwfile")
    export REDISCLI_AUTH
    for _ in $(seq 1 100); do
        redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && { unset REDISCLI_AUTH; return 0; }
        sleep 0.1
    done
    echo "Redis did not start; see $log" >&2
    return 1
}

# The pid of the Redis of DIR when it is running (a pid file naming a live
# redis-server), else nothing and failure.
redis_pid() {
    local dir=$1 pid
    [ -f "$dir/redis.pid" ] || return 1
    pid=$(cat "$dir/redis.pid")
    [ -n "$pid" ] && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

# stop_redis DIR: asks the Redis of DIR to stop and waits (up to ~10 s, then
# kills it) so that its snapshot is written and its port free on return.
stop_redis() {
    local dir=$1 pid
    if pid=$(redis_pid "$dir"); then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "Redis of $dir did not stop in 10 s: killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/redis.pid"
}

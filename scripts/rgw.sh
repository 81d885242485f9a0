#!/usr/bin/env bash
# A throwaway single-node Ceph RADOS Gateway (RGW) on 127.0.0.1: a second real S3 server beside
# moto, multi-threaded, with RGW's own differences from AWS (docs/development.md#ceph-rgw).
# One monitor, one OSD on the in-memory `memstore` object store (pool size 1, no manager daemon)
# and radosgw on the beast frontend; everything lives in DIR and in memory, and is gone on stop.
# It answers S3 about 2 s after the start (paxos proposals every 50 ms instead of 1 s).
#
#   rgw.sh start DIR [--port P] [--parent-pid PID] [--memory MIB]
#       Starts it and prints the endpoint (http://127.0.0.1:P) once S3 answers; the S3 user is
#       access key `test`, secret `test`, like moto's dummy credentials. Without --port a free
#       port is chosen. With --parent-pid it stops itself (and removes DIR) when that process
#       ends, so a test that dies leaves nothing behind. --memory: the OSD's store (default 2048).
#   rgw.sh user DIR NAME
#       Adds an S3 user whose access key and secret are both NAME (owning nothing).
#   rgw.sh stop DIR
#
# Needs the Debian packages `radosgw ceph-mon ceph-osd ceph-common` (`scripts/bootstrap.sh --rgw`,
# as root). Runs as any user: nothing outside DIR is written.
set -euo pipefail

usage() { sed -n '8,17p' "$0" >&2; exit 2; }

stop() { # DIR
  local dir=$1 pid
  for name in rgw osd mon watch; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    [ "$pid" != "$BASHPID" ] || continue # the watcher, stopping it all
    kill "$pid" 2>/dev/null || true
  done
  for name in rgw osd mon; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() { # DIR [options]
  local dir=$1 port="" parent="" memory=2048
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=$2; shift 2 ;;
      --parent-pid) parent=$2; shift 2 ;;
      --memory) memory=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
    command -v "$tool" >/dev/null || {
      echo "rgw.sh: $tool is missing: install Ceph RGW with 'bash scripts/bootstrap.sh --rgw' (as root)" >&2
      exit 1
    }
  done
  [ -n "$port" ] || port=$(free_port)
  local mon_port
  mon_port=$(free_port)
  mkdir -p "$dir"/{mon,osd,run,log}
  dir=$(cd "$dir" && pwd)
  local fsid conf=$dir/ceph.conf
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
ms bind ipv6 = false
ms bind msgr2 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.05
paxos min wait = 0.01
[mon]
mon data = $dir/mon
# A throwaway cluster holds a few MiB there: a nearly full disk (under 5 % free, e.g. a
# machine full of build trees) must not stop the monitor at start.
mon data avail crit = 0
mon data avail warn = 0
[osd]
osd data = $dir/osd
osd objectstore = memstore
memstore device bytes = $((memory * 1024 * 1024))
osd max object size = 5368709120
# Placed by this script: at start the OSD may ask the monitor before it has the cluster's id
# (refused as 'wrong fsid', and the OSD never comes up).
osd crush update on start = false
osd class update on start = false
[client]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $dir/rgw
rgw enable usage log = false
rgw dns name = 127.0.0.1
EOF
  ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "v1:127.0.0.1:$mon_port" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" >>"$dir/log/setup.out" 2>&1
  ceph-mon -c "$conf" -i a -f >>"$dir/log/mon.out" 2>&1 &
  echo $! >"$dir/mon.pid"
  if [ -n "$parent" ]; then
    # Stops everything when the parent (a test process) is gone, however it ended.
    (
      trap '' HUP
      while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
      [ -d "$dir" ] && stop "$dir"
    ) </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watch.pid"
  fi
  local uuid
  uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  timeout 30 ceph -c "$conf" --connect-timeout 30 osd new "$uuid" >>"$dir/log/setup.out" 2>&1
  timeout 30 ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >>"$dir/log/setup.out" 2>&1
  timeout 30 ceph -c "$conf" osd crush add osd.0 1.0 root=default >>"$dir/log/setup.out" 2>&1
  ceph-osd -c "$conf" -i 0 -f >>"$dir/log/osd.out" 2>&1 &
  echo $! >"$dir/osd.pid"
  radosgw -c "$conf" -n client.rgw -f >>"$dir/log/rgw.out" 2>&1 &
  echo $! >"$dir/rgw.pid"
  timeout 60 radosgw-admin -c "$conf" user create --uid test --display-name test \
    --access-key test --secret-key test >>"$dir/log/setup.out" 2>&1
  local deadline=$((SECONDS + 60))
  until curl -fs "http://127.0.0.1:$port" >/dev/null; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$(cat "$dir/rgw.pid")" 2>/dev/null; then
      echo "rgw.sh: RGW did not answer on port $port; logs in $dir/log" >&2
      tail -5 "$dir/log/rgw.out" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  echo "http://127.0.0.1:$port"
}

user() { # DIR NAME
  timeout 60 radosgw-admin -c "$1/ceph.conf" user create --uid "$2" --display-name "$2" \
    --access-key "$2" --secret-key "$2" >>"$1/log/setup.out" 2>&1
}

[ $# -ge 2 ] || usage
case $1 in
  start) shift; start "$@" ;;
  user) [ $# -eq 3 ] || usage; user "$2" "$3" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac

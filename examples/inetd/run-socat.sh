#!/bin/sh
# run-socat.sh [IP] [PORT] [relay] — socat: accept, fork, and in the child
# either exec inetd-handler on the connection itself (default: EXEC ...,nofork,
# like inetd) or, with "relay", fork once more and relay between the
# connection and the handler. IP "::" (the default) listens dual-stack.
here=$(cd "$(dirname "$0")" && pwd)
ip=${1:-::}
port=${2:-8081}
export VHQOS_SERVER_KIND=socat
case "$ip" in
  *:*) v6only=1; [ "$ip" = "::" ] && v6only=0
       listen="TCP6-LISTEN:$port,bind=[$ip],ipv6only=$v6only,fork,reuseaddr" ;;
  *)   listen="TCP4-LISTEN:$port,bind=$ip,fork,reuseaddr" ;;
esac
nofork=,nofork
[ "${3:-}" = relay ] && nofork=
exec socat "$listen" "EXEC:$here/inetd-handler$nofork"

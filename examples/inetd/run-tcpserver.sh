#!/bin/sh
# run-tcpserver.sh [IP] [PORT] — ucspi-tcp's tcpserver: accept, fork,
# dup2 the connection onto fds 0 and 1, exec inetd-handler. IPv4 only.
# Default 0.0.0.0 8081 (so 127.0.0.2 and 127.0.0.3 reach it; firewall it or
# pass 127.0.0.1 to stay local).
here=$(cd "$(dirname "$0")" && pwd)
export VHQOS_SERVER_KIND=tcpserver
# -R no ident lookup, -H no reverse DNS, -l 0 no local name lookup
exec tcpserver -R -H -l 0 -c 64 "${1:-0.0.0.0}" "${2:-8081}" "$here/inetd-handler"

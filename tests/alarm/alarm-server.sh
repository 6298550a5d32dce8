#!/usr/bin/env bash
# The Phoebus alarm server (service-alarm-server) for the alarm tests.
#   alarm-server.sh check CLASSPATH FILE.xml NAME
#       reads FILE.xml with Phoebus' XmlModelReader (CheckConfig): any warning
#       it logs, or a root not named NAME, fails
#   alarm-server.sh import CLASSPATH KAFKA NAME FILE.xml DIR
#       loads FILE.xml into Kafka as configuration NAME: after the check (the
#       alarm server exits 0 even when NAME is not the file's root) and after
#       making the topics the way the server does (-import does not)
#   alarm-server.sh start CLASSPATH KAFKA NAME DIR CA_PORT REPEATER_PORT [CONN_TIMEOUT [PVA_PORT]]
#       runs the server against the IOCs on 127.0.0.1:CA_PORT (pid in
#       DIR/alarm-server.pid, log in DIR/alarm-server.log); a PV not connected
#       CONN_TIMEOUT s (default 30, Phoebus') after the start is published Disconnected;
#       with PVA_PORT its pvAccess client too searches 127.0.0.1 on that UDP port (pva:// PVs)
#   alarm-server.sh stop DIR
#       stops it, and the Java CA repeater its CA client started (detached, on
#       REPEATER_PORT, it outlives the server): both by pid
# KAFKA is HOST:PORT; CLASSPATH the Phoebus one from tests/alarm/setup.sh.
set -euo pipefail

main=org.phoebus.applications.alarm.server.AlarmServerMain
usage() { sed -n '2,18p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage

# The repeater's pid: the JVM whose command line is CARepeater on that port.
repeater_pid() {
    local port=$1 pid
    for pid in $(pgrep -x java || true); do
        tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null |
            grep -q "com.cosylab.epics.caj.CARepeater -p $port\b" && echo "$pid"
    done
    return 0
}

stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

case $1 in
check)
    [ $# -eq 4 ] || usage
    exec java -Xmx256m -cp "$2" org.iocmgr.alarmtest.CheckConfig "$3" "$4" ;;
import)
    [ $# -eq 6 ] || usage
    cp=$2 kafka=$3 name=$4 file=$5 dir=$6
    mkdir -p "$dir"
    "$0" check "$cp" "$file" "$name" > "$dir/check.log" 2>&1 ||
        { cat "$dir/check.log" >&2; echo "alarm-server.sh: $file is not a clean configuration $name" >&2; exit 1; }
    java -Xmx256m -cp "$cp" org.iocmgr.alarmtest.EnsureTopics "$kafka" "$name" > "$dir/import.log" 2>&1 &&
    # a fresh topic is read in well under a second: 4 s for the connection, 2 s stable
    java -Xmx256m -cp "$cp" "$main" -server "$kafka" -config "$name" -connect_secs 4 -stable_secs 2 -import "$file" \
        < /dev/null >> "$dir/import.log" 2>&1 &&
    # it exits 0 after an exception too (an unreadable file): only "Done." is success
    grep -q '^Done\.$' "$dir/import.log" ||
        { cat "$dir/import.log" >&2; echo "alarm-server.sh: import failed" >&2; exit 1; } ;;
start)
    [ $# -ge 7 ] && [ $# -le 9 ] || usage
    cp=$2 kafka=$3 name=$4 dir=$5 ca_port=$6 rep_port=$7 conn_timeout=${8:-30} pva_port=${9:-}
    mkdir -p "$dir"
    cat > "$dir/alarm-server.ini" <<INI
org.phoebus.pv.ca/addr_list=127.0.0.1
org.phoebus.pv.ca/auto_addr_list=false
org.phoebus.pv.ca/server_port=$ca_port
org.phoebus.pv.ca/repeater_port=$rep_port
org.phoebus.applications.alarm/server=$kafka
org.phoebus.applications.alarm/connection_timeout=$conn_timeout
INI
    [ -z "$pva_port" ] || cat >> "$dir/alarm-server.ini" <<INI
org.phoebus.pv.pva/epics_pva_addr_list=127.0.0.1
org.phoebus.pv.pva/epics_pva_auto_addr_list=false
org.phoebus.pv.pva/epics_pva_broadcast_port=$pva_port
org.phoebus.pv.pva/epics_pva_enable_ipv6=false
INI
    echo "$rep_port" > "$dir/repeater.port"
    setsid java -Xmx256m -cp "$cp" "$main" -server "$kafka" -config "$name" -noshell \
        -settings "$dir/alarm-server.ini" < /dev/null > "$dir/alarm-server.log" 2>&1 &
    echo $! > "$dir/alarm-server.pid" ;;
stop)
    dir=$2
    if [ -f "$dir/alarm-server.pid" ]; then stop_pid "$(cat "$dir/alarm-server.pid")"; rm -f "$dir/alarm-server.pid"; fi
    if [ -f "$dir/repeater.port" ]; then
        for pid in $(repeater_pid "$(cat "$dir/repeater.port")"); do stop_pid "$pid"; done
    fi ;;
*) usage ;;
esac

#!/bin/bash
# /epics/ioc/start.sh of the generic test IOC image (tests/images/build.sh ioc, docs/node.md).
#
# Base's softIoc serving $(IOC_PREFIX):UPTIME as iocStats does (iocStatsUptime.db), run the
# way epics-containers' generic IOCs run: IOC_NAME and IOC_PREFIX from the ioc-instance
# chart, the iocsh on the container's tty (stdin: true, tty: true), liveness.sh reading
# UPTIME with caget. softIoc is not PID 1: this shell is, and passes SIGTERM/SIGINT on, so
# the kubelet's stop ends the IOC at once (PID 1 ignores signals it has no handler for).
#
# What the instance does, from IOC_TEST_BEHAVIOUR or else the first line of
# $CONFIG_DIR/test-behaviour (the chart's config volume):
#   run          serve until stopped (the default)
#   exit:N       the IOC exits with status 1 N seconds after iocInit (0: at boot)
#   hang:N       stops answering Channel Access after N seconds (the process is stopped)
#   oom:N        after N seconds memory grows until the container's limit kills it
#   slow:N       takes N seconds before the IOC starts (a slow boot: not ready meanwhile)
set -u

IOC_NAME=${IOC_NAME:-ioc}
prefix=${IOC_PREFIX:-$IOC_NAME}
prefix=${prefix^^}
CONFIG_DIR=${CONFIG_DIR:-/epics/ioc/config}
behaviour=${IOC_TEST_BEHAVIOUR:-}
[ -n "$behaviour" ] || { [ -r "$CONFIG_DIR/test-behaviour" ] && read -r behaviour <"$CONFIG_DIR/test-behaviour"; }
behaviour=${behaviour:-run}
what=${behaviour%%:*}
n=${behaviour#"$what"}; n=${n#:}; n=${n:-0}
case $what in
    run|exit|hang|oom|slow) ;;
    *) echo "start.sh: unknown IOC_TEST_BEHAVIOUR '$behaviour' (run, exit:N, hang:N, oom:N, slow:N)" >&2; exit 2 ;;
esac
[[ $n =~ ^[0-9]+$ ]] || { echo "start.sh: '$behaviour': N must be a number of seconds" >&2; exit 2; }

echo "Starting IOC $IOC_NAME (prefix $prefix, behaviour $behaviour) from $(hostname)"

# A CA client that finds no caRepeater spawns one holding its output open: the liveness
# probe's caget would then hang until its timeout. One for the container, output nowhere.
caRepeater >/dev/null 2>&1 </dev/null &

if [ "$what" = slow ]; then
    echo "waiting ${n}s for the hardware to answer"
    sleep "$n"
fi

args=(-m "IOC=$prefix" -d /epics/ioc/db/iocStatsUptime.db)
[ "$what" = exit ] && args+=(-m "IOC=$prefix,AFTER=$n" -d /epics/ioc/db/testExit.db -x "$prefix")

# stdin: the tty (a background job would get /dev/null and softIoc would end at its EOF)
softIoc "${args[@]}" /epics/ioc/st.cmd <&0 &
ioc=$!
# SIGCONT too: an IOC stopped by SIGSTOP (hang:N, a test's kill -STOP) ends as well
stop() { echo "start.sh: $1: stopping the IOC"; kill -TERM "$ioc" 2>/dev/null; kill -CONT "$ioc" 2>/dev/null; }
trap 'stop SIGTERM' TERM
trap 'stop SIGINT' INT

helper=
case $what in
    hang) ( sleep "$n"; echo "start.sh: the IOC stops answering now (SIGSTOP, behaviour $behaviour)"
            kill -STOP "$ioc" ) & helper=$! ;;
    # at most 1 GiB: on a node without a memory limit this must not take the machine
    oom)  ( sleep "$n"; echo "start.sh: memory grows now (behaviour $behaviour)"
            x=x; while [ ${#x} -lt 1073741824 ]; do x=$x$x; done
            echo "start.sh: 1 GiB and no memory limit reached"; sleep infinity ) & helper=$! ;;
esac

# wait -n returns when a child ends or a trapped signal arrives: wait until the IOC ends
while :; do
    gone=
    wait -n -p gone; st=$?
    # (a trapped signal leaves gone unset)
    [ "${gone:-}" = "$ioc" ] && break
    if [ "$what" = oom ] && [ "${gone:-}" = "$helper" ]; then
        # the OOM killer took the growing process: the IOC goes down with it
        echo "start.sh: out of memory (status $st): the IOC goes down with it"
        kill -KILL "$ioc"; wait "$ioc"; exit 137
    fi
done
[ -z "$helper" ] || kill -KILL "$helper" 2>/dev/null
echo "start.sh: the IOC exited with status $st"
exit "$st"

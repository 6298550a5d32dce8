#!/usr/bin/env bash
# Starts or stops the Kafka broker of the alarm tests: KRaft, one process as
# broker and controller, on 127.0.0.1 only, its state in DIR.
#   kafka.sh start DIR CLASSPATH PORT CONTROLLER_PORT   (returns once it accepts connections)
#   kafka.sh stop DIR
# CLASSPATH: org.apache.kafka:kafka_2.13's (tests/alarm/setup.sh). The pid is in
# DIR/kafka.pid, the log in DIR/kafka.log. Topics are only made by the alarm
# server (auto-creation off), compacted the way Phoebus wants them.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR CLASSPATH PORT CONTROLLER_PORT | stop DIR" >&2; exit 2; }

stop() {
    local pid
    pid=$(cat "$dir/kafka.pid" 2>/dev/null) || return 0
    if kill "$pid" 2>/dev/null; then
        # a controlled shutdown takes a few seconds; then it is killed
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/kafka.pid"
}

case $cmd in
stop) stop ;;
start)
    cp=$3; port=$4; cport=$5
    mkdir -p "$dir"
    cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
    # what Kafka says at INFO when it is up, WARN and above afterwards: enough to see why
    cat > "$dir/log4j2.properties" <<PROPS
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=out
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
logger.server.name=kafka.server.KafkaRaftServer
logger.server.level=INFO
PROPS
    java=(java -Xmx512m -Dlog4j2.configurationFile="$dir/log4j2.properties" -Xms128m -XX:+UseG1GC -Djava.awt.headless=true -Dkafka.logs.dir="$dir" -cp "$cp")
    if [ ! -f "$dir/data/meta.properties" ]; then
        "${java[@]}" kafka.tools.StorageTool format -t "$("${java[@]}" kafka.tools.StorageTool random-uuid)" \
            -c "$dir/server.properties" > "$dir/format.log" 2>&1 ||
            { cat "$dir/format.log" >&2; echo "kafka.sh: formatting the storage failed" >&2; exit 1; }
    fi
    setsid "${java[@]}" kafka.Kafka "$dir/server.properties" < /dev/null > "$dir/kafka.log" 2>&1 &
    echo $! > "$dir/kafka.pid"
    for _ in $(seq 1 600); do
        if ! kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
            tail -20 "$dir/kafka.log" >&2
            echo "kafka.sh: Kafka exited while starting (log: $dir/kafka.log)" >&2
            rm -f "$dir/kafka.pid"
            exit 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then exit 0; fi
        sleep 0.1
    done
    echo "kafka.sh: Kafka did not listen on 127.0.0.1:$port within 60 s (log: $dir/kafka.log)" >&2
    stop
    exit 1 ;;
*) echo "usage: $0 start DIR CLASSPATH PORT CONTROLLER_PORT | stop DIR" >&2; exit 2 ;;
esac

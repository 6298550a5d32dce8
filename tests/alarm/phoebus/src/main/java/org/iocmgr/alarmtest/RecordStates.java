package org.iocmgr.alarmtest;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Prints every message on one Kafka topic from its beginning, one line each:
 *  "TIMESTAMP_MS TAB KEY TAB VALUE" (VALUE "null" for a tombstone), flushed per
 *  line so a test can follow the file while the alarm server writes.
 *  Usage: RecordStates HOST:PORT TOPIC. Runs until killed. No consumer group:
 *  it assigns the partitions itself, so nothing is left in the broker. */
public class RecordStates
{
    public static void main(final String[] args) throws Exception
    {
        if (args.length != 2)
        {
            System.err.println("usage: RecordStates HOST:PORT TOPIC");
            System.exit(2);
        }
        final Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        props.put("allow.auto.create.topics", "false");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props))
        {
            // The alarm server creates the topic when it starts: wait for it.
            List<PartitionInfo> parts = null;
            while (parts == null || parts.isEmpty())
            {
                try
                {
                    parts = consumer.partitionsFor(args[1], Duration.ofSeconds(5));
                }
                catch (org.apache.kafka.common.errors.TimeoutException ex)
                {
                    parts = null;
                }
                if (parts == null || parts.isEmpty())
                    Thread.sleep(500);
            }
            final List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo p : parts)
                tps.add(new TopicPartition(p.topic(), p.partition()));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            System.out.println("# assigned " + tps);
            System.out.flush();
            while (true)
            {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500)))
                    System.out.println(r.timestamp() + "\t" + r.key() + "\t" + r.value());
                System.out.flush();
            }
        }
    }
}

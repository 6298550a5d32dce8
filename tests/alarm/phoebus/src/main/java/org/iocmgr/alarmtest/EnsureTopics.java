package org.iocmgr.alarmtest;

import org.phoebus.applications.alarm.server.TopicUtils;

/** Creates the configuration's topics (NAME compacted, NAMECommand and NAMETalk
 *  deleted after a while) with the alarm server's own code, as the server does
 *  when it starts. AlarmServerMain -import does not: on a broker that makes no
 *  topics by itself, its messages would go nowhere.
 *  Usage: EnsureTopics HOST:PORT NAME */
public class EnsureTopics
{
    public static void main(final String[] args) throws Exception
    {
        if (args.length != 2)
        {
            System.err.println("usage: EnsureTopics HOST:PORT NAME");
            System.exit(2);
        }
        TopicUtils.ensureKafkaTopics(args[0], args[1], "");
        System.out.println("topics of " + args[1] + " ready on " + args[0]);
    }
}

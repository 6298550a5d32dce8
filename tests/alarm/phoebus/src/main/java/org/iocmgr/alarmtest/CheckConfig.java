package org.iocmgr.alarmtest;

import java.io.FileInputStream;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

import org.phoebus.applications.alarm.client.AlarmClientLeaf;
import org.phoebus.applications.alarm.client.AlarmClientNode;
import org.phoebus.applications.alarm.model.AlarmTreeItem;
import org.phoebus.applications.alarm.model.xml.XmlModelReader;

/** Reads an alarm configuration with Phoebus' XmlModelReader, the reader behind
 *  the alarm server's -import, and fails on what that reader lets pass with only
 *  a log line (a PV dropped as a duplicate, a number it could not read):
 *  any WARNING or SEVERE logged while loading is a failure, and so is a root
 *  whose name is not the expected configuration name (-import then loads
 *  nothing and still exits 0).
 *  Usage: CheckConfig FILE.xml CONFIG_NAME. Prints one line per PV (its path)
 *  and a summary; exit 0 only when the file is clean. */
public class CheckConfig
{
    public static void main(final String[] args) throws Exception
    {
        if (args.length != 2)
        {
            System.err.println("usage: CheckConfig FILE.xml CONFIG_NAME");
            System.exit(2);
        }
        final List<String> problems = new ArrayList<>();
        final SimpleFormatter formatter = new SimpleFormatter();
        final Handler catcher = new Handler()
        {
            @Override
            public void publish(final LogRecord record)
            {
                if (record.getLevel().intValue() >= Level.WARNING.intValue())
                    problems.add(record.getLevel() + " from " + record.getLoggerName() + ": " +
                                 formatter.formatMessage(record));
            }
            @Override public void flush() {}
            @Override public void close() {}
        };
        Logger.getLogger("").addHandler(catcher);

        final XmlModelReader reader = new XmlModelReader();
        try (InputStream in = new FileInputStream(args[0]))
        {
            reader.load(in);
        }
        catch (Exception ex)
        {
            problems.add("XmlModelReader could not load " + args[0] + ": " + ex);
        }
        final AlarmClientNode root = reader.getRoot();
        if (root == null)
            problems.add("no <config> root in " + args[0]);
        else if (! root.getName().equals(args[1]))
            problems.add("configuration is named '" + root.getName() + "', expected '" + args[1] + "'");

        final int[] count = { 0, 0 };
        if (root != null)
            walk(root, count);
        for (String p : problems)
            System.out.println("PROBLEM " + p);
        System.out.println("config " + (root == null ? "-" : root.getName()) + ": " + count[0] +
                           " components, " + count[1] + " PVs, " + problems.size() + " problems");
        System.exit(problems.isEmpty() ? 0 : 1);
    }

    private static void walk(final AlarmTreeItem<?> item, final int[] count)
    {
        for (AlarmTreeItem<?> child : item.getChildren())
        {
            if (child instanceof AlarmClientLeaf)
            {
                ++count[1];
                System.out.println("PV " + child.getPathName() + " guidance=" + child.getGuidance().size());
            }
            else
            {
                ++count[0];
                walk(child, count);
            }
        }
    }
}

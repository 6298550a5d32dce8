package org.iocmgr.phoebus;

import java.util.Collection;
import java.util.Map;

/** The few JSON forms the harness answers with (no JSON library on Phoebus' class path). */
final class Json
{
    private Json() {}

    static String of(final Object value)
    {
        final StringBuilder out = new StringBuilder();
        write(out, value);
        return out.toString();
    }

    private static void write(final StringBuilder out, final Object value)
    {
        if (value == null)
            out.append("null");
        else if (value instanceof Boolean || value instanceof Number)
            out.append(value);
        else if (value instanceof Map<?, ?> map)
        {
            out.append('{');
            String sep = "";
            for (Map.Entry<?, ?> e : map.entrySet())
            {
                out.append(sep);
                string(out, String.valueOf(e.getKey()));
                out.append(':');
                write(out, e.getValue());
                sep = ",";
            }
            out.append('}');
        }
        else if (value instanceof Collection<?> list)
        {
            out.append('[');
            String sep = "";
            for (Object item : list)
            {
                out.append(sep);
                write(out, item);
                sep = ",";
            }
            out.append(']');
        }
        else
            string(out, value.toString());
    }

    private static void string(final StringBuilder out, final String s)
    {
        out.append('"');
        for (char c : s.toCharArray())
        {
            switch (c)
            {
            case '"' -> out.append("\\\"");
            case '\\' -> out.append("\\\\");
            case '\n' -> out.append("\\n");
            case '\r' -> out.append("\\r");
            case '\t' -> out.append("\\t");
            default ->
            {
                if (c < 0x20)
                    out.append(String.format("\\u%04x", (int) c));
                else
                    out.append(c);
            }
            }
        }
        out.append('"');
    }
}

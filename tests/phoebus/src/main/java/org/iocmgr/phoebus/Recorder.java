package org.iocmgr.phoebus;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.csstudio.display.builder.model.Widget;
import org.csstudio.display.builder.runtime.RuntimeUtil;
import org.csstudio.display.builder.runtime.WidgetRuntime;
import org.csstudio.display.builder.runtime.pv.RuntimePV;
import org.csstudio.display.builder.runtime.pv.RuntimePVListener;
import org.epics.vtype.VEnum;
import org.epics.vtype.VType;

/** Every value a widget's primary PV delivers to the runtime from now on, in
 *  order: a state that lasts less than a poll interval is still seen. */
final class Recorder
{
    private static final Map<String, List<String>> seen = new ConcurrentHashMap<>();

    private Recorder() {}

    static void start(final String key, final Widget widget) throws Exception
    {
        final WidgetRuntime<Widget> runtime = RuntimeUtil.getRuntime(widget);
        final RuntimePV pv = runtime == null ? null : runtime.getPrimaryPV().orElse(null);
        if (pv == null)
            throw new Exception(key + " has no primary PV");
        final List<String> values = new ArrayList<>();
        seen.put(key, values);
        pv.addListener(new RuntimePVListener()
        {
            @Override
            public void valueChanged(final RuntimePV which, final VType value)
            {
                final String text = value instanceof VEnum e ? e.getValue() : String.valueOf(value);
                synchronized (values)
                {
                    if (values.isEmpty() || !values.get(values.size() - 1).equals(text))
                        values.add(text);
                }
            }
        });
    }

    static List<String> values(final String key) throws Exception
    {
        final List<String> values = seen.get(key);
        if (values == null)
            throw new Exception("nothing recorded for " + key);
        synchronized (values)
        {
            return new ArrayList<>(values);
        }
    }
}

package org.iocmgr.phoebus;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.csstudio.display.builder.model.ChildrenProperty;
import org.csstudio.display.builder.model.DisplayModel;
import org.csstudio.display.builder.model.Widget;
import org.csstudio.display.builder.model.WidgetProperty;
import org.csstudio.display.builder.model.properties.CommonWidgetProperties;
import org.csstudio.display.builder.model.widgets.EmbeddedDisplayWidget;
import org.csstudio.display.builder.model.widgets.TableWidget;
import org.csstudio.display.builder.representation.javafx.JFXRepresentation;
import org.csstudio.display.builder.representation.javafx.widgets.JFXBaseRepresentation;
import org.csstudio.display.builder.runtime.RuntimeUtil;
import org.csstudio.display.builder.runtime.WidgetRuntime;
import org.csstudio.display.builder.runtime.app.DisplayInfo;
import org.csstudio.display.builder.runtime.app.DisplayRuntimeInstance;
import org.csstudio.display.builder.runtime.pv.RuntimePV;
import org.epics.vtype.Alarm;
import org.epics.vtype.VEnum;
import org.epics.vtype.VNumber;
import org.epics.vtype.VNumberArray;
import org.epics.vtype.VString;
import org.epics.vtype.VStringArray;
import org.epics.vtype.VType;
import org.phoebus.pv.PV;
import org.phoebus.ui.color.NamedWidgetColor;
import org.phoebus.ui.color.WidgetColor;
import org.phoebus.ui.docking.DockItem;
import org.phoebus.ui.docking.DockPane;
import org.phoebus.ui.docking.DockStage;

import javafx.scene.Node;
import javafx.scene.Parent;
import javafx.scene.control.Labeled;
import javafx.scene.control.TextInputControl;
import javafx.scene.text.Text;
import javafx.stage.Stage;

/** What the display runtime shows: the open displays, their widgets as they were
 *  represented (embedded displays included), each widget's PVs as the runtime reads
 *  them and the text its JavaFX node shows. Call on the JavaFX thread. */
final class Displays
{
    private Displays() {}

    /** A display opened by the launcher, found by its file name and the macros it
     *  was opened with ("iocmgr-row.bob|I=BL46P-EA-IOC-01|P=BL46P-CS-IOCMGR-01:");
     *  a display named without an I macro is one opened without it. */
    static Optional<DisplayRuntimeInstance> find(final String key)
    {
        final String[] parts = key.split("\\|");
        for (Stage stage : DockStage.getDockStages())
            for (DockPane pane : DockStage.getDockPanes(stage))
                for (DockItem item : pane.getDockItems())
                    if (item.getApplication() instanceof DisplayRuntimeInstance instance
                        && matches(instance.getDisplayInfo(), parts))
                        return Optional.of(instance);
        return Optional.empty();
    }

    private static boolean matches(final DisplayInfo info, final String[] parts)
    {
        if (info == null || !info.getPath().endsWith("/" + parts[0]))
            return false;
        if (parts.length == 1)
            return info.getMacros().getValue("I") == null;
        for (int i = 1; i < parts.length; ++i)
        {
            final String[] nv = parts[i].split("=", 2);
            if (nv.length != 2 || !nv[1].equals(info.getMacros().getValue(nv[0])))
                return false;
        }
        return true;
    }

    static Optional<DisplayModel> model(final DisplayRuntimeInstance instance)
    {
        final Parent parent = instance.getRepresentation().getModelParent();
        return Optional.ofNullable((DisplayModel) parent.getProperties().get(JFXRepresentation.ACTIVE_MODEL));
    }

    /** Every widget of the display, embedded displays followed, in the order drawn. */
    static List<Map<String, Object>> report(final DisplayModel model)
    {
        final List<Map<String, Object>> out = new ArrayList<>();
        walk(model, "", out);
        return out;
    }

    /** The widget at a path of names as report() gives them. */
    static Optional<Widget> widget(final DisplayModel model, final String path)
    {
        return widget(model, "", path);
    }

    private static Optional<Widget> widget(final Widget parent, final String prefix, final String path)
    {
        for (Widget w : children(parent))
        {
            final String p = prefix + w.getName();
            if (p.equals(path))
                return Optional.of(w);
            if (path.startsWith(p + "/"))
            {
                final Optional<Widget> found = widget(w, p + "/", path);
                if (found.isPresent())
                    return found;
            }
        }
        return Optional.empty();
    }

    private static List<Widget> children(final Widget widget)
    {
        if (widget instanceof EmbeddedDisplayWidget embedded)
        {
            final DisplayModel inner = embedded.runtimePropEmbeddedModel().getValue();
            return inner == null ? List.of() : inner.getChildren();
        }
        final ChildrenProperty children = ChildrenProperty.getChildren(widget);
        return children == null ? List.of() : children.getValue();
    }

    private static void walk(final Widget parent, final String prefix, final List<Map<String, Object>> out)
    {
        for (Widget w : children(parent))
        {
            final String path = prefix + w.getName();
            out.add(describe(w, path));
            walk(w, path + "/", out);
        }
    }

    static Map<String, Object> describe(final Widget w, final String path)
    {
        final Map<String, Object> d = new LinkedHashMap<>();
        d.put("path", path);
        d.put("type", w.getType());
        d.put("visible", w.checkProperty(CommonWidgetProperties.propVisible).map(WidgetProperty::getValue).orElse(true));
        final Optional<WidgetProperty<Boolean>> border = w.checkProperty(CommonWidgetProperties.propBorderAlarmSensitive);
        d.put("border_alarm", border.map(WidgetProperty::getValue).orElse(false));
        // an action button is pressable only if enabled and its PVs writable
        w.checkProperty(CommonWidgetProperties.propEnabled).ifPresent(p -> d.put("enabled", p.getValue()));
        w.checkProperty(CommonWidgetProperties.runtimePropPVWritable).ifPresent(p -> d.put("writable", p.getValue()));
        final WidgetRuntime<Widget> runtime = RuntimeUtil.getRuntime(w);
        final List<Map<String, Object>> pvs = new ArrayList<>();
        if (runtime != null)
        {
            for (RuntimePV pv : runtime.getPVs())
                pvs.add(pv(pv.getName(), pv.read()));
            runtime.getPrimaryPV().ifPresent(pv -> d.put("primary", pv(pv.getName(), pv.read())));
        }
        d.put("pvs", pvs);
        final Node node = JFXBaseRepresentation.getJFXNode(w);
        d.put("text", node == null ? null : String.join(" | ", shownText(node, new ArrayList<>())));
        if (w instanceof TableWidget table)
            describeTable(table, d);
        return d;
    }

    /** A table's cells as it shows them and the colour a script gave each (the
     *  colour's name when it is a named one, e.g. the alarm colours "MAJOR"). */
    private static void describeTable(final TableWidget table, final Map<String, Object> d)
    {
        d.put("headers", table.getHeaders());
        d.put("cells", table.getValue());
        final List<List<String>> colours = new ArrayList<>();
        final List<List<WidgetColor>> set = table.runtimeCellColors().getValue();
        if (set != null)
            for (List<WidgetColor> row : set)
            {
                final List<String> names = new ArrayList<>();
                for (WidgetColor c : row)
                    names.add(c == null ? null : c instanceof NamedWidgetColor n ? n.getName() : c.toString());
                colours.add(names);
            }
        d.put("cell_colors", colours);
    }

    private static Map<String, Object> pv(final String name, final VType value)
    {
        final Map<String, Object> d = new LinkedHashMap<>();
        d.put("name", name);
        final boolean connected = value != null && !PV.isDisconnected(value);
        d.put("connected", connected);
        final Alarm alarm = Alarm.alarmOf(value);
        d.put("severity", connected ? alarm.getSeverity().name() : "DISCONNECTED");
        d.put("status", alarm.getName());
        d.put("value", valueText(value));
        return d;
    }

    private static Object valueText(final VType v)
    {
        if (v instanceof VEnum e)
            return e.getValue();
        if (v instanceof VString s)
            return s.getValue();
        if (v instanceof VNumber n)
            return n.getValue().toString();
        if (v instanceof VStringArray a)
            return a.getData().toString();
        if (v instanceof VNumberArray a)
            return "array[" + a.getData().size() + "]";
        return v == null ? null : v.getClass().getSimpleName();
    }

    /** The texts a node shows, in scene order: what an operator reads. */
    private static List<String> shownText(final Node node, final List<String> out)
    {
        if (!node.isVisible())
            return out;
        String text = null;
        if (node instanceof Labeled l)
            text = l.getText();
        else if (node instanceof TextInputControl t)
            text = t.getText();
        else if (node instanceof Text t)
            text = t.getText();
        if (text != null && !text.isEmpty())
            out.add(text);
        if (node instanceof Parent p && !(node instanceof TextInputControl) && !(node instanceof Labeled))
            for (Node child : p.getChildrenUnmodifiable())
                shownText(child, out);
        return out;
    }
}

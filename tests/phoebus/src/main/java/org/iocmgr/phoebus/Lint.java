package org.iocmgr.phoebus;

import java.io.File;
import java.util.ArrayList;
import java.util.List;

import javax.xml.parsers.DocumentBuilderFactory;

import org.csstudio.display.builder.model.DisplayModel;
import org.csstudio.display.builder.model.Widget;
import org.csstudio.display.builder.model.WidgetDescriptor;
import org.csstudio.display.builder.model.WidgetFactory;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/** Elements of a .bob file that name no property of their widget in this Phoebus:
 *  the display runtime ignores them without a word (a misspelt or renamed
 *  property such as confirm_dialog for show_confirm_dialog silently does nothing). */
final class Lint
{
    private Lint() {}

    static List<String> unknownProperties(final File file) throws Exception
    {
        final Element root = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file).getDocumentElement();
        final List<String> out = new ArrayList<>();
        check(root, new DisplayModel(), out);
        return out;
    }

    private static void check(final Element element, final Widget widget, final List<String> out) throws Exception
    {
        for (Node n = element.getFirstChild(); n != null; n = n.getNextSibling())
        {
            if (!(n instanceof Element child))
                continue;
            if (child.getTagName().equals("widget"))
            {
                final WidgetDescriptor descriptor = WidgetFactory.getInstance().getWidgetDescriptor(child.getAttribute("type"));
                if (descriptor == null)
                    out.add("unknown widget type " + child.getAttribute("type"));
                else
                    check(child, descriptor.createWidget(), out);
            }
            else if (widget.checkProperty(child.getTagName()).isEmpty())
                out.add(widget.getType() + " '" + text(element, "name") + "': <" + child.getTagName() + ">");
        }
    }

    private static String text(final Element element, final String tag)
    {
        for (Node n = element.getFirstChild(); n != null; n = n.getNextSibling())
            if (n instanceof Element e && e.getTagName().equals(tag))
                return e.getTextContent();
        return "";
    }
}

package org.iocmgr.phoebus;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import javax.imageio.ImageIO;

import javafx.embed.swing.SwingFXUtils;
import javafx.geometry.Bounds;
import javafx.scene.Node;
import javafx.scene.control.Button;
import javafx.scene.control.ButtonType;
import javafx.scene.control.DialogPane;
import javafx.scene.image.WritableImage;
import javafx.stage.Stage;
import javafx.stage.Window;

/** What an operator does and sees: pointer clicks through the X server (xdotool,
 *  so JavaFX gets real mouse events), the dialogs that pop up, and the picture of a
 *  window. Methods named fx* run on the JavaFX thread; click() must not. */
final class Operator
{
    private Operator() {}

    /** Screen coordinates of a node's centre, after raising its window. */
    static int[] fxCentre(final Node node)
    {
        final Window window = node.getScene().getWindow();
        if (window instanceof Stage stage)
            stage.toFront();
        final Bounds b = node.localToScreen(node.getBoundsInLocal());
        return new int[] { (int) Math.round(b.getCenterX()), (int) Math.round(b.getCenterY()) };
    }

    /** Moves the pointer there and presses button 1, as a hand on the mouse does. */
    static void click(final int[] xy) throws IOException, InterruptedException
    {
        final Process p = new ProcessBuilder("xdotool", "mousemove", "--sync",
                                             Integer.toString(xy[0]), Integer.toString(xy[1]),
                                             "sleep", "0.2", "click", "1")
            .inheritIO().start();
        if (!p.waitFor(10, TimeUnit.SECONDS))
        {
            p.destroyForcibly();
            throw new IOException("xdotool did not finish in 10 s");
        }
        if (p.exitValue() != 0)
            throw new IOException("xdotool exited with " + p.exitValue());
    }

    /** The dialogs showing now: title, header (the question) and button texts. */
    static List<Map<String, Object>> fxDialogs()
    {
        final List<Map<String, Object>> out = new ArrayList<>();
        for (Window w : Window.getWindows())
        {
            if (!w.isShowing() || !(w.getScene().getRoot() instanceof DialogPane pane))
                continue;
            final Map<String, Object> d = new LinkedHashMap<>();
            d.put("title", w instanceof Stage s ? s.getTitle() : "");
            d.put("header", pane.getHeaderText());
            d.put("content", pane.getContentText());
            final List<String> buttons = new ArrayList<>();
            for (ButtonType type : pane.getButtonTypes())
                buttons.add(type.getText());
            d.put("buttons", buttons);
            out.add(d);
        }
        return out;
    }

    /** The centre of a dialog's button with that text, if such a dialog shows. */
    static Optional<int[]> fxDialogButton(final String text)
    {
        for (Window w : Window.getWindows())
            if (w.isShowing() && w.getScene().getRoot() instanceof DialogPane pane)
                for (ButtonType type : pane.getButtonTypes())
                    if (type.getText().equals(text) && pane.lookupButton(type) instanceof Button b)
                        return Optional.of(fxCentre(b));
        return Optional.empty();
    }

    /** A PNG of what the node shows (a display's model root: the screen without
     *  Phoebus' toolbar and the empty part of its window). */
    static void fxSnapshot(final Node node, final File file) throws IOException
    {
        final WritableImage image = node.snapshot(null, null);
        if (!ImageIO.write(SwingFXUtils.fromFXImage(image, null), "png", file))
            throw new IOException("no PNG writer");
    }
}

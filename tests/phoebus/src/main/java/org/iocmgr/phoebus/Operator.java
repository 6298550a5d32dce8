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

import javafx.application.Platform;
import javafx.embed.swing.SwingFXUtils;
import javafx.event.EventHandler;
import javafx.geometry.Bounds;
import javafx.scene.Node;
import javafx.scene.Scene;
import javafx.scene.control.Button;
import javafx.scene.control.ButtonType;
import javafx.scene.control.DialogPane;
import javafx.scene.image.WritableImage;
import javafx.scene.input.MouseEvent;
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

    /** What JavaFX made of the pointer: the nodes a press reached in a scene,
     *  so a click that went astray says where it went. */
    static final class Presses
    {
        private final Scene scene;
        private final List<String> targets = new ArrayList<>();
        private final EventHandler<MouseEvent> filter = event ->
        {
            synchronized (this)
            {
                if (event.getEventType() != MouseEvent.MOUSE_MOVED)
                    targets.add(event.getEventType() + " " + event.getTarget().getClass().getSimpleName()
                                + " " + event.getButton() + (event.isAltDown() ? " alt" : "")
                                + (event.isMetaDown() ? " meta" : "") + (event.isShiftDown() ? " shift" : "")
                                + (event.isControlDown() ? " control" : ""));
            }
        };

        Presses(final Scene scene)
        {
            this.scene = scene;
            scene.addEventFilter(MouseEvent.ANY, filter);
        }

        /** The presses seen within 2 s of the click; stops listening. */
        List<String> await() throws Exception
        {
            final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (System.nanoTime() < end)
            {
                synchronized (this)
                {
                    if (targets.stream().anyMatch(t -> t.startsWith("MOUSE_CLICKED")))
                        break;
                }
                Thread.sleep(50);
            }
            Platform.runLater(() -> scene.removeEventFilter(MouseEvent.ANY, filter));
            synchronized (this)
            {
                return new ArrayList<>(targets);
            }
        }
    }

    /** The dialogs showing now: title, header (the question) and button texts. */
    static List<Map<String, Object>> fxDialogs()
    {
        final List<Map<String, Object>> out = new ArrayList<>();
        for (Window w : Window.getWindows())
        {
            final DialogPane pane = dialogPane(w);
            if (pane == null)
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
        {
            final DialogPane pane = dialogPane(w);
            if (pane != null)
                for (ButtonType type : pane.getButtonTypes())
                    if (type.getText().equals(text) && pane.lookupButton(type) instanceof Button b)
                        return Optional.of(fxCentre(b));
        }
        return Optional.empty();
    }

    /** A JavaFX dialog's window holds its DialogPane below the scene's root. */
    private static DialogPane dialogPane(final Window w)
    {
        if (!w.isShowing() || w.getScene() == null)
            return null;
        return w.getScene().getRoot().lookup(".dialog-pane") instanceof DialogPane pane ? pane : null;
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

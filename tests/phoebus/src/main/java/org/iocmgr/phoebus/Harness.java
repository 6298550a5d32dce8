package org.iocmgr.phoebus;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.csstudio.display.builder.model.DisplayModel;
import org.csstudio.display.builder.model.Widget;
import org.csstudio.display.builder.representation.javafx.widgets.JFXBaseRepresentation;
import org.csstudio.display.builder.runtime.app.DisplayRuntimeInstance;

import javafx.application.Platform;
import javafx.scene.Node;

/** Runs the Phoebus product (org.phoebus.product.Launcher, given this program's
 *  arguments: -settings, -resource ...) and, in the same JVM, answers a test driver
 *  on stdin/stdout about what the display runtime shows, one command per line and one
 *  "@@ {json}" answer per command:
 *  <pre>
 *  report KEY            widgets of a display: PVs (connected, severity, value), shown text
 *  widget KEY PATH       the same for one widget
 *  record KEY PATH       from now on, keep every value of the widget's primary PV
 *  recorded KEY PATH     the values kept, in order
 *  snap KEY FILE         PNG of the display's window
 *  click KEY PATH        press the widget at PATH with the pointer (xdotool)
 *  lint FILE             elements of a .bob file that are no property of their widget
 *  dialogs               the dialogs showing
 *  press TEXT            press a dialog's button with that text
 *  quit
 *  </pre>
 *  KEY names a display the launcher opened: "file.bob" or "file.bob|I-macro". */
public final class Harness
{
    private Harness() {}

    public static void main(final String[] args) throws Exception
    {
        final Thread phoebus = new Thread(() ->
        {
            try
            {
                org.phoebus.product.Launcher.main(args);
            }
            catch (Exception ex)
            {
                ex.printStackTrace();
                System.exit(2);
            }
        }, "phoebus-launcher");
        phoebus.setDaemon(true);
        phoebus.start();

        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null)
        {
            line = line.strip();
            if (line.isEmpty())
                continue;
            if (line.equals("quit"))
                break;
            Map<String, Object> answer;
            try
            {
                answer = command(line);
            }
            catch (Exception ex)
            {
                answer = new LinkedHashMap<>();
                answer.put("ok", false);
                answer.put("error", ex.toString());
            }
            System.out.println("@@ " + Json.of(answer));
            System.out.flush();
        }
        // Phoebus saves its memento on the way out; the runner gives it a scratch
        // user directory, so nothing of this run is restored into the next one.
        System.exit(0);
    }

    private static Map<String, Object> command(final String line) throws Exception
    {
        final String[] w = line.split(" ", 3);
        final Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("ok", true);
        switch (w[0])
        {
        case "report" -> answer.put("widgets", onFx(() -> Displays.report(model(w[1]))));
        case "widget" -> answer.put("widget", onFx(() -> Displays.describe(widget(w[1], w[2]), w[2])));
        case "record" -> onFx(() ->
        {
            Recorder.start(w[1] + " " + w[2], widget(w[1], w[2]));
            return null;
        });
        case "recorded" -> answer.put("values", Recorder.values(w[1] + " " + w[2]));
        case "snap" -> onFx(() ->
        {
            Operator.fxSnapshot(root(w[1]), new File(w[2]));
            return null;
        });
        case "click" ->
        {
            final Node node = onFx(() -> node(w[1], w[2]));
            final Operator.Presses presses = onFx(() -> new Operator.Presses(node.getScene()));
            final int[] xy = onFx(() -> Operator.fxCentre(node));
            Operator.click(xy);
            answer.put("at", java.util.List.of(xy[0], xy[1]));
            answer.put("pressed", presses.await());
        }
        case "lint" -> answer.put("unknown", Lint.unknownProperties(new File(line.substring("lint ".length()))));
        case "dialogs" -> answer.put("dialogs", onFx(Operator::fxDialogs));
        case "press" ->
        {
            final String text = line.substring("press ".length());
            final int[] xy = onFx(() -> Operator.fxDialogButton(text)
                                  .orElseThrow(() -> new Exception("no dialog with a button '" + text + "'")));
            Operator.click(xy);
        }
        default -> throw new Exception("unknown command: " + line);
        }
        return answer;
    }

    private static DisplayRuntimeInstance display(final String key) throws Exception
    {
        return Displays.find(key).orElseThrow(() -> new Exception("no display " + key + " open"));
    }

    private static DisplayModel model(final String key) throws Exception
    {
        return Displays.model(display(key)).orElseThrow(() -> new Exception("display " + key + " not represented yet"));
    }

    private static Node root(final String key) throws Exception
    {
        return display(key).getRepresentation().getModelParent();
    }

    private static Widget widget(final String key, final String path) throws Exception
    {
        return Displays.widget(model(key), path)
            .orElseThrow(() -> new Exception("no widget " + path + " in " + key));
    }

    private static Node node(final String key, final String path) throws Exception
    {
        final Widget widget = widget(key, path);
        final Node node = JFXBaseRepresentation.getJFXNode(widget);
        if (node == null)
            throw new Exception("widget " + path + " has no JavaFX node");
        return node;
    }

    /** Runs on the JavaFX thread, bounded: a wedged UI thread is an answer too
     *  (60 s: a busy 2-core machine slows the first representations a lot). */
    private static <T> T onFx(final Callable<T> call) throws Exception
    {
        final CompletableFuture<T> result = new CompletableFuture<>();
        Platform.runLater(() ->
        {
            try
            {
                result.complete(call.call());
            }
            catch (Throwable ex)
            {
                result.completeExceptionally(ex);
            }
        });
        return result.get(60, TimeUnit.SECONDS);
    }
}

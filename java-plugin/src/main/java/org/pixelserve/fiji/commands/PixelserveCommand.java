package org.pixelserve.fiji.commands;

import ij.IJ;
import ij.Macro;
import ij.plugin.PlugIn;
import java.awt.GraphicsEnvironment;
import java.util.List;
import org.pixelserve.fiji.CancelledException;
import org.pixelserve.fiji.Connections;
import org.pixelserve.fiji.IjMonitor;
import org.pixelserve.fiji.PixelserveException;

/**
 * Base of every pixelserve command: reads the options, runs, and reports a failure once, as
 * ImageJ does: in a macro as the macro's error (which stops it; a headless run exits with the
 * message), otherwise in a dialog. Nothing here ever waits for a person in a macro.
 */
public abstract class PixelserveCommand implements PlugIn {
    /** The command's name in the menu and in run("..."). */
    public abstract String name();

    /** The options, in dialog order. */
    public abstract List<Param> params();

    /** Runs with the options read. */
    protected abstract void execute(Values values, IjMonitor monitor) throws PixelserveException;

    /** A line under the dialog's fields (may be empty). */
    protected String help() {
        return "";
    }

    /** Changes the dialog before it is shown (e.g. to fill choices from the server). */
    protected OptionReader.DialogHook dialogHook() {
        return null;
    }

    /** Options that depend on those read first, e.g. a project's own; null: none. */
    protected OptionReader.FollowUp followUp(IjMonitor monitor) {
        return null;
    }

    /** Called before the options are read, e.g. to check that the server can run this at all. */
    protected void prepare(IjMonitor monitor) throws PixelserveException {
    }

    @Override
    public final void run(String arg) {
        IJ.resetEscape();  // only an Esc pressed from now on cancels (ImageJ's menus reset it too)
        try (IjMonitor monitor = new IjMonitor(name())) {
            prepare(monitor);
            OptionReader.DialogHook hook = OptionReader.fromMacro() ? null : dialogHook();
            Values values;
            try {
                values = OptionReader.read(name(), params(), help(), hook, followUp(monitor));
            } finally {
                if (hook instanceof AutoCloseable) {
                    closeQuietly((AutoCloseable) hook);
                }
            }
            execute(values, monitor);
        } catch (OptionReader.DialogCancelled closed) {
            // the user closed the dialog
        } catch (CancelledException cancelled) {
            IJ.showStatus("pixelserve " + name() + ": cancelled");
            if (OptionReader.fromMacro()) {
                if (GraphicsEnvironment.isHeadless()) {
                    report(cancelled.getMessage());  // a headless run ends with an error, not without its result
                } else {
                    Macro.abort();  // stops the macro quietly, as Esc does
                }
            }
        } catch (PixelserveException failure) {
            report(failure.getMessage());
        } catch (OutOfMemoryError memory) {
            report("Not enough memory: give Fiji more (Edit > Options > Memory & Threads), or use a smaller image");
        } catch (RuntimeException bug) {
            if (Macro.MACRO_CANCELED.equals(bug.getMessage())) {
                throw bug;  // ImageJ's own way of stopping a macro
            }
            IJ.log("pixelserve " + name() + ": internal error: " + bug);
            for (StackTraceElement line : bug.getStackTrace()) {
                IJ.log("    at " + line);
            }
            report("internal error: " + bug + " (a bug in the pixelserve plugin; the Log window has the details)");
        }
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception ignored) {
            // a dialog helper: nothing to report
        }
    }

    /** Shows the message once: the macro's error in macros, a dialog otherwise. */
    protected void report(String message) {
        Failures.record(message);
        IJ.error("pixelserve " + name(), IJ.getInstance() == null ? message : wrap(message, 100));
    }

    /** Breaks a long message into lines for a dialog. */
    static String wrap(String message, int width) {
        StringBuilder text = new StringBuilder();
        int line = 0;
        for (String word : message.split(" ")) {
            if (line > 0 && line + 1 + word.length() > width) {
                text.append('\n');
                line = 0;
            } else if (line > 0) {
                text.append(' ');
                line++;
            }
            text.append(word);
            line += word.length();
        }
        return text.toString();
    }

    /** The connection, made on first use from the server settings. */
    protected static Connections.Connected connect(IjMonitor monitor) throws PixelserveException {
        return Connections.get(monitor);
    }
}

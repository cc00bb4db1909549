package org.pixelserve.fiji.commands;

import java.util.Timer;
import java.util.TimerTask;
import java.util.function.Consumer;

/**
 * Looks up what a path typed into a dialog field names (a project, an HDF5 file) once the
 * typing pauses, so that the server is asked about the finished path, not every keystroke.
 */
final class TypingLookup implements AutoCloseable {
    private static final long PAUSE_MILLIS = 300;
    private final Timer timer;
    private final Consumer<String> lookup;
    private TimerTask pending;

    /** `lookup` runs on the timer's thread with the path (never empty). */
    TypingLookup(String threadName, Consumer<String> lookup) {
        this.timer = new Timer(threadName, true);
        this.lookup = lookup;
    }

    /** The field now holds `path`: drop the lookup not yet run, and plan one for this path. */
    synchronized void changed(String path) {
        if (pending != null) {
            pending.cancel();
        }
        if (path.isEmpty()) {
            return;
        }
        pending = new TimerTask() {
            @Override
            public void run() {
                lookup.accept(path);
            }
        };
        timer.schedule(pending, PAUSE_MILLIS);
    }

    @Override
    public void close() {
        timer.cancel();
    }
}

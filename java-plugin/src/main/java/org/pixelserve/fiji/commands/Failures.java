package org.pixelserve.fiji.commands;

/** The last failure a command reported, for scripts that call commands from Java or Python. */
public final class Failures {
    private static volatile String last;

    private Failures() {
    }

    static void record(String message) {
        last = message;
    }

    /** The message of the last failure, or null; clears it. */
    public static String takeLast() {
        String message = last;
        last = null;
        return message;
    }
}

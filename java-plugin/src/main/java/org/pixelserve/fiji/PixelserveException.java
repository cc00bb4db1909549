package org.pixelserve.fiji;

/** A failure to show the user as it is: the message says what went wrong and how to fix it. */
public class PixelserveException extends Exception {
    private static final long serialVersionUID = 1L;

    public PixelserveException(String message) {
        super(message);
    }

    public PixelserveException(String message, Throwable cause) {
        super(message, cause);
    }
}

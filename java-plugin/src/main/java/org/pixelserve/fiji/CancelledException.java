package org.pixelserve.fiji;

/** The user cancelled (Esc, or the Cancel button); the server job was stopped. */
public class CancelledException extends PixelserveException {
    private static final long serialVersionUID = 1L;

    public CancelledException() {
        super("Cancelled: the pixelserve job was stopped");
    }
}

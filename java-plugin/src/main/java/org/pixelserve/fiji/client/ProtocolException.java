package org.pixelserve.fiji.client;

import org.pixelserve.fiji.PixelserveException;

/** The server sent something this plugin cannot use (a newer protocol, a broken stream). */
public class ProtocolException extends PixelserveException {
    private static final long serialVersionUID = 1L;

    public ProtocolException(String message) {
        super(message);
    }
}

package org.pixelserve.fiji.client;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.pixelserve.fiji.PixelserveException;

/** A call the server refused or failed; the message is the server's own (it says what to fix). */
public class ServerException extends PixelserveException {
    private static final long serialVersionUID = 1L;
    private final Status.Code code;

    public ServerException(Status.Code code, String message) {
        super(message);
        this.code = code;
    }

    public Status.Code code() {
        return code;
    }

    /** The user-facing form of a failed call to {@code target} (host:port). */
    public static ServerException of(Throwable error, String target) {
        Status status = Status.fromThrowable(error);
        String details = status.getDescription();
        switch (status.getCode()) {
            case UNAVAILABLE:
                return new ServerException(status.getCode(), "Cannot reach the pixelserve server at " + target
                    + (details == null ? "" : " (" + details + ")")
                    + ": start one with 'pixelserve serve', or check Plugins > pixelserve > Server Settings");
            case DEADLINE_EXCEEDED:
                return new ServerException(status.getCode(), "The pixelserve server at " + target
                    + " did not answer in time: is it overloaded, or is another program listening on that port?");
            case UNIMPLEMENTED:
                return new ServerException(status.getCode(), "The server at " + target + " does not offer this call"
                    + (details == null ? "" : " (" + details + ")") + ": is it a pixelserve server of the same version as this plugin?");
            default:
                if (details == null || details.isEmpty()) {
                    details = "the server failed (" + status.getCode() + ")"
                        + (error instanceof StatusRuntimeException || error.getCause() == null ? "" : ": " + error.getCause());
                }
                return new ServerException(status.getCode(), details);
        }
    }
}

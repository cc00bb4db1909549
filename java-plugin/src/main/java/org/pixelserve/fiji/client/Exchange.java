package org.pixelserve.fiji.client;

import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.pixelserve.fiji.CancelledException;
import org.pixelserve.fiji.PixelserveException;

/**
 * One streaming call from the caller's side: sends requests as fast as the transport takes
 * them (waiting while gRPC's flow control says it is not ready, so that an image is never
 * buffered whole), hands each response to a handler, and cancels the call, which stops the
 * server's job, when the monitor says so.
 */
final class Exchange<Req, Resp> implements ClientResponseObserver<Req, Resp> {
    /** Handles one response; called on a gRPC thread, one response at a time. */
    interface Handler<Resp> {
        void handle(Resp response) throws PixelserveException;
    }

    private final Handler<Resp> handler;
    private final JobMonitor monitor;
    private final String target;
    private final Object lock = new Object();
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile ClientCallStreamObserver<Req> requests;
    private volatile Throwable error;
    private volatile PixelserveException handlerError;
    private volatile boolean closed;
    private volatile boolean cancelled;

    Exchange(Handler<Resp> handler, JobMonitor monitor, String target) {
        this.handler = handler;
        this.monitor = monitor;
        this.target = target;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Req> requestStream) {
        requests = requestStream;
        requestStream.setOnReadyHandler(this::wake);
    }

    private void wake() {
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    @Override
    public void onNext(Resp response) {
        if (handlerError != null) {
            return;
        }
        try {
            handler.handle(response);
        } catch (PixelserveException failure) {
            fail(failure);
        } catch (OutOfMemoryError failure) {
            fail(new PixelserveException("Not enough memory for the result: give Fiji more "
                + "(Edit > Options > Memory & Threads), or process a smaller image"));
        } catch (RuntimeException failure) {
            fail(new PixelserveException("The result could not be read: " + failure, failure));
        }
    }

    private void fail(PixelserveException failure) {
        handlerError = failure;
        requests.cancel("the client failed: " + failure.getMessage(), null);
    }

    @Override
    public void onError(Throwable t) {
        error = t;
        close();
    }

    @Override
    public void onCompleted() {
        close();
    }

    private void close() {
        closed = true;
        done.countDown();
        wake();
    }

    /** Sends one request once the transport is ready; throws CallEnded if the call has ended. */
    void send(Req request) throws PixelserveException {
        synchronized (lock) {
            while (!closed && !requests.isReady()) {
                checkCancel();
                try {
                    lock.wait(50);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    cancel();
                    throw new CancelledException();
                }
            }
        }
        checkCancel();
        if (closed) {
            throw new CallEnded();
        }
        requests.onNext(request);
    }

    /** The call ended while requests were still being sent: await() says why. */
    static final class CallEnded extends PixelserveException {
        private static final long serialVersionUID = 1L;

        CallEnded() {
            super("the call ended early");
        }
    }

    boolean isClosed() {
        return closed;
    }

    void finishSending() {
        if (!closed) {
            requests.onCompleted();
        }
    }

    private void checkCancel() throws CancelledException {
        if (monitor.isCancelled()) {
            cancel();
            throw new CancelledException();
        }
    }

    void cancel() {
        cancelled = true;
        if (requests != null) {
            requests.cancel("cancelled by the user", null);
        }
    }

    /** Waits for the end of the call; cancels it when the monitor asks. Throws what went wrong. */
    void await() throws PixelserveException {
        try {
            while (!done.await(100, TimeUnit.MILLISECONDS)) {
                if (!cancelled && monitor.isCancelled()) {
                    cancel();
                }
            }
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            cancel();
            throw new CancelledException();
        }
        if (handlerError != null) {
            throw handlerError;
        }
        if (cancelled) {
            throw new CancelledException();
        }
        if (error != null) {
            throw ServerException.of(error, target);
        }
    }
}

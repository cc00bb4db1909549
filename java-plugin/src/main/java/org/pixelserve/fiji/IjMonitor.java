package org.pixelserve.fiji;

import ij.IJ;
import java.awt.Button;
import java.awt.Dialog;
import java.awt.EventQueue;
import java.awt.FlowLayout;
import java.awt.Frame;
import java.awt.GraphicsEnvironment;
import java.awt.Label;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import org.pixelserve.fiji.client.JobMonitor;

/**
 * Shows a server job in ImageJ: the progress bar and status line follow the server's
 * progress; Esc, or the Cancel button of a small window that appears when a job takes more
 * than a second (only with ImageJ's window present), cancels it.
 */
public final class IjMonitor implements JobMonitor, AutoCloseable {
    private static final long WINDOW_DELAY_MS = 1000;

    private final String what;
    private final long started = System.currentTimeMillis();
    private volatile boolean cancelled;
    private volatile long lastShown;
    private volatile Dialog window;
    private volatile Label label;
    private volatile boolean closed;

    public IjMonitor(String what) {
        this.what = what;
    }

    @Override
    public void progress(long done, long total, String phase) {
        long now = System.currentTimeMillis();
        boolean last = total > 0 && done >= total;
        if (now - lastShown < 100 && !last) {
            return;
        }
        lastShown = now;
        String text = "pixelserve " + what + ": " + phase
            + (total > 0 ? " " + Math.round(100.0 * done / total) + "%" : "") + " (Esc cancels)";
        IJ.showStatus(text);
        if (total > 0) {
            IJ.showProgress((double) done / total);
        }
        if (now - started > WINDOW_DELAY_MS) {
            showWindow(text);
        }
    }

    @Override
    public boolean isCancelled() {
        if (!cancelled && IJ.escapePressed()) {
            cancelled = true;
        }
        return cancelled;
    }

    private void showWindow(String text) {
        if (IJ.getInstance() == null || GraphicsEnvironment.isHeadless() || closed) {
            return;
        }
        EventQueue.invokeLater(() -> {
            if (closed) {
                return;
            }
            if (window == null) {
                Frame owner = IJ.getInstance();
                Dialog dialog = new Dialog(owner, "pixelserve", false);
                dialog.setLayout(new FlowLayout(FlowLayout.LEFT, 10, 10));
                label = new Label(text);
                dialog.add(label);
                Button cancel = new Button("Cancel");
                cancel.addActionListener(event -> {
                    cancelled = true;
                    cancel.setEnabled(false);
                    label.setText("pixelserve " + what + ": cancelling...");
                });
                dialog.add(cancel);
                dialog.addWindowListener(new WindowAdapter() {
                    @Override
                    public void windowClosing(WindowEvent event) {
                        cancelled = true;
                    }
                });
                dialog.setSize(520, 70);
                dialog.setLocationRelativeTo(owner);
                window = dialog;
                dialog.setVisible(true);
            } else if (!cancelled) {
                label.setText(text);
            }
        });
    }

    /** Cancels the job as the Cancel button does (for tests and scripts). */
    public void cancel() {
        cancelled = true;
    }

    @Override
    public void close() {
        closed = true;
        IJ.showProgress(1.0);
        if (GraphicsEnvironment.isHeadless()) {
            return;
        }
        EventQueue.invokeLater(() -> {
            if (window != null) {
                window.dispose();
                window = null;
            }
        });
    }
}

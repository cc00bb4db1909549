package org.pixelserve.fiji.testing;

import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.Prefs;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.plugin.frame.Recorder;
import ij.text.TextWindow;
import java.awt.Button;
import java.awt.Choice;
import java.awt.Component;
import java.awt.Container;
import java.awt.Dialog;
import java.awt.EventQueue;
import java.awt.Label;
import java.awt.Rectangle;
import java.awt.TextField;
import java.awt.Robot;
import java.awt.Window;
import java.awt.event.ActionEvent;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.concurrent.atomic.AtomicReference;
import javax.imageio.ImageIO;

/**
 * Drives the plugin as a person would, in ImageJ's real GUI (under Xvfb in the tests): opens
 * each dialog, takes a screenshot of it, presses OK or Cancel, records a macro with ImageJ's
 * recorder, and presses the Cancel button of a running job. Writes PNGs, the recorded macro
 * and a report of what happened into the output folder, then exits (1 on failure).
 *
 * <p>Settings come from system properties: pixelserve.port, pixelserve.token, and the test
 * files pixelserve.project, pixelserve.image, pixelserve.big_image, pixelserve.h5; and
 * pixelserve.cc_port, pixelserve.cc_project: a server that runs the test suite's own
 * workflow, and a project of it.
 */
public final class GuiDriver {
    private final File out;
    private final PrintWriter report;
    private final Robot robot;

    private GuiDriver(File out) throws Exception {
        this.out = out;
        PrintWriter file = new PrintWriter(Files.newBufferedWriter(new File(out, "report.txt").toPath(), StandardCharsets.UTF_8), true);
        long started = System.nanoTime();
        this.report = new PrintWriter(file, true) {
            @Override
            public void println(String line) {
                super.println(line);
                System.out.println(String.format("%6.1f s  %s", (System.nanoTime() - started) / 1e9, line));
            }
        };
        this.robot = new Robot();
    }

    public static void main(String[] args) throws Exception {
        File out = new File(args[0]);
        out.mkdirs();
        int code = 0;
        GuiDriver driver = new GuiDriver(out);
        try {
            driver.run();
        } catch (Throwable failure) {
            driver.report.println("FAILED " + failure);
            failure.printStackTrace();
            code = 1;
        }
        driver.report.close();
        System.exit(code);
    }

    private void run() throws Exception {
        new ImageJ();
        waitFor("the ImageJ window", () -> IJ.getInstance() != null && IJ.getInstance().isShowing());
        IJ.getInstance().setLocation(0, 0);
        IJ.run("Server Settings", "host=127.0.0.1 port=" + System.getProperty("pixelserve.port")
            + " token=[" + System.getProperty("pixelserve.token", "") + "] command=[]");
        String project = System.getProperty("pixelserve.project");
        Prefs.set("pixelserve.pixel_classification.project", project);
        Prefs.set("pixelserve.train_pixel_classifier.output", new File(new File(project).getParent(), "Trained.ilp").getPath());
        Prefs.set("pixelserve.import_hdf5_(pixelserve).file", System.getProperty("pixelserve.h5"));
        Prefs.set("pixelserve.list_hdf5_datasets.file", System.getProperty("pixelserve.h5"));
        Prefs.set("pixelserve.export_hdf5_(pixelserve).file", new File(new File(project).getParent(), "exported.h5").getPath());
        Prefs.set("pixelserve.batch_process_folder.project", project);
        Prefs.set("pixelserve.batch_process_folder.folder", new File(System.getProperty("pixelserve.image")).getParent());
        Prefs.set("pixelserve.batch_process_folder.pattern", "cells_*.tif");
        ImagePlus image = IJ.openImage(System.getProperty("pixelserve.image"));
        image.show();
        waitFor("the image window", () -> image.getWindow() != null && image.getWindow().isShowing());
        image.getWindow().setLocation(0, 120);

        // The recorder writes what the dialog chose.
        new Recorder();
        Recorder.record = true;
        IJ.doCommand("Pixel Classification");
        GenericDialog dialog = waitForDialog("Pixel Classification");
        waitFor("the project's description in the dialog", () -> message(dialog).startsWith("Pixel Classification,"));
        Choice sources = (Choice) dialog.getChoices().lastElement();
        report.println("export sources: " + items(sources));
        EventQueue.invokeAndWait(() -> sources.select("Probabilities"));
        shoot(dialog, "pixel-classification-dialog.png");
        press(dialog, "OK");
        String title = image.getTitle().replaceFirst("\\.tif$", "") + "-Probabilities";
        waitFor("the result " + title, () -> WindowManager.getImage(title) != null && WindowManager.getImage(title).getWindow() != null);
        ImagePlus result = WindowManager.getImage(title);
        result.getWindow().setLocation(300, 120);
        IJ.wait(500);
        shoot(result.getWindow(), "pixel-classification-result.png");
        report.println("result: " + result.getTitle() + " " + result.getNChannels() + " channels");
        IJ.wait(300);
        String recorded = Recorder.getInstance().getText();
        Files.write(new File(out, "recorded.ijm").toPath(), recorded.getBytes(StandardCharsets.UTF_8));
        Recorder.record = false;
        Recorder.getInstance().close();

        // A segmentation, from a macro call, for the docs.
        WindowManager.setTempCurrentImage(image);
        IJ.run(image, "Pixel Classification", "project=[" + project + "] raw_data=[" + image.getTitle()
            + "] export_source=[Simple Segmentation]");
        ImagePlus segmentation = WindowManager.getImage(title.replace("Probabilities", "Simple Segmentation"));
        waitFor("the segmentation window", () -> segmentation.getWindow() != null);
        segmentation.getWindow().setLocation(300, 120);
        IJ.wait(500);
        shoot(segmentation.getWindow(), "simple-segmentation-result.png");

        // The other dialogs, each closed with Cancel.
        String[][] dialogs = {
            {"Autocontext", "autocontext-dialog.png"},
            {"Train Pixel Classifier", "train-dialog.png"},
            {"Import HDF5 (pixelserve)", "import-hdf5-dialog.png"},
            {"List HDF5 Datasets", "list-hdf5-dialog.png"},
            {"Export HDF5 (pixelserve)", "export-hdf5-dialog.png"},
            {"Batch Process Folder", "batch-dialog.png"},
            {"Server Settings", "server-settings-dialog.png"},
        };
        for (String[] entry : dialogs) {
            WindowManager.setCurrentWindow(image.getWindow());
            IJ.doCommand(entry[0]);
            GenericDialog shown = waitForDialog(entry[0]);
            if (entry[0].startsWith("Import")) {
                waitFor("the dataset list", () -> ((Choice) shown.getChoices().lastElement()).getItemCount() > 1);
            }
            if (entry[0].startsWith("Batch")) {
                waitFor("the project's export sources", () -> ((Choice) shown.getChoices().firstElement()).getItemCount() > 1);
            }
            IJ.wait(400);
            shoot(shown, entry[1]);
            press(shown, "Cancel");
            waitFor("the dialog to close", () -> !shown.isShowing());
        }

        // The Cancel button of a running job stops it.
        ImagePlus big = IJ.openImage(System.getProperty("pixelserve.big_image"));
        big.show();
        AtomicReference<Long> finished = new AtomicReference<>();
        AtomicReference<String> outcome = new AtomicReference<>("returned");
        Thread job = new Thread(() -> {
            try {
                IJ.run(big, "Pixel Classification", "project=[" + project + "] raw_data=[" + big.getTitle() + "]");
            } catch (RuntimeException stopped) {
                outcome.set(stopped.getMessage());  // ImageJ stops a cancelled macro with "Macro canceled"
            }
            finished.set(System.nanoTime());
        });
        job.start();
        Dialog progress = waitForDialog("pixelserve");
        IJ.wait(300);
        shoot(progress, "progress-cancel.png");
        long pressed = System.nanoTime();
        press(progress, "Cancel");
        job.join(30000);
        if (finished.get() == null) {
            throw new IllegalStateException("the job did not stop within 30 s of pressing Cancel");
        }
        report.println(String.format("cancel: stopped %.2f s after pressing Cancel (%s); result shown: %s",
            (finished.get() - pressed) / 1e9, outcome.get(), WindowManager.getImage(big.getTitle().replaceFirst("\\.tif$", "") + "-Probabilities") != null));
        runProject(image);
        report.println("done");
    }

    /** Run Project on a workflow without a menu entry (a server that runs the test suite's own):
     *  the project's dialog, then its images and options; an image and a table window come back. */
    private void runProject(ImagePlus image) throws Exception {
        IJ.run("Server Settings", "host=127.0.0.1 port=" + System.getProperty("pixelserve.cc_port") + " token=[] command=[]");
        Prefs.set("pixelserve.run_project.project", System.getProperty("pixelserve.cc_project"));
        new Recorder();
        Recorder.record = true;
        WindowManager.setCurrentWindow(image.getWindow());
        IJ.doCommand("Run Project");
        GenericDialog first = waitForDialog("Run Project");
        waitFor("the project's description", () -> message(first).contains("tables: objects"));
        report.println("run project: " + message(first));
        press(first, "OK");
        waitFor("the first dialog to close", () -> !first.isShowing());
        GenericDialog second = waitForDialog("Run Project");
        TextField threshold = (TextField) second.getStringFields().firstElement();
        EventQueue.invokeAndWait(() -> threshold.setText("120"));
        shoot(second, "run-project-dialog.png");
        press(second, "OK");
        String table = image.getTitle().replaceFirst("\\.tif$", "") + "-objects";
        waitFor("the table window " + table, () -> WindowManager.getWindow(table) instanceof TextWindow
            && ((TextWindow) WindowManager.getWindow(table)).getResultsTable() != null);  // filled after the window opens
        report.println("table: " + table + " " + ((TextWindow) WindowManager.getWindow(table)).getResultsTable().size() + " rows");
        IJ.wait(300);
        Files.write(new File(out, "recorded-run-project.ijm").toPath(), Recorder.getInstance().getText().getBytes(StandardCharsets.UTF_8));
        Recorder.record = false;
        Recorder.getInstance().close();
    }

    // -- helpers -------------------------------------------------------------------------------

    interface Condition {
        boolean holds() throws Exception;
    }

    private static void waitFor(String what, Condition condition) throws Exception {
        long deadline = System.currentTimeMillis() + 60000;
        while (!condition.holds()) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("timed out waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends Dialog> T waitForDialog(String title) throws Exception {
        AtomicReference<Dialog> found = new AtomicReference<>();
        waitFor("the dialog '" + title + "'", () -> {
            for (Window window : Window.getWindows()) {
                if (window instanceof Dialog && window.isShowing() && title.equals(((Dialog) window).getTitle())) {
                    found.set((Dialog) window);
                    return true;
                }
            }
            return false;
        });
        return (T) found.get();
    }

    private static String message(GenericDialog dialog) {
        Component message = dialog.getMessage();
        return message instanceof Label ? ((Label) message).getText() : "";
    }

    private static String items(Choice choice) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < choice.getItemCount(); i++) {
            text.append(i == 0 ? "" : ", ").append(choice.getItem(i));
        }
        return text.toString();
    }

    private static String allText(Container container) {
        StringBuilder text = new StringBuilder();
        for (Component component : container.getComponents()) {
            if (component instanceof Label) {
                text.append(((Label) component).getText()).append('\n');
            } else if (component instanceof ij.gui.MultiLineLabel) {
                try {
                    java.lang.reflect.Field lines = ij.gui.MultiLineLabel.class.getDeclaredField("lines");
                    lines.setAccessible(true);
                    text.append(String.join(" ", (String[]) lines.get(component))).append('\n');
                } catch (ReflectiveOperationException unreadable) {
                    text.append("?");
                }
            } else if (component instanceof Container) {
                text.append(allText((Container) component));
            }
        }
        return text.toString();
    }

    private static Button button(Container container, String label) {
        for (Component component : container.getComponents()) {
            if (component instanceof Button && ((Button) component).getLabel().trim().equals(label)) {
                return (Button) component;
            }
            if (component instanceof Container) {
                Button inner = button((Container) component, label);
                if (inner != null) {
                    return inner;
                }
            }
        }
        return null;
    }

    /** Presses a button as a click does: its action listeners get the event on the AWT thread. */
    private static void press(Dialog dialog, String label) throws Exception {
        Button button = button(dialog, label);
        if (button == null) {
            throw new IllegalStateException("no button '" + label + "' in " + dialog.getTitle());
        }
        EventQueue.invokeLater(() -> {
            ActionEvent event = new ActionEvent(button, ActionEvent.ACTION_PERFORMED, button.getActionCommand());
            for (java.awt.event.ActionListener listener : button.getActionListeners()) {
                listener.actionPerformed(event);
            }
        });
    }

    private void shoot(Window window, String name) throws IOException, InterruptedException, java.lang.reflect.InvocationTargetException {
        EventQueue.invokeAndWait(() -> {
            window.toFront();
            window.validate();
        });
        robot.waitForIdle();
        Thread.sleep(300);
        // Put dialogs where nothing else is (ImageJ centres them; without a window manager the
        // position AWT reports may not be where the window is): capture exactly that spot.
        if (window instanceof Dialog) {
            EventQueue.invokeAndWait(() -> window.setLocation(600, 560));
            robot.waitForIdle();
            Thread.sleep(400);
        }
        Rectangle bounds = window.getBounds();
        BufferedImage shot = robot.createScreenCapture(bounds);
        ImageIO.write(shot, "png", new File(out, name));
        report.println("screenshot " + name + " " + bounds.width + "x" + bounds.height);
    }
}

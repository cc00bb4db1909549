package org.pixelserve.fiji.commands;

import ij.IJ;
import ij.ImagePlus;
import ij.Prefs;
import ij.WindowManager;
import ij.gui.Roi;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.pixelserve.fiji.IjMonitor;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.ArrayWriter;
import org.pixelserve.fiji.image.ImageArrayWriter;
import org.pixelserve.fiji.image.ImageLayout;
import org.pixelserve.fiji.image.RoiLabels;
import org.pixelserve.v1.ProjectInfo;
import org.pixelserve.v1.TrainHeader;
import org.pixelserve.v1.TrainingData;
import org.pixelserve.v1.TrainingImage;

/**
 * Trains a project on the server from an open image and its labels, either a label image or
 * the image's ROIs, and writes the .ilp there (TrainingService.Train). A subclass names the
 * workflow, turns ROIs into labels when that differs ({@link #roiLabels}), and adds its own
 * settings and input images ({@link #configure}); the next run of the workflow's command
 * offers the trained project.
 */
public abstract class TrainingCommand extends PixelserveCommand {
    static final String LABELS = "labels";
    static final String OUTPUT = "output";
    static final String LABEL_NAMES = "label_names";
    static final String FEATURES = "features";
    static final String TREES = "trees";
    static final String SEED = "seed";

    /** The training's request, which {@link #configure} completes. */
    protected static final class Request {
        final TrainHeader.Builder header;
        /** The image's other inputs by ilastik's role name, e.g. "Segmentation Image". */
        final Map<String, ImagePlus> roles = new TreeMap<>();

        Request(TrainHeader.Builder header) {
            this.header = header;
        }

        /** Passes the options of `pixelserve train` that were given (not empty) under their own names. */
        void options(Values values, String... keys) {
            for (String key : keys) {
                if (!values.get(key).trim().isEmpty()) {
                    header.putOptions(key, values.get(key).trim());
                }
            }
        }
    }

    /** The workflow trained, as `pixelserve train --workflow` names it (pixel, autocontext, object, counting). */
    protected abstract String workflow(Values values);

    /** The menu command that runs the trained project, e.g. "Object Classification". */
    protected abstract String runsIn(Values values);

    /** Adds the workflow's own settings and input images to the request. */
    protected abstract void configure(Values values, ImagePlus raw, Request request) throws PixelserveException;

    /** The labels the image's ROIs draw: by default one class per ROI group. */
    protected RoiLabels roiLabels(ImagePlus raw, Roi[] rois) throws PixelserveException {
        return RoiLabels.of(raw, rois);
    }

    static Param rawData() {
        return Param.required(WorkflowCommand.RAW_DATA, Param.Kind.IMAGE, "the image to learn from (default: the current image)");
    }

    static Param labels(String help) {
        return Param.optional(LABELS, Param.Kind.OPTIONAL_IMAGE, Param.NONE, help);
    }

    static Param output() {
        return Param.required(OUTPUT, Param.Kind.FILE, "the .ilp project to write (a path on the server's machine)");
    }

    static Param seed() {
        return Param.optional(SEED, Param.Kind.NUMBER, "0", "random seed (the same seed gives the same project)");
    }

    @Override
    protected final void execute(Values values, IjMonitor monitor) throws PixelserveException {
        ImagePlus raw = image(values.get(WorkflowCommand.RAW_DATA), "raw data");
        Request request = new Request(TrainHeader.newBuilder().setOutput(values.get(OUTPUT))
            .setFeatures(values.get(FEATURES).trim())
            .setSeed(Math.max(0, values.number(SEED)))
            .setWorkflow(workflow(values)));
        configure(values, raw, request);
        String labelTitle = values.image(LABELS);
        ImagePlus labels;
        List<String> names = new ArrayList<>();
        if (labelTitle == null) {
            RoiLabels fromRois = roiLabels(raw, RoiLabels.roisOf(raw));
            labels = fromRois.labels;
            names.addAll(fromRois.names);
        } else {
            labels = image(labelTitle, LABELS);
            checkCovers(raw, labels, "label image", true);
        }
        String given = values.get(LABEL_NAMES).trim();
        request.header.addAllLabelNames(given.isEmpty() ? names : Arrays.asList(given.split("\\s*,\\s*")));
        ImageArrayWriter rawWriter = new ImageArrayWriter(raw, ImageLayout.IMAGEJ_ORDER, monitor);
        ImageArrayWriter labelWriter = new ImageArrayWriter(labels, ImageLayout.IMAGEJ_ORDER, null);
        TrainingImage.Builder image = TrainingImage.newBuilder()
            .setRaw(TrainingData.newBuilder().setArray(rawWriter.header()))
            .setLabels(TrainingData.newBuilder().setArray(labelWriter.header()));
        Map<Integer, ArrayWriter> arrays = new LinkedHashMap<>();
        arrays.put(0, rawWriter);
        arrays.put(1, labelWriter);
        // role images are numbered after the raw data and labels, in the order of their names (TrainRequest.chunk)
        for (Map.Entry<String, ImagePlus> role : request.roles.entrySet()) {
            ImageArrayWriter writer = new ImageArrayWriter(role.getValue(), ImageLayout.IMAGEJ_ORDER, null);
            image.putRoles(role.getKey(), TrainingData.newBuilder().setArray(writer.header()).build());
            arrays.put(arrays.size(), writer);
        }
        request.header.addImages(image);
        ProjectInfo trained = connect(monitor).client.train(request.header.build(), arrays, monitor);
        Prefs.set("pixelserve." + runsIn(values).toLowerCase(Locale.ROOT).replace(' ', '_') + ".project", trained.getProject());
        List<String> classes = new ArrayList<>();
        for (org.pixelserve.v1.Label label : trained.getLabelsList()) {
            classes.add(label.getName());
        }
        IJ.showStatus("pixelserve: trained " + new File(trained.getProject()).getName() + " (" + String.join(", ", classes) + ")");
    }

    /** The open image of this title. */
    static ImagePlus image(String title, String what) throws PixelserveException {
        ImagePlus image = WindowManager.getImage(title);
        if (image == null) {
            throw new PixelserveException("No image titled '" + title + "' is open (" + what + ")");
        }
        return image;
    }

    /**
     * An image given with `raw` must cover it: the same width, height, slices and frames (and
     * one channel, unless it may have its own, as prediction maps do); a label image's values
     * are numbers, not colours.
     */
    static void checkCovers(ImagePlus raw, ImagePlus other, String what, boolean oneChannel) throws PixelserveException {
        ImageLayout image = ImageLayout.of(raw);
        ImageLayout given = ImageLayout.of(other);
        if (oneChannel && given.channels != 1 || given.width != image.width || given.height != image.height
                || given.slices != image.slices || given.frames != image.frames) {
            throw new PixelserveException("The " + what + " '" + other.getTitle() + "' is " + given.describe() + " but '"
                + raw.getTitle() + "' is " + image.describe() + ": give one of the same size, slices and frames"
                + (oneChannel ? ", with one channel" : ""));
        }
        if (oneChannel && other.getBitDepth() == 24) {
            throw new PixelserveException("The " + what + " '" + other.getTitle() + "' is RGB: give an 8- or 16-bit image "
                + "whose values are the classes (0: unlabelled)");
        }
    }
}

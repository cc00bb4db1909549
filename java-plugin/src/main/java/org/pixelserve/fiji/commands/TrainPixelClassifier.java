package org.pixelserve.fiji.commands;

import ij.IJ;
import ij.ImagePlus;
import ij.Prefs;
import ij.WindowManager;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
 * Plugins &gt; pixelserve &gt; Train Pixel Classifier: a Pixel Classification (or Autocontext)
 * project from an image and its labels, either a label image (0 unlabelled, 1..K the classes)
 * or the image's ROIs with one class per ROI group. The server writes the .ilp, which
 * ilastik opens too.
 */
public final class TrainPixelClassifier extends PixelserveCommand {
    static final String PIXEL = "Pixel Classification";
    static final String AUTOCONTEXT = "Autocontext";

    @Override
    public String name() {
        return "Train Pixel Classifier";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(
            Param.required(WorkflowCommand.RAW_DATA, Param.Kind.IMAGE, "the image to learn from (default: the current image)"),
            Param.optional("labels", Param.Kind.OPTIONAL_IMAGE, Param.NONE,
                "a label image (0: unlabelled, 1..K: classes); None: the image's ROIs, one class per ROI group"),
            Param.required("output", Param.Kind.FILE, "the .ilp project to write (a path on the server's machine)"),
            Param.optional("label_names", Param.Kind.TEXT, "", "class names, comma-separated (default: ROI group names, else Label k)"),
            Param.choice("workflow", PIXEL, "Pixel Classification, or Autocontext (two stages)", PIXEL, AUTOCONTEXT),
            Param.optional("features", Param.Kind.TEXT, "default", "default (ilastik's feature grid), all, or e.g. gaussian:0.3,1,3.5 hessian:1,3.5"),
            Param.optional("trees", Param.Kind.NUMBER, "100", "trees of the random forest"),
            Param.optional("seed", Param.Kind.NUMBER, "0", "random seed (the same seed gives the same project)"));
    }

    @Override
    protected void execute(Values values, IjMonitor monitor) throws PixelserveException {
        ImagePlus raw = WindowManager.getImage(values.get(WorkflowCommand.RAW_DATA));
        if (raw == null) {
            throw new PixelserveException("No image titled '" + values.get(WorkflowCommand.RAW_DATA) + "' is open");
        }
        ImagePlus labels;
        List<String> names = new ArrayList<>();
        String labelTitle = values.image("labels");
        if (labelTitle == null) {
            RoiLabels fromRois = RoiLabels.of(raw, RoiLabels.roisOf(raw));
            labels = fromRois.labels;
            names.addAll(fromRois.names);
        } else {
            labels = WindowManager.getImage(labelTitle);
            if (labels == null) {
                throw new PixelserveException("No image titled '" + labelTitle + "' is open (labels)");
            }
            checkLabels(raw, labels);
        }
        String given = values.get("label_names").trim();
        if (!given.isEmpty()) {
            names = Arrays.asList(given.split("\\s*,\\s*"));
        }
        String output = values.get("output");
        ImageArrayWriter rawWriter = new ImageArrayWriter(raw, ImageLayout.IMAGEJ_ORDER, monitor);
        ImageArrayWriter labelWriter = new ImageArrayWriter(labels, ImageLayout.IMAGEJ_ORDER, null);
        TrainHeader.Builder header = TrainHeader.newBuilder().setOutput(output)
            .addImages(TrainingImage.newBuilder()
                .setRaw(TrainingData.newBuilder().setArray(rawWriter.header()))
                .setLabels(TrainingData.newBuilder().setArray(labelWriter.header())))
            .addAllLabelNames(names)
            .setFeatures(values.get("features").trim())
            .setTrees(Math.max(1, values.number("trees")))
            .setSeed(Math.max(0, values.number("seed")))
            .setWorkflow(values.get("workflow").equals(AUTOCONTEXT) ? "autocontext" : "pixel")
            .setIn2D(false);
        Map<Integer, ArrayWriter> arrays = new LinkedHashMap<>();
        arrays.put(0, rawWriter);
        arrays.put(1, labelWriter);
        ProjectInfo trained = connect(monitor).client.train(header.build(), arrays, monitor);
        String command = values.get("workflow").equals(AUTOCONTEXT) ? "autocontext" : "pixel_classification";
        Prefs.set("pixelserve." + command + ".project", trained.getProject());
        List<String> classes = new ArrayList<>();
        for (org.pixelserve.v1.Label label : trained.getLabelsList()) {
            classes.add(label.getName());
        }
        IJ.showStatus("pixelserve: trained " + new File(trained.getProject()).getName() + " (" + String.join(", ", classes) + ")");
    }

    /** A label image must cover the image: same width, height, slices and frames, one channel. */
    static void checkLabels(ImagePlus raw, ImagePlus labels) throws PixelserveException {
        ImageLayout image = ImageLayout.of(raw);
        ImageLayout given = ImageLayout.of(labels);
        if (given.channels != 1 || given.width != image.width || given.height != image.height
                || given.slices != image.slices || given.frames != image.frames) {
            throw new PixelserveException("The label image '" + labels.getTitle() + "' is " + given.describe() + " but '"
                + raw.getTitle() + "' is " + image.describe() + ": give labels of the same size, slices and frames, with one channel");
        }
        if (labels.getBitDepth() == 24) {
            throw new PixelserveException("The label image '" + labels.getTitle() + "' is RGB: give an 8- or 16-bit image "
                + "whose values are the classes (0: unlabelled)");
        }
    }
}

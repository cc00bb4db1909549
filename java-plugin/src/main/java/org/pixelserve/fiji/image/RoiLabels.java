package org.pixelserve.fiji.image;

import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.process.ByteProcessor;
import ij.process.ImageProcessor;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.pixelserve.fiji.PixelserveException;

/**
 * A sparse label image from ROIs, one class per ROI group (Edit &gt; Selection &gt; Properties,
 * or Roi.setGroup in a macro): the groups in use, in increasing order, become the classes
 * 1..K; lines are drawn as wide as their stroke; a ROI with a slice or frame position labels
 * that plane only, one without labels every plane.
 */
public final class RoiLabels {
    public final ImagePlus labels;
    /** The class names: the ROI group names where set, else "Label k". */
    public final List<String> names;

    private RoiLabels(ImagePlus labels, List<String> names) {
        this.labels = labels;
        this.names = names;
    }

    public static RoiLabels of(ImagePlus image, Roi[] rois) throws PixelserveException {
        if (rois == null || rois.length == 0) {
            throw new PixelserveException("'" + image.getTitle() + "' has no ROIs in its overlay: draw the labels as ROIs, "
                + "one group per class (Edit > Selection > Properties sets the group), add them with Image > Overlay > "
                + "Add Selection, or give a label image (labels=[title])");
        }
        TreeSet<Integer> groups = new TreeSet<>();
        for (Roi roi : rois) {
            if (roi.getGroup() <= 0) {
                throw new PixelserveException("The ROI '" + (roi.getName() == null ? roi.getTypeAsString() : roi.getName())
                    + "' has no group: give every ROI the group of its class (Edit > Selection > Properties, or Roi.setGroup(k))");
            }
            groups.add(roi.getGroup());
        }
        if (groups.size() < 2) {
            throw new PixelserveException("The ROIs label only one class (group " + groups.first()
                + "): a classifier needs at least two, e.g. background and cells");
        }
        List<Integer> order = new ArrayList<>(groups);
        List<String> names = new ArrayList<>();
        for (int group : order) {
            String name = Roi.getGroupName(group);
            names.add(name == null ? "Label " + (names.size() + 1) : name);
        }
        int slices = image.getNSlices();
        int frames = image.getNFrames();
        ImageStack stack = new ImageStack(image.getWidth(), image.getHeight());
        for (int i = 0; i < slices * frames; i++) {
            stack.addSlice(new ByteProcessor(image.getWidth(), image.getHeight()));
        }
        for (Roi roi : rois) {
            Roi area = roi.isLine() ? Roi.convertLineToArea(roi) : roi;
            if (area == null || roi.getType() == Roi.POINT) {
                throw new PixelserveException("The ROI '" + roi.getTypeAsString() + "' cannot label pixels: use areas or lines");
            }
            int value = order.indexOf(roi.getGroup()) + 1;
            int[] zRange = position(roi, image, true);
            int[] tRange = position(roi, image, false);
            for (int t = tRange[0]; t < tRange[1]; t++) {
                for (int z = zRange[0]; z < zRange[1]; z++) {
                    ImageProcessor plane = stack.getProcessor(t * slices + z + 1);
                    plane.setColor(value);
                    plane.fill(area);
                }
            }
        }
        ImagePlus labels = new ImagePlus(image.getTitle() + "-labels", stack);
        labels.setDimensions(1, slices, frames);
        return new RoiLabels(labels, names);
    }

    /** [start, stop) of the slices (z) or frames (t) a ROI labels. */
    private static int[] position(Roi roi, ImagePlus image, boolean slice) {
        int count = slice ? image.getNSlices() : image.getNFrames();
        int at;
        if (roi.hasHyperStackPosition()) {
            at = slice ? roi.getZPosition() : roi.getTPosition();
        } else if (roi.getPosition() > 0 && image.getStackSize() > 1) {
            int[] czt = image.convertIndexToPosition(roi.getPosition());
            at = slice ? czt[1] : czt[2];
        } else {
            at = 0;
        }
        return at <= 0 || at > count ? new int[] {0, count} : new int[] {at - 1, at};
    }

    /** The ROIs of the image's overlay, else those of the ROI Manager (when one is open). */
    public static Roi[] roisOf(ImagePlus image) {
        Overlay overlay = image.getOverlay();
        if (overlay != null && overlay.size() > 0) {
            return overlay.toArray();
        }
        if (!java.awt.GraphicsEnvironment.isHeadless()) {
            ij.plugin.frame.RoiManager manager = ij.plugin.frame.RoiManager.getInstance();
            if (manager != null && manager.getCount() > 0) {
                return manager.getRoisAsArray();
            }
        }
        IJ.showStatus("");
        return new Roi[0];
    }
}

package org.pixelserve.fiji.image;

import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.process.ByteProcessor;
import ij.process.ImageProcessor;
import java.awt.Point;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.pixelserve.fiji.PixelserveException;

/**
 * A sparse label image from ROIs, one class per ROI group (Edit &gt; Selection &gt; Properties,
 * or Roi.setGroup in a macro): the groups in use, in increasing order, become the classes
 * 1..K; lines are drawn as wide as their stroke; a ROI with a slice or frame position labels
 * that plane only, one without labels every plane. For counting ({@link #dots}), point ROIs
 * are the dots and the other ROIs background.
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
        requireRois(image, rois, "one group per class (Edit > Selection > Properties sets the group)");
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
        ImageStack stack = emptyStack(image);
        for (Roi roi : rois) {
            if (roi.getType() == Roi.POINT) {
                throw new PixelserveException("The ROI '" + roi.getTypeAsString() + "' cannot label pixels: use areas or lines");
            }
            draw(stack, image, roi, order.indexOf(roi.getGroup()) + 1);
        }
        return new RoiLabels(labelImage(image, stack), names);
    }

    /**
     * The labels of Cell Density Counting: every point of the point ROIs (multi-point ones too)
     * is a dot (1) on an object; area and line ROIs mark background (2). Dots win where both
     * fall on a pixel. No class names: counting's are fixed.
     */
    public static RoiLabels dots(ImagePlus image, Roi[] rois) throws PixelserveException {
        requireRois(image, rois, "a point on each object (Multi-point tool) and areas or lines on background");
        ImageStack stack = emptyStack(image);
        boolean background = false;
        for (Roi roi : rois) {
            if (roi.getType() != Roi.POINT) {
                draw(stack, image, roi, DOT + 1);
                background = true;
            }
        }
        boolean dots = false;
        for (Roi roi : rois) {
            if (roi.getType() == Roi.POINT) {
                draw(stack, image, roi, DOT);
                dots = true;
            }
        }
        if (!dots || !background) {
            throw new PixelserveException("'" + image.getTitle() + "' has " + (dots ? "no background ROIs: draw areas or lines "
                + "on background, where no object is" : "no point ROIs: mark a point on each object with the Multi-point tool")
                + ", add them to the overlay (Image > Overlay > Add Selection), and train again");
        }
        return new RoiLabels(labelImage(image, stack), new ArrayList<>());
    }

    private static final int DOT = 1;

    private static void requireRois(ImagePlus image, Roi[] rois, String what) throws PixelserveException {
        if (rois == null || rois.length == 0) {
            throw new PixelserveException("'" + image.getTitle() + "' has no ROIs in its overlay: draw the labels as ROIs, "
                + what + ", add them with Image > Overlay > Add Selection, or give a label image (labels=[title])");
        }
    }

    private static ImageStack emptyStack(ImagePlus image) {
        ImageStack stack = new ImageStack(image.getWidth(), image.getHeight());
        for (int i = 0; i < image.getNSlices() * image.getNFrames(); i++) {
            stack.addSlice(new ByteProcessor(image.getWidth(), image.getHeight()));
        }
        return stack;
    }

    private static ImagePlus labelImage(ImagePlus image, ImageStack stack) {
        ImagePlus labels = new ImagePlus(image.getTitle() + "-labels", stack);
        labels.setDimensions(1, image.getNSlices(), image.getNFrames());
        return labels;
    }

    /** Sets `value` on the ROI's pixels (points: their pixels; lines: as wide as their stroke) in the planes it labels. */
    private static void draw(ImageStack stack, ImagePlus image, Roi roi, int value) throws PixelserveException {
        Roi area = roi.isLine() ? Roi.convertLineToArea(roi) : roi;
        if (area == null) {
            throw new PixelserveException("The ROI '" + roi.getTypeAsString() + "' cannot label pixels: use areas or lines");
        }
        int slices = image.getNSlices();
        int[] zRange = position(roi, image, true);
        int[] tRange = position(roi, image, false);
        for (int t = tRange[0]; t < tRange[1]; t++) {
            for (int z = zRange[0]; z < zRange[1]; z++) {
                ImageProcessor plane = stack.getProcessor(t * slices + z + 1);
                if (roi.getType() == Roi.POINT) {
                    for (Point point : roi.getContainedPoints()) {
                        plane.putPixel(point.x, point.y, value);  // ignores points off the image
                    }
                } else {
                    plane.setColor(value);
                    plane.fill(area);
                }
            }
        }
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

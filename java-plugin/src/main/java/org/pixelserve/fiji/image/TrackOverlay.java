package org.pixelserve.fiji.image;

import ij.ImagePlus;
import ij.gui.Overlay;
import ij.gui.PointRoi;
import ij.process.LUT;
import java.awt.Color;
import org.pixelserve.fiji.client.Table;

/**
 * Tracks drawn on a tracking result: one point per object and frame (a row of the tracks table,
 * the columns of ilastik's CSV-Table export) at its centre, in its frame, coloured as the
 * result's LUT colours the object's lineage id (false detections as value 1, as the
 * Tracking-Result image holds them), so that the points and the image agree.
 */
public final class TrackOverlay {
    public static final String FRAME = "frame";
    public static final String TRACK = "trackId";
    public static final String LINEAGE = "lineageId";
    /** The centre's columns, x, y (and z): ilastik's "Center of the object", in vigra's axis order. */
    public static final String[] CENTRE = {"Center_of_the_object_0", "Center_of_the_object_1", "Center_of_the_object_2"};

    private TrackOverlay() {
    }

    /** Adds a point per row of `tracks` to the overlay of `image`; a table without these columns adds none. */
    public static void add(ImagePlus image, Table tracks) {
        double[] frame = tracks.numbers(FRAME);
        double[] track = tracks.numbers(TRACK);
        double[] lineage = tracks.numbers(LINEAGE);
        double[] x = tracks.numbers(CENTRE[0]);
        double[] y = tracks.numbers(CENTRE[1]);
        double[] z = tracks.numbers(CENTRE[2]);
        if (frame == null || track == null || lineage == null || x == null || y == null) {
            return;
        }
        LUT lut = image.getProcessor().getLut();
        Overlay overlay = image.getOverlay() != null ? image.getOverlay() : new Overlay();
        for (int row = 0; row < tracks.rows; row++) {
            int t = (int) frame[row] + 1;
            int slice = z == null ? 1 : (int) z[row] + 1;
            PointRoi point = new PointRoi((int) x[row], (int) y[row]);
            point.setName(name((int) lineage[row], (int) track[row], t - 1));
            point.setStrokeColor(new Color(lut.getRGB(lineageValue(lineage[row]))));
            point.setPosition(1, slice, t);   // ImageJ draws it in that plane of a hyperstack or a plain stack
            overlay.add(point);
        }
        image.setOverlay(overlay);
    }

    /** "lineage 3 track 5 t=2"; "false detection t=2" for an object of no lineage (id -1). */
    static String name(int lineage, int track, int frame) {
        return lineage < 0 ? "false detection t=" + frame : "lineage " + lineage + " track " + track + " t=" + frame;
    }

    /** The value the Tracking-Result image holds for the lineage id, as a LUT index: 1 for false detections. */
    static int lineageValue(double lineage) {
        return (int) Math.min(255, Math.max(1, lineage));
    }
}

package org.pixelserve.fiji.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.measure.ResultsTable;
import java.awt.Rectangle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.client.ProtocolException;
import org.pixelserve.fiji.client.Table;
import org.pixelserve.fiji.client.TableAssembler;
import org.pixelserve.v1.DType;
import org.pixelserve.v1.ResultHeader;
import org.pixelserve.v1.TableColumn;
import org.pixelserve.v1.TableHeader;

/** Tracks as an overlay: a point per row at its centre and frame, coloured as the image colours its lineage; per-run tables. */
class TrackOverlayTest {
    /** A table of int64 columns, one double[] per column, as the server sends it. */
    static Table table(String name, boolean perRun, String[] names, double[][] values) throws ProtocolException {
        TableHeader.Builder header = TableHeader.newBuilder().setName(name).setRows(values[0].length).setPerRun(perRun);
        for (String column : names) {
            header.addColumns(TableColumn.newBuilder().setName(column).setDtype(DType.DTYPE_INT64));
        }
        TableAssembler assembler = new TableAssembler(header.build());
        for (int c = 0; c < names.length; c++) {
            ByteBuffer bytes = ByteBuffer.allocate(8 * values[c].length).order(ByteOrder.LITTLE_ENDIAN);
            for (double value : values[c]) {
                bytes.putLong((long) value);
            }
            bytes.flip();
            assembler.accept(c, bytes);
        }
        return assembler.finish();
    }

    @Test
    void aPointPerObjectAndFrameInItsLineagesColour() throws ProtocolException {
        ImagePlus movie = IJ.createImage("movie", "32-bit black", 20, 10, 1, 1, 3);
        ResultStyler.style(movie, ResultHeader.newBuilder().addLabelColors(ResultStylerTest.color(255, 0, 0))
            .addLabelColors(ResultStylerTest.color(0, 255, 0)).addLabelColors(ResultStylerTest.color(0, 0, 255)).build(), null);
        Table tracks = table("tracks", false, new String[] {"frame", "labelimageId", "trackId", "lineageId",
            TrackOverlay.CENTRE[0], TrackOverlay.CENTRE[1]}, new double[][] {
                {0, 0, 1, 2}, {1, 2, 1, 1}, {2, -1, 2, 2}, {2, -1, 2, 2}, {3, 7, 4, 5}, {4, 2, 5, 6}});
        TrackOverlay.add(movie, tracks);
        Overlay overlay = movie.getOverlay();
        assertEquals(4, overlay.size());
        Roi first = overlay.get(0);
        assertEquals("lineage 2 track 2 t=0", first.getName());
        assertEquals("false detection t=0", overlay.get(1).getName());
        Rectangle bounds = first.getBounds();
        assertEquals(3, bounds.x);
        assertEquals(4, bounds.y);
        assertEquals(1, first.getTPosition());
        assertEquals(3, overlay.get(3).getTPosition());
        assertEquals(0x00ff00, first.getStrokeColor().getRGB() & 0xffffff);           // value 2: the second colour
        assertEquals(0xff0000, overlay.get(1).getStrokeColor().getRGB() & 0xffffff);  // false detections: value 1
        assertEquals(first.getStrokeColor(), overlay.get(2).getStrokeColor());        // one lineage, one colour
        assertNotEquals(first.getStrokeColor(), overlay.get(1).getStrokeColor());
    }

    @Test
    void aTableWithoutCentresAddsNoOverlay() throws ProtocolException {
        ImagePlus movie = IJ.createImage("movie", "8-bit black", 8, 8, 1, 1, 2);
        TrackOverlay.add(movie, table("tracks", false, new String[] {"frame", "trackId", "lineageId"},
            new double[][] {{0}, {1}, {1}}));
        assertNull(movie.getOverlay());
    }

    @Test
    void perRunTablesAreMarkedAndRecognisedByTheirColumns() throws ProtocolException {
        Table counts = table("counts", true, new String[] {"count"}, new double[][] {{3}});
        assertTrue(counts.perRun);
        ResultsTable results = new ResultsTable();
        assertFalse(ResultTables.holds(results, counts));   // empty: starts afresh
        ResultTables.fill(results, counts);
        assertTrue(ResultTables.holds(results, counts));
        results.addValue("other", 1);
        assertFalse(ResultTables.holds(results, counts));
    }
}

package org.pixelserve.fiji.commands;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.measure.Calibration;
import java.util.Arrays;
import java.util.List;
import org.pixelserve.fiji.IjMonitor;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.image.ImageArrayWriter;
import org.pixelserve.fiji.image.ImageLayout;
import org.pixelserve.v1.WriteDatasetHeader;

/**
 * Plugins &gt; pixelserve &gt; Export HDF5 (pixelserve): an image as an HDF5 dataset written by the
 * server, with axistags and pixel sizes as ilastik writes them.
 */
public final class ExportHdf5 extends PixelserveCommand {
    @Override
    public String name() {
        return "Export HDF5 (pixelserve)";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(
            Param.required("image", Param.Kind.IMAGE, "the image to write (default: the current image)"),
            Param.required(Hdf5.FILE, Param.Kind.FILE, "the .h5 file to write (a path on the server's machine)"),
            Param.optional(Hdf5.DATASET, Param.Kind.TEXT, "exported_data", "the dataset inside the file"),
            Param.optional(Hdf5.AXES, Param.Kind.TEXT, ImageLayout.ILASTIK_ORDER,
                "the axis order in the file (t and z first), default ilastik's tzyxc"),
            Param.optional("compressed", Param.Kind.CHECKBOX, "true", "gzip level 1, as ilastik's 'compressed hdf5'"));
    }

    @Override
    protected void execute(Values values, IjMonitor monitor) throws PixelserveException {
        ImagePlus image = WindowManager.getImage(values.get("image"));
        if (image == null) {
            throw new PixelserveException("No image titled '" + values.get("image") + "' is open");
        }
        ImageArrayWriter writer = new ImageArrayWriter(image, values.get(Hdf5.AXES), monitor);
        WriteDatasetHeader.Builder header = WriteDatasetHeader.newBuilder()
            .setPath(values.get(Hdf5.FILE)).setInternalPath(Hdf5.internal(values.get(Hdf5.DATASET)))
            .setCompressed(values.flag("compressed"));
        Calibration calibration = image.getCalibration();
        ImageLayout layout = writer.layout();
        if (calibration.scaled()) {
            header.putResolution("x", calibration.pixelWidth).putResolution("y", calibration.pixelHeight);
            if (layout.slices > 1) {
                header.putResolution("z", calibration.pixelDepth);
            }
        }
        if (layout.frames > 1 && calibration.frameInterval > 0) {
            header.putResolution("t", calibration.frameInterval);
        }
        String written = connect(monitor).client.writeDataset(header.build(), writer, monitor);
        IJ.showStatus("pixelserve: wrote " + written);
    }
}

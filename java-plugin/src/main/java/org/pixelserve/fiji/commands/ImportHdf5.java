package org.pixelserve.fiji.commands;

import ij.CompositeImage;
import ij.IJ;
import ij.ImagePlus;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.pixelserve.fiji.Connections;
import org.pixelserve.fiji.IjMonitor;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.image.StackAssembler;
import org.pixelserve.v1.DatasetInfo;
import org.pixelserve.v1.ReadDatasetRequest;
import org.pixelserve.v1.ReadDatasetResponse;

/**
 * Plugins &gt; pixelserve &gt; Import HDF5 (pixelserve): a dataset of an HDF5 (or N5, zarr) file,
 * read by the server, as an image with its axes and calibration (no HDF5 library in Fiji).
 */
public final class ImportHdf5 extends PixelserveCommand {
    private Connections.Connected connected;

    @Override
    public String name() {
        return "Import HDF5 (pixelserve)";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(
            Param.required(Hdf5.FILE, Param.Kind.FILE, "the HDF5 file (a path on the server's machine)"),
            Param.openChoice(Hdf5.DATASET, "", "the dataset inside the file, e.g. exported_data (default: the only one)"),
            Param.optional(Hdf5.AXES, Param.Kind.TEXT, "", "the dataset's axes, e.g. zyx (default: stored in the file, else a guess)"));
    }

    @Override
    protected void prepare(IjMonitor monitor) throws PixelserveException {
        connected = connect(monitor);
    }

    @Override
    protected OptionReader.DialogHook dialogHook() {
        return new DatasetDialog(connected.client);
    }

    @Override
    protected void execute(Values values, IjMonitor monitor) throws PixelserveException {
        String file = values.get(Hdf5.FILE);
        String dataset = Hdf5.internal(values.get(Hdf5.DATASET));
        if (dataset.isEmpty()) {
            List<DatasetInfo> found = connected.client.listDatasets(file);
            if (found.size() != 1) {
                List<String> names = new ArrayList<>();
                for (DatasetInfo info : found) {
                    names.add(info.getInternalPath());
                }
                throw new PixelserveException(found.isEmpty() ? file + " holds no dataset"
                    : file + " holds " + found.size() + " datasets: choose one with dataset=[...]: " + String.join(", ", names));
            }
            dataset = found.get(0).getInternalPath();
        }
        ReadDatasetRequest request = ReadDatasetRequest.newBuilder()
            .setPath(Hdf5.datasetPath(file, dataset)).setAxes(values.get(Hdf5.AXES).trim().toLowerCase()).build();
        final StackAssembler[] reader = new StackAssembler[1];
        ReadDatasetResponse first = connected.client.readDataset(request,
            header -> reader[0] = new StackAssembler(header.getHeader()), monitor);
        int mode = reader[0].channels() <= 7 ? IJ.COMPOSITE : IJ.GRAYSCALE;
        ImagePlus image = reader[0].toImage(Hdf5.title(file, dataset), mode);
        image.setCalibration(Hdf5.calibration(first));
        if (image instanceof CompositeImage) {
            ((CompositeImage) image).resetDisplayRanges();
        } else {
            image.resetDisplayRange();
        }
        image.show();
    }
}

package org.pixelserve.fiji.commands;

import ij.measure.ResultsTable;
import java.util.Arrays;
import java.util.List;
import org.pixelserve.fiji.IjMonitor;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.DType;
import org.pixelserve.v1.DatasetInfo;

/**
 * Plugins &gt; pixelserve &gt; List HDF5 Datasets: the datasets of a file, with their axes, shapes
 * and types, in the Results table (a macro reads them with nResults and getResultString).
 */
public final class ListHdf5Datasets extends PixelserveCommand {
    @Override
    public String name() {
        return "List HDF5 Datasets";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(Param.required(Hdf5.FILE, Param.Kind.FILE, "the HDF5, N5 or zarr file (a path on the server's machine)"));
    }

    @Override
    protected void execute(Values values, IjMonitor monitor) throws PixelserveException {
        List<DatasetInfo> datasets = connect(monitor).client.listDatasets(values.get(Hdf5.FILE));
        ResultsTable table = ResultsTable.getResultsTable();
        table.reset();
        for (DatasetInfo info : datasets) {
            table.incrementCounter();
            table.addValue("dataset", info.getInternalPath());
            table.addValue("axes", info.getArray().getAxes());
            StringBuilder shape = new StringBuilder();
            for (long size : info.getArray().getShapeList()) {
                shape.append(shape.length() == 0 ? "" : ",").append(size);
            }
            table.addValue("shape", shape.toString());
            table.addValue("dtype", DType.of(info.getArray()).numpyName());
        }
        table.show("Results");
    }
}

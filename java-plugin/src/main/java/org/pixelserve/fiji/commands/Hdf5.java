package org.pixelserve.fiji.commands;

import ij.measure.Calibration;
import java.io.File;
import java.util.Map;
import org.pixelserve.v1.ReadDatasetResponse;

/** What the three HDF5 commands share: paths, titles and calibration. */
final class Hdf5 {
    static final String FILE = "file";
    static final String DATASET = "dataset";
    static final String AXES = "axes";

    private Hdf5() {
    }

    /** "/data/volume.h5" and "raw/cells" give "/data/volume.h5/raw/cells", the server's dataset path. */
    static String datasetPath(String file, String dataset) {
        String internal = internal(dataset);
        return internal.isEmpty() ? file : file.replaceAll("/+$", "") + "/" + internal;
    }

    /** "/exported_data" and "exported_data" name the same dataset. */
    static String internal(String dataset) {
        return dataset == null ? "" : dataset.trim().replaceAll("^/+", "");
    }

    /** "volume.h5" and "raw/cells" give "volume-raw-cells" (as the command line's {nickname}). */
    static String title(String file, String dataset) {
        String name = new File(file).getName().replaceFirst("\\.(h5|hdf5|hdf|n5|zarr)$", "");
        String internal = internal(dataset);
        return internal.isEmpty() ? name : name + "-" + internal.replace('/', '-');
    }

    /** ImageJ's calibration from the file's pixel sizes and units. */
    static Calibration calibration(ReadDatasetResponse first) {
        Calibration calibration = new Calibration();
        Map<String, Double> resolution = first.getResolutionMap();
        Map<String, String> units = first.getUnitsMap();
        if (resolution.containsKey("x")) {
            calibration.pixelWidth = resolution.get("x");
        }
        if (resolution.containsKey("y")) {
            calibration.pixelHeight = resolution.get("y");
        }
        if (resolution.containsKey("z")) {
            calibration.pixelDepth = resolution.get("z");
        }
        if (resolution.containsKey("t")) {
            calibration.frameInterval = resolution.get("t");
        }
        String unit = units.containsKey("x") ? units.get("x") : units.get("y");
        if (unit != null && !unit.isEmpty()) {
            calibration.setUnit(unit);
        } else if (calibration.scaled()) {
            calibration.setUnit("pixel");
        }
        if (units.containsKey("t")) {
            calibration.setTimeUnit(units.get("t"));
        }
        return calibration;
    }
}

package org.pixelserve.fiji.commands;

import ij.gui.GenericDialog;
import java.awt.Choice;
import java.awt.Component;
import java.awt.EventQueue;
import java.awt.TextField;
import java.util.List;
import java.util.Map;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.PixelserveClient;
import org.pixelserve.v1.DatasetInfo;

/** Fills the dataset list of Import HDF5 with the datasets the server finds in the chosen file. */
final class DatasetDialog implements OptionReader.DialogHook, AutoCloseable {
    private final PixelserveClient client;
    private final TypingLookup lookup = new TypingLookup("pixelserve-dataset-dialog", this::list);
    private TextField file;
    private Choice datasets;

    DatasetDialog(PixelserveClient client) {
        this.client = client;
    }

    @Override
    public void customize(GenericDialog dialog, Map<String, Component> fields) {
        file = (TextField) fields.get(Hdf5.FILE);
        datasets = (Choice) fields.get(Hdf5.DATASET);
        // A plain text listener: a GenericDialog's DialogListener would take over recording.
        file.addTextListener(event -> lookup.changed(file.getText().trim()));
        lookup.changed(file.getText().trim());
    }

    private void list(String path) {
        List<DatasetInfo> found;
        try {
            found = client.listDatasets(path);
        } catch (PixelserveException unreadable) {
            return;  // not (yet) a readable file: the list stays as it is
        }
        EventQueue.invokeLater(() -> {
            if (!path.equals(file.getText().trim())) {
                return;
            }
            String selected = datasets.getSelectedItem();
            datasets.removeAll();
            for (DatasetInfo info : found) {
                datasets.add(info.getInternalPath());
            }
            if (selected != null) {
                datasets.select(selected);
            }
        });
    }

    @Override
    public void close() {
        lookup.close();
    }
}

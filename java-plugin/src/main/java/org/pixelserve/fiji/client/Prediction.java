package org.pixelserve.fiji.client;

import java.util.Collections;
import java.util.List;
import org.pixelserve.v1.ResultHeader;

/** What a prediction sent: the image's header (its bytes went to the image reader), and the tables. */
public final class Prediction {
    /** The image's ResultHeader; null when only tables were asked for (table_only). */
    public final ResultHeader image;
    public final List<Table> tables;

    Prediction(ResultHeader image, List<Table> tables) {
        this.image = image;
        this.tables = Collections.unmodifiableList(tables);
    }
}

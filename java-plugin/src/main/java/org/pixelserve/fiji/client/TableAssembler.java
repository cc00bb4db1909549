package org.pixelserve.fiji.client;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.pixelserve.v1.TableColumn;
import org.pixelserve.v1.TableHeader;

/**
 * Builds a {@link Table} from its TableHeader and the chunks of its columns, which arrive
 * column after column with array_index = the column's index; text columns come as int32
 * codes into the column's categories. Tables are small: each column is kept as bytes until
 * it is complete.
 */
public final class TableAssembler {
    private final TableHeader header;
    private final int rows;
    private final DType[] dtypes;
    private final byte[][] bytes;
    private final int[] filled;
    private int column;

    public TableAssembler(TableHeader header) throws ProtocolException {
        this.header = header;
        if (header.getRows() < 0 || header.getRows() > Integer.MAX_VALUE / 8) {
            throw new ProtocolException("The table '" + header.getName() + "' announces " + header.getRows()
                + " rows, more than a Results table can hold");
        }
        rows = (int) header.getRows();
        int count = header.getColumnsCount();
        dtypes = new DType[count];
        bytes = new byte[count][];
        filled = new int[count];
        for (int c = 0; c < count; c++) {
            TableColumn described = header.getColumns(c);
            dtypes[c] = DType.of(described.getDtype());
            if (described.getText() && dtypes[c] != DType.INT32) {
                throw new ProtocolException("The text column '" + described.getName() + "' of the table '" + header.getName()
                    + "' arrives as " + dtypes[c].numpyName() + ": the protocol sends text as int32 codes");
            }
            bytes[c] = new byte[rows * dtypes[c].itemSize];
        }
    }

    /** The next bytes of column `index`; columns arrive one after another, each whole. */
    public void accept(int index, ByteBuffer data) throws ProtocolException {
        while (column < bytes.length && filled[column] == bytes[column].length) {
            column++;
        }
        if (index != column) {
            throw new ProtocolException("Bytes of column " + index + " of the table '" + header.getName() + "' arrived while "
                + (column < bytes.length ? "column " + column + " was incomplete" : "every column was complete")
                + ": the server must send the columns one after another");
        }
        if (data.remaining() > bytes[column].length - filled[column]) {
            throw new ProtocolException("The server sent more bytes for column '" + header.getColumns(column).getName()
                + "' of the table '" + header.getName() + "' than its " + rows + " rows hold");
        }
        int length = data.remaining();
        data.get(bytes[column], filled[column], length);
        filled[column] += length;
    }

    /** The table, once every column has arrived whole. */
    public Table finish() throws ProtocolException {
        List<Table.Column> columns = new ArrayList<>();
        for (int c = 0; c < bytes.length; c++) {
            TableColumn described = header.getColumns(c);
            if (filled[c] != bytes[c].length) {
                throw new ProtocolException("The column '" + described.getName() + "' of the table '" + header.getName()
                    + "' ended after " + filled[c] + " of " + bytes[c].length + " bytes: the server stopped sending early");
            }
            ByteBuffer values = ByteBuffer.wrap(bytes[c]).order(ByteOrder.LITTLE_ENDIAN);
            if (described.getText()) {
                String[] texts = new String[rows];
                for (int row = 0; row < rows; row++) {
                    int code = values.getInt();
                    if (code < 0 || code >= described.getCategoriesCount()) {
                        throw new ProtocolException("Row " + row + " of the text column '" + described.getName() + "' refers to text "
                            + code + " of " + described.getCategoriesCount());
                    }
                    texts[row] = described.getCategories(code);
                }
                columns.add(new Table.Column(described.getName(), null, texts));
            } else {
                double[] numbers = new double[rows];
                for (int row = 0; row < rows; row++) {
                    numbers[row] = dtypes[c].read(values);
                }
                columns.add(new Table.Column(described.getName(), numbers, null));
            }
        }
        return new Table(header.getName(), rows, columns, header.getPerRun());
    }
}

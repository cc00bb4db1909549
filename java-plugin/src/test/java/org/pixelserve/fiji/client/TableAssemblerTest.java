package org.pixelserve.fiji.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.pixelserve.v1.DType;
import org.pixelserve.v1.TableColumn;
import org.pixelserve.v1.TableHeader;

/** Tables as the protocol sends them: column after column, text as codes; what breaks that is refused. */
class TableAssemblerTest {
    static TableHeader header(int rows) {
        return TableHeader.newBuilder().setName("objects").setRows(rows)
            .addColumns(TableColumn.newBuilder().setName("count").setDtype(DType.DTYPE_UINT16))
            .addColumns(TableColumn.newBuilder().setName("kind").setDtype(DType.DTYPE_INT32).setText(true).addCategories("a").addCategories("b"))
            .build();
    }

    static ByteBuffer little(int capacity) {
        return ByteBuffer.allocate(capacity).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void columnsArriveOneAfterAnother() throws ProtocolException {
        TableAssembler assembler = new TableAssembler(header(2));
        ByteBuffer counts = little(4).putShort((short) 65535).putShort((short) 7);
        counts.flip();
        assembler.accept(0, (ByteBuffer) counts.duplicate().limit(1));  // a value split across chunks
        assembler.accept(0, (ByteBuffer) counts.duplicate().position(1));
        ByteBuffer kinds = little(8).putInt(1).putInt(0);
        kinds.flip();
        assembler.accept(1, kinds);
        Table table = assembler.finish();
        assertArrayEquals(new double[] {65535, 7}, table.columns.get(0).numbers);
        assertArrayEquals(new String[] {"b", "a"}, table.columns.get(1).texts);
    }

    @Test
    void outOfOrderMissingOrExtraBytesAreRefused() throws ProtocolException {
        TableAssembler early = new TableAssembler(header(2));
        ProtocolException order = assertThrows(ProtocolException.class, () -> early.accept(1, little(8)));
        assertTrue(order.getMessage().contains("column 0 was incomplete"), order.getMessage());
        TableAssembler extra = new TableAssembler(header(2));
        assertThrows(ProtocolException.class, () -> extra.accept(0, little(6)));
        TableAssembler missing = new TableAssembler(header(2));
        missing.accept(0, little(4));
        ProtocolException stopped = assertThrows(ProtocolException.class, missing::finish);
        assertTrue(stopped.getMessage().contains("stopped sending early"), stopped.getMessage());
        TableAssembler badCode = new TableAssembler(header(1));
        badCode.accept(0, little(2));
        ByteBuffer code = little(4).putInt(5);
        code.flip();
        badCode.accept(1, code);
        assertThrows(ProtocolException.class, badCode::finish);
    }
}

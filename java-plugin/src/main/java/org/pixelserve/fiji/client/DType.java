package org.pixelserve.fiji.client;

import org.pixelserve.v1.ArrayHeader;

/** Element types of the protocol (arrays.proto), their sizes, and the ImageJ type each becomes. */
public enum DType {
    UINT8(org.pixelserve.v1.DType.DTYPE_UINT8, 1, 8),
    UINT16(org.pixelserve.v1.DType.DTYPE_UINT16, 2, 16),
    UINT32(org.pixelserve.v1.DType.DTYPE_UINT32, 4, 32),
    UINT64(org.pixelserve.v1.DType.DTYPE_UINT64, 8, 32),
    INT8(org.pixelserve.v1.DType.DTYPE_INT8, 1, 32),
    INT16(org.pixelserve.v1.DType.DTYPE_INT16, 2, 32),
    INT32(org.pixelserve.v1.DType.DTYPE_INT32, 4, 32),
    INT64(org.pixelserve.v1.DType.DTYPE_INT64, 8, 32),
    FLOAT32(org.pixelserve.v1.DType.DTYPE_FLOAT32, 4, 32),
    FLOAT64(org.pixelserve.v1.DType.DTYPE_FLOAT64, 8, 32);

    public final org.pixelserve.v1.DType proto;
    public final int itemSize;
    /** ImageJ bit depth of an image of this type: 8 and 16 bits as they are, all else 32-bit float. */
    public final int imageJBitDepth;

    DType(org.pixelserve.v1.DType proto, int itemSize, int imageJBitDepth) {
        this.proto = proto;
        this.itemSize = itemSize;
        this.imageJBitDepth = imageJBitDepth;
    }

    /** True when converting to 32-bit float may round values (integers beyond 2^24, float64). */
    public boolean mayLosePrecision() {
        return this == UINT32 || this == INT32 || this == UINT64 || this == INT64 || this == FLOAT64;
    }

    /** The next value of this type in `data` (little-endian), as a double: unsigned types as their unsigned value. */
    public double read(java.nio.ByteBuffer data) {
        switch (this) {
            case UINT8: return data.get() & 0xff;
            case UINT16: return data.getShort() & 0xffff;
            case UINT32: return data.getInt() & 0xffffffffL;
            case UINT64: {
                long value = data.getLong();
                return value >= 0 ? value : (double) (value >>> 1) * 2.0 + (value & 1);
            }
            case INT8: return data.get();
            case INT16: return data.getShort();
            case INT32: return data.getInt();
            case INT64: return data.getLong();
            case FLOAT32: return data.getFloat();
            default: return data.getDouble();
        }
    }

    /** numpy's name, as ExportSettings.export_dtype and error messages use it. */
    public String numpyName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    public static DType of(org.pixelserve.v1.DType proto) throws ProtocolException {
        for (DType type : values()) {
            if (type.proto == proto) {
                return type;
            }
        }
        throw new ProtocolException("The server sent an array of unknown type " + proto
            + ": update the pixelserve Fiji plugin to match the server");
    }

    public static DType of(ArrayHeader header) throws ProtocolException {
        return of(header.getDtype());
    }

    /** The type of an ImageJ image (8-bit and RGB: uint8, 16-bit: uint16, 32-bit: float32). */
    public static DType ofBitDepth(int bitDepth) {
        switch (bitDepth) {
            case 8:
            case 24:
                return UINT8;
            case 16:
                return UINT16;
            case 32:
                return FLOAT32;
            default:
                throw new IllegalArgumentException("no ImageJ image has " + bitDepth + " bits");
        }
    }
}

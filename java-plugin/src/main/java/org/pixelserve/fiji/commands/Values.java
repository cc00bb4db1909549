package org.pixelserve.fiji.commands;

import java.util.LinkedHashMap;
import java.util.Map;

/** The options a command got, from its dialog or its macro, every key filled. */
public final class Values {
    private final Map<String, String> values;

    Values(Map<String, String> values) {
        this.values = values;
    }

    /** These values and those of `more`. */
    Values with(Values more) {
        Map<String, String> all = new LinkedHashMap<>(values);
        all.putAll(more.values);
        return new Values(all);
    }

    public String get(String key) {
        String value = values.get(key);
        return value == null ? "" : value;
    }

    /** The title of an optional image, or null for None. */
    public String image(String key) {
        String value = get(key);
        return value.isEmpty() || value.equalsIgnoreCase(Param.NONE) ? null : value;
    }

    public boolean flag(String key) {
        return Boolean.parseBoolean(get(key));
    }

    public int number(String key) {
        return Integer.parseInt(get(key));
    }

    @Override
    public String toString() {
        return values.toString();
    }
}

package org.pixelserve.fiji.commands;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.pixelserve.fiji.PixelserveException;

/**
 * Reads the options string of run("Command", "key=value ...") as ImageJ writes it: values in
 * [brackets] or 'quotes' may hold spaces, a key alone is a checkbox that is on.
 */
public final class MacroOptions {
    /** The value of a key given alone (a checkbox). */
    public static final String FLAG = "\u0000on";

    private MacroOptions() {
    }

    public static Map<String, String> parse(String options) throws PixelserveException {
        Map<String, String> values = new LinkedHashMap<>();
        int i = 0;
        int n = options.length();
        while (i < n) {
            while (i < n && Character.isWhitespace(options.charAt(i))) {
                i++;
            }
            if (i >= n) {
                break;
            }
            int start = i;
            while (i < n && options.charAt(i) != '=' && !Character.isWhitespace(options.charAt(i))) {
                i++;
            }
            String key = options.substring(start, i).toLowerCase(Locale.ROOT);
            String value;
            if (i < n && options.charAt(i) == '=') {
                i++;
                if (i < n && options.charAt(i) == '[') {
                    int depth = 0;
                    int open = i;
                    for (; i < n; i++) {
                        char ch = options.charAt(i);
                        if (ch == '[') {
                            depth++;
                        } else if (ch == ']' && --depth == 0) {
                            break;
                        }
                    }
                    if (i >= n) {
                        throw new PixelserveException("The value of '" + key + "' opens a [ that is never closed: write "
                            + key + "=[...]");
                    }
                    value = options.substring(open + 1, i);
                    i++;
                } else if (i < n && options.charAt(i) == '\'') {
                    int close = options.indexOf('\'', i + 1);
                    if (close < 0) {
                        throw new PixelserveException("The value of '" + key + "' opens a ' that is never closed");
                    }
                    value = options.substring(i + 1, close);
                    i = close + 1;
                } else {
                    int begin = i;
                    while (i < n && !Character.isWhitespace(options.charAt(i))) {
                        i++;
                    }
                    value = options.substring(begin, i);
                }
            } else {
                value = FLAG;
            }
            if (key.isEmpty()) {
                throw new PixelserveException("The options have a value without a key near '" + options.substring(start)
                    + "': write key=value");
            }
            values.put(key, value);
        }
        return values;
    }
}

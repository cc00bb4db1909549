package org.pixelserve.fiji.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.PixelserveException;

class LocalServerTest {
    @Test
    void commandsSplitLikeAShell() {
        assertEquals(Arrays.asList("pixelserve", "serve"), LocalServer.split(" pixelserve   serve "));
        assertEquals(Arrays.asList("/opt/my env/bin/pixelserve", "serve", "--workers", "1"),
            LocalServer.split("\"/opt/my env/bin/pixelserve\" serve --workers 1"));
        assertEquals(Arrays.asList("a b", "c"), LocalServer.split("'a b' c"));
    }

    @Test
    void aMissingProgramIsExplained() {
        PixelserveException error = assertThrows(PixelserveException.class,
            () -> LocalServer.start("/no/such/pixelserve serve", 0, "", JobMonitor.NONE));
        assertTrue(error.getMessage().contains("Could not start a local pixelserve server"), error.getMessage());
        assertTrue(error.getMessage().contains("Server Settings"), error.getMessage());
    }

    @Test
    void aServerThatDiesAtOnceShowsItsOutput() {
        PixelserveException error = assertThrows(PixelserveException.class,
            () -> LocalServer.start("sh -c 'echo no such option >&2; exit 3'", 0, "", JobMonitor.NONE));
        assertTrue(error.getMessage().contains("exit code 3"), error.getMessage());
        assertTrue(error.getMessage().contains("no such option"), error.getMessage());
    }
}

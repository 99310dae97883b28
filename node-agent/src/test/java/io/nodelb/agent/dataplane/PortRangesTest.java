package io.nodelb.agent.dataplane;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PortRangesTest {

    @ParameterizedTest(name = "''{0}'' covers 61000-65535: {1}")
    @CsvSource(delimiter = '|', textBlock = """
            ''                          | false
            61000-65535                 | true
            8080,61000-65535            | true
            1024-65535                  | true
            61000-63000,63001-65535     | true
            63001-65535,61000-63000     | true
            61000-63000,63002-65535     | false
            61000-65534                 | false
            61001-65535                 | false
            8080                        | false
            """)
    void coversOnlyWhenEveryPortIsListed(String list, boolean covered) {
        assertThat(PortRanges.covers(list, 61000, 65535)).isEqualTo(covered);
    }

    @ParameterizedTest(name = "FullNAT ports {0}-{1}")
    @CsvSource({"0, 100", "200, 100", "61000, 65536"})
    void aFullNatPortRangeOutside1To65535IsRefused(int min, int max) {
        assertThatThrownBy(() -> new DesiredState.Limits(4093, 64, 16, 256, min, max))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("FullNAT port range " + min + "-" + max + " is not within 1-65535");
    }
}

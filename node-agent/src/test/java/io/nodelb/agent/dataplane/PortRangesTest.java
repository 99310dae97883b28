package io.nodelb.agent.dataplane;

import static org.assertj.core.api.Assertions.assertThat;

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
}

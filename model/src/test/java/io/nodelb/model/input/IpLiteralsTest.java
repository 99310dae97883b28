package io.nodelb.model.input;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class IpLiteralsTest {

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
    "10.1.2.11, 10.1.2.11",
    "fd00:1:2:0:0:0:0:11, fd00:1:2::11",
    "FD00:0001:0002::0011, fd00:1:2::11",
    "::, ::",
    "::1, ::1",
    "fe80::, fe80::",
    "2001:db8:0:1:1:1:1:1, 2001:db8:0:1:1:1:1:1",
    "2001:db8:0:0:1:0:0:1, 2001:db8::1:0:0:1",
    "2001:0:0:1:0:0:0:1, 2001:0:0:1::1",
    "1:0:0:2:0:0:3:4, 1::2:0:0:3:4",
  })
  void formatsTheShortFormOfRfc5952(String literal, String expected) {
    assertThat(IpLiterals.format(IpLiterals.parse(literal))).isEqualTo(expected);
  }
}

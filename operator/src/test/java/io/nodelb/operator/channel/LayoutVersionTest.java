package io.nodelb.operator.channel;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The operator refuses agents of another layout: its own must follow the one ABI header, or it refuses every agent. */
class LayoutVersionTest {
  @Test
  void theOperatorServesTheLayoutOfTheAbiHeader() throws Exception {
    String header = Files.readString(Path.of("../bpf/include/nodelb_abi.h"));
    Matcher m = Pattern.compile("#define NLB_LAYOUT_VERSION (\\d+)").matcher(header);
    assertThat(m.find()).as("NLB_LAYOUT_VERSION in nodelb_abi.h").isTrue();
    assertThat(SnapshotServer.LAYOUT_VERSION).isEqualTo(Integer.parseInt(m.group(1)));
  }
}

package io.nodelb.agent.lab;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Privileged;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link LabStreamAnswers} spliced in the kernel ({@code --stream-splice}): the agent copies next to nothing. */
@Privileged
class LabStreamSpliceIT extends LabStreamAnswers {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(3);

    LabStreamSpliceIT() {
        super(LAB, 19_600, "--stream-splice");
    }

    @Override
    void checkCopied(double copied, long answered) {
        assertThat(copied).as("of %d bytes answered, those copied by the agent", answered).isLessThan(120 * 100);
    }
}

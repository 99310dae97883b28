package io.nodelb.agent.lab;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.testing.Privileged;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link LabStreamAnswers} relayed by the agent's relay loops (the default): every answered byte copied once. */
@Privileged
class LabStreamRelayIT extends LabStreamAnswers {
    @RegisterExtension
    static final Lab LAB = Lab.withBackends(3);

    LabStreamRelayIT() {
        super(LAB, 19_700);
    }

    @Override
    void checkCopied(double copied, long answered) {
        // The requests reached the backend with the opening, sent before the relay: not counted.
        assertThat(copied).as("bytes copied by the agent").isEqualTo((double) answered);
    }
}

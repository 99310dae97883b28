package io.nodelb.agent.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Marks a test class that needs root and a real kernel with BPF (the BPF unit, lab
 * and end-to-end tiers). Where that is missing the class is skipped, except under
 * {@code CI=true}, where a privileged test that cannot run is a failure.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(PrivilegedCondition.class)
public @interface Privileged {}

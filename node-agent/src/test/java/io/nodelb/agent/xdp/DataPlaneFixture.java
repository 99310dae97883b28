package io.nodelb.agent.xdp;

import io.nodelb.dataplane.v1alpha1.NodeSnapshot;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;

/**
 * One real data plane per test class, in its own pin directory; every test starts
 * from the class's snapshot with an empty conntrack. Applying the same snapshot
 * again writes nothing, so starting clean costs only the conntrack sweep.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class DataPlaneFixture {

    protected LoadedDataPlane dataPlane;
    private NodeSnapshot snapshot;

    /** The data plane this class runs against: the agent's defaults unless it needs other limits. */
    LoadedDataPlane load() {
        return LoadedDataPlane.load();
    }

    /** What the maps hold at the start of each test. */
    NodeSnapshot snapshot() {
        return Snapshots.standard();
    }

    @BeforeAll
    final void loadDataPlane() {
        dataPlane = load();
        snapshot = snapshot();
    }

    @AfterAll
    final void closeDataPlane() {
        if (dataPlane != null) {
            dataPlane.close();
        }
    }

    @BeforeEach
    final void startWithoutFlows() {
        dataPlane.apply(snapshot);
        dataPlane.clearConntrack();
    }
}
